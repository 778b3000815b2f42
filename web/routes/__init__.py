"""The REST resources, one module each; :data:`routers` is what ``create_app`` includes."""

from __future__ import annotations

from web.routes import devices, games, health, quizzes, teams, tokens, users

__all__ = ["routers"]

routers = (quizzes.router, games.router, teams.router, devices.router, users.router, tokens.router, health.router)
"""Every resource router, in the order the OpenAPI document lists them."""
