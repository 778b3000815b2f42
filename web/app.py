"""The FastAPI application factory.

``create_app(settings)`` builds a fresh app; its lifespan owns every connection the app needs (MQTT client, fan-out
backend, database engine), so several apps can live side by side in one test process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import FastAPI

from web.auth import install_auth

if TYPE_CHECKING:
    from hub.settings import Settings

__all__ = ["create_app"]

VERSION = "0.1.0"


def create_app(settings: Settings) -> FastAPI:
    """Build the web app for these settings."""
    app = FastAPI(
        title="Quizhub",
        version=VERSION,
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    app.state.settings = settings
    install_auth(app, settings)  # session cookie, /api/auth routes, app.state.auth (needs app.state.db_sessions)

    @app.get("/api/health", tags=["health"])
    async def health() -> dict[str, str]:
        """Liveness: the process answers. Readiness (broker, database) is `/api/ready`."""
        return {"status": "ok", "version": VERSION}

    return app
