"""What the auth layer keeps per app (``app.state.auth``) and where it finds the database (``app.state.db_sessions``).

The app's lifespan owns the database engine and sets ``app.state.db_sessions`` to
``hub.db.engine.session_factory(engine)``; :func:`web.auth.install_auth` sets ``app.state.auth`` when the app is
built. Both are read per request through the helpers below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from hub.db.repository import Repository

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import async_sessionmaker
    from sqlmodel.ext.asyncio.session import AsyncSession
    from starlette.requests import HTTPConnection

    from hub.settings import Settings
    from web.auth.oidc import OIDCLogin
    from web.auth.ratelimit import Limit, MemoryRateLimiter, RedisRateLimiter

__all__ = ["AuthRuntime", "get_repository", "get_runtime", "get_sessions"]


@dataclass(slots=True)
class AuthRuntime:
    """The auth layer's per-app objects."""

    settings: Settings
    limiter: MemoryRateLimiter | RedisRateLimiter
    login_limit: Limit
    join_limit: Limit
    oidc: OIDCLogin | None

    async def aclose(self) -> None:
        """Release the rate limiter's connections (call from the lifespan's shutdown)."""
        await self.limiter.aclose()


def get_runtime(conn: HTTPConnection) -> AuthRuntime:
    """The app's :class:`AuthRuntime`; a RuntimeError (our bug) if :func:`web.auth.install_auth` was not called."""
    runtime = getattr(conn.app.state, "auth", None)
    if runtime is None:
        raise RuntimeError("web.auth.install_auth(app, settings) was not called while building the app")
    return runtime  # type: ignore[no-any-return]


def get_sessions(conn: HTTPConnection) -> async_sessionmaker[AsyncSession]:
    """The app's database sessions; a RuntimeError (our bug) if the lifespan did not open the database."""
    sessions = getattr(conn.app.state, "db_sessions", None)
    if sessions is None:
        raise RuntimeError("app.state.db_sessions is not set: the app's lifespan must open the database first")
    return sessions  # type: ignore[no-any-return]


def get_repository(conn: HTTPConnection) -> Repository:
    """A :class:`hub.db.repository.Repository` on the app's database."""
    return Repository(get_sessions(conn))
