"""``/api/auth``: password login, logout, who-am-I, first-run setup, and which sign-in methods exist."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response, status
from pydantic import ValidationError

from hub.db.errors import AlreadyExistsError
from hub.db.models import UserRole
from web.auth.csrf import check_origin
from web.auth.deps import CurrentPrincipal, OptionalPrincipal  # noqa: TC001 - FastAPI resolves annotations at runtime
from web.auth.limits import check_login_rate
from web.auth.principal import AuthMethod, Principal, PrincipalKind, Role
from web.auth.runtime import get_repository, get_runtime
from web.auth.schemas import AuthMethods, LoginRequest, PrincipalPublic, SessionInfo, SetupRequest, SetupStatus
from web.auth.sessions import end_session, session_csrf_token, start_user_session
from web.auth.setup import claim_setup_token, restore_setup_token
from web.auth.users import authenticate, create_user

__all__ = ["router"]

router = APIRouter(prefix="/api/auth", tags=["auth"])

_LOGIN_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": LoginRequest.model_json_schema()},
            "application/x-www-form-urlencoded": {"schema": LoginRequest.model_json_schema()},
        },
    }
}


def _user_principal(user_id: int, name: str, role: UserRole) -> Principal:
    mapped = Role.ADMIN if role == UserRole.ADMIN else Role.QUIZMASTER
    return Principal(PrincipalKind.USER, str(user_id), name, mapped, AuthMethod.SESSION)


async def _read_login(request: Request) -> LoginRequest:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if content_type == "application/json":
            return LoginRequest.model_validate(await request.json())
        if content_type in {"application/x-www-form-urlencoded", "multipart/form-data"}:
            async with request.form() as form:
                return LoginRequest.model_validate({k: v for k, v in form.items() if isinstance(v, str)})
    except (ValidationError, ValueError) as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            "Send a name and a password (1-64 and 1-1024 characters), as JSON or as a form.",
        ) from exc
    raise HTTPException(
        status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        "Send the login as application/json or application/x-www-form-urlencoded.",
    )


@router.post("/login", openapi_extra=_LOGIN_BODY, responses={401: {}, 403: {}, 415: {}, 429: {}})
async def login(request: Request) -> SessionInfo:
    """Log in with a local account's name and password; sets the session cookie and returns the CSRF token."""
    check_origin(request, get_runtime(request).settings)
    body = await _read_login(request)
    await check_login_rate(request, body.name)
    user = await authenticate(get_repository(request), body.name, body.password)
    if user is None or user.id is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "Wrong name or password. (Accounts that sign in through the identity provider have no password here.)",
            headers={"WWW-Authenticate": 'Bearer realm="quizhub"'},
        )
    csrf = start_user_session(request, user.id)
    return SessionInfo(principal=PrincipalPublic.of(_user_principal(user.id, user.name, user.role)), csrf_token=csrf)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses={403: {}})
async def logout(request: Request, principal: OptionalPrincipal) -> Response:
    """End the browser session (clears the cookie). Bearer tokens are not sessions: revoke those instead."""
    if principal is not None and principal.via is AuthMethod.BEARER:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            "A bearer token is not a session and cannot log out; an admin revokes tokens instead.",
        )
    end_session(request)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/me", responses={401: {}})
async def me(request: Request, principal: CurrentPrincipal) -> SessionInfo:
    """Who the caller is; for a cookie session also the CSRF token to send as ``X-CSRF-Token`` on changes."""
    csrf = session_csrf_token(request) if principal.via is AuthMethod.SESSION else None
    return SessionInfo(principal=PrincipalPublic.of(principal), csrf_token=csrf)


@router.get("/methods")
async def methods(request: Request) -> AuthMethods:
    """Which sign-in methods this server offers (for the login page)."""
    return AuthMethods(oidc=get_runtime(request).oidc is not None)


@router.get("/setup")
async def setup_status(request: Request) -> SetupStatus:
    """Whether the server still has no admin (then the one-time setup link printed by ``serve`` works)."""
    return SetupStatus(setup_required=not await get_repository(request).has_admin())


@router.post("/setup", status_code=status.HTTP_201_CREATED, responses={403: {}, 409: {}, 422: {}})
async def setup(request: Request, body: SetupRequest) -> SessionInfo:
    """Create the first admin with the one-time token from the setup link; logs that admin in."""
    runtime = get_runtime(request)
    check_origin(request, runtime.settings)
    repo = get_repository(request)
    if await repo.has_admin():
        raise HTTPException(
            status.HTTP_409_CONFLICT, "This server already has an admin; log in, or ask an admin for an account."
        )
    claimed = claim_setup_token(runtime.settings, body.token)
    if claimed is None:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "This setup token is wrong or was already used; restart `quizhub serve` for a fresh setup link.",
        )
    try:
        if await repo.has_admin():  # an admin appeared meanwhile (e.g. `quizhub user add`): the token is spent
            raise HTTPException(status.HTTP_409_CONFLICT, "This server already has an admin; log in instead.")
        user = await create_user(repo, body.name, UserRole.ADMIN, body.password)
    except (ValueError, AlreadyExistsError) as exc:
        restore_setup_token(runtime.settings, claimed)
        conflict = isinstance(exc, AlreadyExistsError)
        code = status.HTTP_409_CONFLICT if conflict else status.HTTP_422_UNPROCESSABLE_CONTENT
        raise HTTPException(code, f"The admin was not created: {exc}. The setup link still works.") from exc
    assert user.id is not None
    csrf = start_user_session(request, user.id)
    return SessionInfo(principal=PrincipalPublic.of(_user_principal(user.id, user.name, user.role)), csrf_token=csrf)
