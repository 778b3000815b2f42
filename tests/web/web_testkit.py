"""Helpers for the web tests (a module of its own, so test files can import them by a unique name)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx
from fastapi import APIRouter, FastAPI, Request

from web.app import create_app
from web.auth import AdminDep, CurrentPrincipal, DisplayDep, HostDep, ReaderDep, TeamDep, check_join_rate
from web.auth.deps import require_game_access

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import async_sessionmaker
    from sqlmodel.ext.asyncio.session import AsyncSession

    from hub.settings import Settings

__all__ = ["OIDC_CLIENT_ID", "OIDC_CLIENT_SECRET", "OIDC_REDIRECT_URI", "OIDC_USERS", "build_app", "client_for"]

OIDC_CLIENT_ID = "quizhub-test"
OIDC_CLIENT_SECRET = "quizhub-test-secret-not-for-production"
OIDC_REDIRECT_URI = "http://testserver/api/auth/oidc/callback"
# Accounts of the test provider: login name → groups claim.
OIDC_USERS = {
    "olivia": ["staff", "quizhub-admins"],
    "quentin": ["quizhub-quizmasters"],
    "nora": ["staff"],
}


def build_app(settings: Settings, db: async_sessionmaker[AsyncSession]) -> FastAPI:
    """The real app plus a few probe routes declaring each role dependency (what later routes will do)."""
    app = create_app(settings)
    app.state.db_sessions = db  # what the app's lifespan does with its engine
    probe = APIRouter(prefix="/probe")

    @probe.get("/anyone")
    async def anyone(who: CurrentPrincipal) -> dict[str, str]:
        return {"role": who.role.value}

    @probe.post("/admin")
    async def admin(who: AdminDep) -> dict[str, str]:
        return {"role": who.role.value}

    @probe.post("/host")
    async def host(who: HostDep) -> dict[str, str]:
        return {"role": who.role.value}

    @probe.get("/team")
    async def team(who: TeamDep) -> dict[str, str | None]:
        return {"role": who.role.value, "game": who.game_id}

    @probe.get("/display/{game_id}")
    async def display(game_id: str, who: DisplayDep) -> dict[str, str | None]:
        require_game_access(who, game_id)
        return {"role": who.role.value, "game": who.game_id}

    @probe.get("/read")
    async def read(who: ReaderDep) -> dict[str, str]:
        return {"role": who.role.value}

    @probe.post("/join")
    async def join(request: Request, name: str) -> dict[str, str]:
        await check_join_rate(request, name)
        return {"joined": name}

    app.include_router(probe)
    return app


def client_for(app: FastAPI, **kwargs: Any) -> httpx.AsyncClient:
    """An HTTP client talking to ``app`` in-process as http://testserver (other hosts go to the network)."""
    transport = httpx.ASGITransport(app=app)
    return httpx.AsyncClient(
        mounts={"http://testserver": transport}, base_url="http://testserver", timeout=10.0, **kwargs
    )
