"""Sign-in through an OpenID Provider (Keycloak, Authentik, any): authorization code + PKCE, with authlib.

``GET /api/auth/oidc/login`` redirects to the provider with a fresh ``state`` (CSRF of the login itself), ``nonce``
(binds the ID token to this attempt) and PKCE S256 challenge (binds the code to this browser); authlib keeps all
three in the signed session cookie. ``GET /api/auth/oidc/callback`` checks the state, exchanges the code with the
verifier, validates the ID token (signature, issuer, audience, expiry, nonce), reads the groups claim (from the ID
token, else from the userinfo endpoint) and maps it to a role. The identity is issuer + subject, never the e-mail
or the user name, so a renamed account stays the same user and a local account is never taken over by name.

Without ``oidc_issuer`` both routes answer 404 with a sentence.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlsplit

import httpx
from authlib.integrations.starlette_client import OAuth, OAuthError
from authlib.oidc.core import UserInfo
from fastapi import APIRouter, HTTPException, Request, status
from fastapi.responses import RedirectResponse

from hub.db.errors import AlreadyExistsError
from hub.db.models import User, UserRole
from web.auth.runtime import get_repository, get_runtime
from web.auth.sessions import start_user_session

if TYPE_CHECKING:
    from hub.db.repository import Repository
    from hub.settings import Settings

__all__ = ["OIDCLogin", "map_role", "router"]

log = logging.getLogger("quizhub.auth.oidc")

router = APIRouter(prefix="/api/auth/oidc", tags=["auth"])

_NEXT_KEY: Final = "oidc_next"
_CLIENT_NAME: Final = "oidc"


def map_role(groups: object, settings: Settings) -> UserRole | None:
    """The role for these groups: admin beats quizmaster; None when no configured group matches."""
    if isinstance(groups, str):
        groups = [groups]
    if not isinstance(groups, list | tuple):
        return None
    # Keycloak sends group paths ("/quizhub-admins") when "full group path" is on; accept either spelling.
    names = {str(g) for g in groups} | {str(g).rsplit("/", 1)[-1] for g in groups}
    if names & set(settings.oidc_admin_groups):
        return UserRole.ADMIN
    if names & set(settings.oidc_quizmaster_groups):
        return UserRole.QUIZMASTER
    return None


class OIDCLogin:
    """The configured provider: an authlib client and the settings it maps claims with."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.issuer = settings.oidc_issuer.rstrip("/")
        oauth = OAuth()
        secret = settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else None
        oauth.register(
            name=_CLIENT_NAME,
            client_id=settings.oidc_client_id,
            client_secret=secret,
            server_metadata_url=f"{self.issuer}/.well-known/openid-configuration",
            client_kwargs={"scope": settings.oidc_scope, "code_challenge_method": "S256", "timeout": 10.0},
        )
        self.client: Any = oauth.create_client(_CLIENT_NAME)

    def redirect_uri(self, request: Request) -> str:
        """Where the provider sends the browser back: under ``public_url`` when set (proxies), else as asked."""
        if self.settings.public_url:
            return f"{self.settings.public_url.rstrip('/')}/api/auth/oidc/callback"
        return str(request.url_for("oidc_callback"))


def _oidc(request: Request) -> OIDCLogin:
    oidc = get_runtime(request).oidc
    if oidc is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            "Sign-in with an identity provider is not configured on this server; log in with a password, or set "
            "QUIZHUB_OIDC_ISSUER and QUIZHUB_OIDC_CLIENT_ID (see docs/auth.md).",
        )
    return oidc


def _safe_next(value: str | None) -> str:
    # Only same-site paths: an absolute or scheme-relative URL here would make us an open redirect. Browsers drop
    # tabs and newlines and read a backslash as a slash, so "/\t/evil" or "/\\evil" would leave the site: such
    # characters are refused outright instead of relying on the redirect's percent-encoding.
    if not value or "\\" in value or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        return "/"
    # A path that starts with one slash has neither scheme nor host; "//host" is a host.
    if not value.startswith("/") or value.startswith("//"):
        return "/"
    return value


def _provider_unreachable(exc: Exception) -> HTTPException:
    log.warning("OIDC provider request failed: %s", type(exc).__name__)
    return HTTPException(
        status.HTTP_502_BAD_GATEWAY,
        "The identity provider could not be reached or gave an unusable answer; try again, or tell the admin.",
    )


@router.get("/login", status_code=status.HTTP_302_FOUND, response_class=RedirectResponse, responses={404: {}})
async def oidc_login(request: Request, next: str | None = None) -> RedirectResponse:  # noqa: A002 - the usual name
    """Start sign-in at the identity provider; ``next`` is the path to return to afterwards."""
    oidc = _oidc(request)
    request.session[_NEXT_KEY] = _safe_next(next)
    try:
        response: RedirectResponse = await oidc.client.authorize_redirect(request, oidc.redirect_uri(request))
    except (httpx.HTTPError, OAuthError, ValueError) as exc:
        raise _provider_unreachable(exc) from exc
    return response


