"""The FastAPI application factory.

``create_app(settings)`` builds a fresh app; its lifespan owns every connection the app needs (MQTT client, fan-out
backend, database engine), so several apps can live side by side in one test process.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from fastapi import FastAPI

from hub.db import Repository, create_engine, migrate, session_factory
from web import ws
from web.auth import install_auth
from web.errors import install_validation_errors
from web.metrics import install_metrics
from web.routes import routers
from web.routes.pages import install_pages

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from hub.settings import Settings

__all__ = ["create_app"]

VERSION = "0.1.0"


def create_app(settings: Settings) -> FastAPI:
    """Build the web app for these settings."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings.resolved_db_url())
        await migrate(engine)
        app.state.engine = engine
        app.state.db_sessions = session_factory(engine)
        app.state.repo = Repository(app.state.db_sessions)
        try:
            async with ws.open_bridge(app, settings):  # fan-out, hub client, /ws feeds (web/ws.py)
                yield
        finally:
            await app.state.auth.aclose()
            await engine.dispose()

    app = FastAPI(
        title="Quizhub",
        version=VERSION,
        docs_url="/api/docs",
        openapi_url="/api/openapi.json",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_validation_errors(app)  # 422 bodies as sentences per field, never echoing the input (web/errors.py)
    install_auth(app, settings)  # session cookie, /api/auth routes, app.state.auth (needs app.state.db_sessions)
    app.include_router(ws.router)  # /ws and POST /api/ws/ticket
    for router in routers:  # quizzes, games, teams, devices, users, tokens, /api/ready (web/routes/)
        app.include_router(router)
    install_pages(app)  # /, /screen, /play, /join, /setup and /static/ (web/routes/pages.py, web/static/)
    install_metrics(app)  # GET /metrics, HTTP counts and latency per route, open sockets (web/metrics.py)

    @app.get("/api/health", tags=["health"])
    async def health() -> dict[str, str]:
        """Liveness: the process answers. Readiness (broker, database) is `/api/ready`."""
        return {"status": "ok", "version": VERSION}

    return app
