"""The browser session: a signed cookie (Starlette's SessionMiddleware, itsdangerous) holding the user id.

The cookie is HttpOnly and SameSite=Lax, Secure when the public URL is https; its signature carries a timestamp
and expires after ``session_max_age_s`` without activity (:func:`touch` re-signs it every few minutes while the
user is active). It holds no role: the user row is read on every request, so a role change or a deleted user
takes effect at once. The cookie also carries the session's CSRF token (see :mod:`web.auth.csrf`) and, during an
OIDC login, authlib's state, nonce and PKCE verifier.
"""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING, Final

from starlette.middleware.sessions import SessionMiddleware

if TYPE_CHECKING:
    from fastapi import FastAPI
    from starlette.requests import HTTPConnection

    from hub.settings import Settings

__all__ = [
    "SESSION_COOKIE",
    "add_session_middleware",
    "cookie_secure",
    "end_session",
    "session_csrf_token",
    "session_user_id",
    "start_user_session",
    "touch",
]

SESSION_COOKIE: Final = "quizhub_session"
_USER: Final = "uid"
_CSRF: Final = "csrf"
_TOUCHED: Final = "t"
_TOUCH_EVERY_S: Final = 300


def cookie_secure(settings: Settings) -> bool:
    """Whether the cookie gets the Secure flag: as configured, else when the public URL is https."""
    if settings.cookie_secure is not None:
        return settings.cookie_secure
    return settings.public_url.lower().startswith("https://")


def add_session_middleware(app: FastAPI, settings: Settings, secret_key: str) -> None:
    """Install the signed-cookie session on ``app``."""
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret_key,
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_max_age_s,
        same_site="lax",
        https_only=cookie_secure(settings),
    )


def start_user_session(conn: HTTPConnection, user_id: int) -> str:
    """Log ``user_id`` in on this browser; returns the new session's CSRF token.

    Everything else in the session is dropped first, so nothing from before the login (or another user) carries over.
    """
    conn.session.clear()
    csrf = secrets.token_urlsafe(32)
    conn.session.update({_USER: user_id, _CSRF: csrf, _TOUCHED: int(time.time())})
    return csrf


def end_session(conn: HTTPConnection) -> None:
    """Log out: the cookie is cleared in the response."""
    conn.session.clear()


def session_user_id(conn: HTTPConnection) -> int | None:
    """The logged-in user's id, or None (no cookie, a bad signature, an expired one, or not logged in)."""
    if "session" not in conn.scope:
        return None
    value = conn.session.get(_USER)
    return value if isinstance(value, int) else None


def session_csrf_token(conn: HTTPConnection) -> str | None:
    """The CSRF token of this session, or None."""
    if "session" not in conn.scope:
        return None
    value = conn.session.get(_CSRF)
    return value if isinstance(value, str) else None


def touch(conn: HTTPConnection) -> None:
    """Re-sign the cookie now and then, so an active user stays logged in past ``session_max_age_s``."""
    now = int(time.time())
    last = conn.session.get(_TOUCHED)
    if not isinstance(last, int) or now - last >= _TOUCH_EVERY_S:
        conn.session[_TOUCHED] = now