@router.get(
    "/callback", status_code=status.HTTP_303_SEE_OTHER, response_class=RedirectResponse, responses={400: {}, 403: {}}
)
async def oidc_callback(request: Request) -> RedirectResponse:
    """The provider's redirect back: validates everything, maps the groups to a role, and starts the session."""
    oidc = _oidc(request)
    claims = await _exchange(request, oidc)
    role = map_role(claims.get(oidc.settings.oidc_groups_claim), oidc.settings)
    if role is None:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"Your account at the identity provider is in none of the groups allowed to use Quizhub "
            f"({', '.join(oidc.settings.oidc_admin_groups + oidc.settings.oidc_quizmaster_groups)}); ask its "
            "administrator to add you to one.",
        )
    user = await _sync_user(get_repository(request), oidc.issuer, claims, role)
    assert user.id is not None
    next_path = _safe_next(request.session.get(_NEXT_KEY))
    start_user_session(request, user.id)
    return RedirectResponse(next_path, status_code=status.HTTP_303_SEE_OTHER)


async def _exchange(request: Request, oidc: OIDCLogin) -> dict[str, Any]:
    """The validated claims of this login (ID token, completed from userinfo when it lacks the groups claim)."""
    error = request.query_params.get("error")
    if error == "access_denied":
        raise HTTPException(status.HTTP_403_FORBIDDEN, "Sign-in was cancelled or refused at the identity provider.")
    state_key = f"_state_{_CLIENT_NAME}_{request.query_params.get('state')}"
    if error is None and state_key not in request.session:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            "This sign-in response does not belong to a sign-in this browser started (unknown or reused state); "
            "start again at /api/auth/oidc/login.",
        )
    try:
        token = await oidc.client.authorize_access_token(request)
    except OAuthError as exc:
        raise HTTPException(
            status.HTTP_400_BAD_REQUEST,
            f"The identity provider did not complete the sign-in ({exc.error}); start again at /api/auth/oidc/login.",
        ) from exc
    except (httpx.HTTPError, ValueError) as exc:
        raise _provider_unreachable(exc) from exc
    id_claims = token.get("userinfo")
    if not isinstance(id_claims, UserInfo | dict) or "sub" not in id_claims:
        # Without a validated ID token there is no OIDC identity (a bare OAuth 2.0 answer proves nothing).
        raise HTTPException(
            status.HTTP_502_BAD_GATEWAY,
            "The identity provider sent no ID token; check that the client asks for the 'openid' scope.",
        )
    claims = dict(id_claims)
    if str(claims.get("iss", "")).rstrip("/") != oidc.issuer:
        raise HTTPException(
            status.HTTP_502_BAD_GATEWAY,
            "The ID token was issued by another issuer than QUIZHUB_OIDC_ISSUER; check that setting.",
        )
    if oidc.settings.oidc_groups_claim not in claims:
        try:
            userinfo = await oidc.client.userinfo(token=token)
        except (httpx.HTTPError, OAuthError, ValueError) as exc:
            raise _provider_unreachable(exc) from exc
        if userinfo.get("sub") == claims["sub"]:  # OIDC Core 5.3.2: a mismatching sub must not be used
            claims.update({k: v for k, v in userinfo.items() if k not in {"iss", "aud", "sub"}})
    return claims


def _display_name(claims: dict[str, Any]) -> str:
    for key in ("preferred_username", "name", "email"):
        value = claims.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:64]
    return f"user-{claims['sub']}"[:64]


async def _sync_user(repo: Repository, issuer: str, claims: dict[str, Any], role: UserRole) -> User:
    """The user for this identity: created on first sign-in, its role kept in step with the groups after."""
    subject = str(claims["sub"])
    user = await repo.get_user_by_oidc(issuer, subject)
    if user is not None and user.id is not None:
        if user.role != role:
            user = await repo.set_user_role(user.id, role)
        assert user.id is not None
        return await repo.record_login(user.id)
    base = _display_name(claims)
    # A name may already belong to a local account or another provider's user: never merge accounts by name.
    suffix = hashlib.sha256(f"{issuer}\0{subject}".encode()).hexdigest()[:6]
    host = urlsplit(issuer).hostname or "oidc"
    for name in (base, f"{base[:48]} ({host})"[:64], f"{base[:56]}-{suffix}"):
        if await repo.get_user_by_name(name) is not None:
            continue
        try:
            created = await repo.create_user(name, role, oidc_issuer=issuer, oidc_subject=subject)
        except AlreadyExistsError:
            continue
        assert created.id is not None
        return await repo.record_login(created.id)
    raise HTTPException(
        status.HTTP_409_CONFLICT,
        f"No free user name could be found for {base!r}; an admin can rename the existing user {base!r}.",
    )
