"""FastAPI dependencies that authenticate the caller and check its role; every route declares one.

    @router.post("/games")
    async def create_game(host: HostDep, ...) -> GamePublic: ...

Credentials, in order: an ``Authorization: Bearer`` header (team, display and integrator tokens; a bad one is
refused, never ignored in favour of a cookie), else the session cookie (people). A token in the query string is
refused outright: URLs end up in logs and browser history. Cookie-authenticated unsafe requests must pass the CSRF
check (:mod:`web.auth.csrf`). The dependencies take a ``HTTPConnection``, so they also work on WebSocket routes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Final

from fastapi import Depends, HTTPException, status
from starlette.requests import HTTPConnection  # noqa: TC002 - FastAPI resolves annotations at runtime

from hub.db.models import UserRole
from web.auth.csrf import check_csrf
from web.auth.principal import AuthMethod, Principal, PrincipalKind, Role
from web.auth.runtime import get_repository, get_runtime, get_sessions
from web.auth.sessions import end_session, session_user_id, touch
from web.auth.tokens import principal_for_token

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = [
    "AdminDep",
    "CurrentPrincipal",
    "DisplayDep",
    "HostDep",
    "IntegratorDep",
    "OptionalPrincipal",
    "ReaderDep",
    "TeamDep",
    "UserDep",
    "authenticate_connection",
    "current_principal",
    "optional_principal",
    "require_game_access",
    "require_roles",
]

_QUERY_TOKEN_NAMES: Final = ("access_token", "token", "api_key")
_WWW_AUTHENTICATE: Final = {"WWW-Authenticate": 'Bearer realm="quizhub"'}


def _unauthorized(sentence: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, sentence, headers=_WWW_AUTHENTICATE)


async def authenticate_connection(conn: HTTPConnection) -> Principal | None:
    """The caller of this HTTP request or WebSocket, or None when it sent no credential.

    Raises 400 for a token in the URL and 401 for a bad bearer token; does no CSRF check (see
    :func:`optional_principal`). The WebSocket bridge can call this directly.
    """
    if any(name in conn.query_params for name in _QUERY_TOKEN_NAMES):
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            "Tokens are never accepted in the URL, where logs and browser history keep them; send the token in an "
            "'Authorization: Bearer' header (WebSockets: use the session cookie or a one-use ticket).",
        )
    header = conn.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized("Only 'Authorization: Bearer <token>' is accepted here.")
        principal = await principal_for_token(get_sessions(conn), token.strip())
        if principal is None:
            raise _unauthorized(
                "This bearer token is unknown or revoked; a team rejoins with the token it got when joining, and "
                "an admin can issue a new display or API token."
            )
        return principal
    user_id = session_user_id(conn)
    if user_id is None:
        return None
    user = await get_repository(conn).get_user(user_id)
    if user is None or user.id is None:
        end_session(conn)  # the account was deleted: forget it, and the cookie with it
        return None
    touch(conn)
    role = Role.ADMIN if user.role == UserRole.ADMIN else Role.QUIZMASTER
    return Principal(PrincipalKind.USER, str(user.id), user.name, role, AuthMethod.SESSION)


async def optional_principal(conn: HTTPConnection) -> Principal | None:
    """The caller, or None if anonymous; enforces CSRF on cookie-authenticated changes."""
    principal = await authenticate_connection(conn)
    if principal is not None and principal.via is AuthMethod.SESSION:
        check_csrf(conn, get_runtime(conn).settings)
    return principal


OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]


async def current_principal(principal: OptionalPrincipal) -> Principal:
    """The caller; 401 with a sentence if it sent no credential."""
    if principal is None:
        raise _unauthorized(
            "Sign in first: this needs a session (POST /api/auth/login or /api/auth/oidc/login) or an "
            "'Authorization: Bearer' token."
        )
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def _role_list(roles: tuple[Role, ...]) -> str:
    names = [role.value for role in roles]
    if len(names) == 1:
        return f"the {names[0]} role"
    return f"the {', '.join(names[:-1])} or {names[-1]} role"


def require_roles(*roles: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency accepting only callers with one of ``roles``; 403 with a sentence for anyone else."""
    if not roles:
        raise ValueError("require_roles needs at least one role")
    accepted = frozenset(roles)

    async def dependency(principal: CurrentPrincipal) -> Principal:
        if principal.role not in accepted:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                f"This needs {_role_list(roles)}; you are signed in as {principal.describe()}.",
            )
        return principal

    dependency.__name__ = "require_" + "_or_".join(role.value for role in roles)
    return dependency


def require_game_access(principal: Principal, game_id: str) -> None:
    """403 when a team or display principal asks about a game other than its own."""
    if not principal.may_see_game(game_id):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"Your {principal.kind.value} token belongs to another game; it cannot be used for game {game_id}.",
        )


AdminDep = Annotated[Principal, Depends(require_roles(Role.ADMIN))]
"""Admins only: users, devices, settings, API tokens."""
HostDep = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.QUIZMASTER))]
"""People who build quizzes and run games."""
UserDep = HostDep
"""Any logged-in person (the same set as :data:`HostDep` today)."""
TeamDep = Annotated[Principal, Depends(require_roles(Role.TEAM))]
"""A team playing (its ``game_id`` says which game)."""
DisplayDep = Annotated[Principal, Depends(require_roles(Role.DISPLAY, Role.ADMIN, Role.QUIZMASTER))]
"""The big-screen view: display tokens, and hosts previewing it."""
IntegratorDep = Annotated[Principal, Depends(require_roles(Role.INTEGRATOR, Role.ADMIN))]
"""Scripted read access: integrator tokens, and admins."""
ReaderDep = Annotated[
    Principal, Depends(require_roles(Role.ADMIN, Role.QUIZMASTER, Role.INTEGRATOR, Role.DISPLAY, Role.TEAM))
]
"""Read-only game views any principal may use; combine with :func:`require_game_access` for a game's data."""
