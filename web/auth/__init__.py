"""Authentication and roles for the web app: who is calling, and may they.

Build time: ``install_auth(app, settings)`` adds the session cookie middleware, the ``/api/auth`` routes (password
login, logout, me, first-run setup, OIDC) and ``app.state.auth``. Runtime: the app's lifespan sets
``app.state.db_sessions`` (see :mod:`web.auth.runtime`) and calls ``await app.state.auth.aclose()`` on shutdown.
Routes declare a dependency from :mod:`web.auth.deps` (``AdminDep``, ``HostDep``, ``TeamDep``...). See docs/auth.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from web.auth import oidc, routes
from web.auth.deps import (
    AdminDep,
    CurrentPrincipal,
    DisplayDep,
    HostDep,
    IntegratorDep,
    OptionalPrincipal,
    ReaderDep,
    TeamDep,
    UserDep,
    authenticate_connection,
    require_game_access,
    require_roles,
)
from web.auth.keys import load_secret_key
from web.auth.limits import check_join_rate
from web.auth.principal import AuthMethod, Principal, PrincipalKind, Role
from web.auth.ratelimit import Limit, create_rate_limiter
from web.auth.runtime import AuthRuntime
from web.auth.sessions import add_session_middleware
from web.auth.setup import first_run_link
from web.auth.tokens import issue_display_token, issue_integrator_token, issue_team_token
from web.auth.users import add_user, create_user

if TYPE_CHECKING:
    from fastapi import FastAPI

    from hub.settings import Settings

__all__ = [
    "AdminDep",
    "AuthMethod",
    "AuthRuntime",
    "CurrentPrincipal",
    "DisplayDep",
    "HostDep",
    "IntegratorDep",
    "OptionalPrincipal",
    "Principal",
    "PrincipalKind",
    "ReaderDep",
    "Role",
    "TeamDep",
    "UserDep",
    "add_user",
    "authenticate_connection",
    "check_join_rate",
    "create_user",
    "first_run_link",
    "install_auth",
    "issue_display_token",
    "issue_integrator_token",
    "issue_team_token",
    "require_game_access",
    "require_roles",
]


def install_auth(app: FastAPI, settings: Settings) -> AuthRuntime:
    """Add sessions, the auth routes and ``app.state.auth`` to ``app``; call once while building it."""
    runtime = AuthRuntime(
        settings=settings,
        limiter=create_rate_limiter(settings.fanout_url),
        login_limit=Limit(settings.login_rate_per_minute, burst=settings.login_rate_per_minute),
        join_limit=Limit(settings.join_rate_per_minute, burst=settings.join_rate_per_minute),
        oidc=oidc.OIDCLogin(settings) if settings.oidc_issuer else None,
    )
    app.state.auth = runtime
    add_session_middleware(app, settings, load_secret_key(settings))
    app.include_router(routes.router)
    app.include_router(oidc.router)
    return runtime
