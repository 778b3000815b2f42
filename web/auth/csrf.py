"""CSRF protection for cookie-authenticated changes: a per-session token in a header, plus an Origin check.

Why a token and not only an Origin check: the token (synchronizer pattern) does not depend on what a browser or
a proxy does with the Origin header; it is 256 random bits kept in the signed session cookie, handed to the page
by ``POST /api/auth/login`` and ``GET /api/auth/me``, and required as ``X-CSRF-Token`` on every unsafe request
(POST, PUT, PATCH, DELETE) that authenticates with the cookie. Another site can make the browser send the cookie
(SameSite=Lax already stops that for cross-site POSTs) but cannot read the token, nor set a custom header without a
CORS preflight that we never grant. When an Origin header is present it must also be an allowed origin, which
also covers login and first-run setup (no session yet: there is no token to check). Bearer-token requests need
neither: browsers never attach a bearer token on their own.

Allowed origins: this server's own origin as the request addressed it, ``public_url``'s origin, and
``allowed_origins``.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Final
from urllib.parse import urlsplit

from fastapi import HTTPException, status

from web.auth.sessions import session_csrf_token

if TYPE_CHECKING:
    from starlette.requests import HTTPConnection

    from hub.settings import Settings

__all__ = ["CSRF_HEADER", "SAFE_METHODS", "allowed_origins", "check_csrf", "check_origin", "origin_allowed"]

CSRF_HEADER: Final = "X-CSRF-Token"
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_WS_TO_HTTP: Final = {"ws": "http", "wss": "https"}


def _origin_of(url: str) -> str | None:
    parts = urlsplit(url.strip())
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def allowed_origins(conn: HTTPConnection, settings: Settings) -> set[str]:
    """The origins whose pages may change things with this server's cookie."""
    own_scheme = _WS_TO_HTTP.get(conn.url.scheme, conn.url.scheme)
    origins = {f"{own_scheme}://{conn.url.netloc.lower()}"}
    for url in (settings.public_url, *settings.allowed_origins):
        origin = _origin_of(url) if url else None
        if origin is not None:
            origins.add(origin)
    return origins


def origin_allowed(conn: HTTPConnection, settings: Settings) -> bool:
    """True when the request has no Origin header (not sent by a page) or an allowed one; for HTTP and WebSocket."""
    origin = conn.headers.get("origin")
    if origin is None:
        return True
    return origin.lower().rstrip("/") in allowed_origins(conn, settings)


def check_origin(conn: HTTPConnection, settings: Settings) -> None:
    """403 when a page from another origin sent this request."""
    if not origin_allowed(conn, settings):
        origin = conn.headers.get("origin")
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"This request came from a page at {origin!r}, which may not act on this server; if that site is "
            "yours, add it to QUIZHUB_ALLOWED_ORIGINS.",
        )


def check_csrf(conn: HTTPConnection, settings: Settings) -> None:
    """For a cookie-authenticated unsafe request: 403 unless the Origin is allowed and the CSRF header matches."""
    method = conn.scope.get("method")
    if conn.scope["type"] != "http" or method in SAFE_METHODS:
        return
    check_origin(conn, settings)
    expected = session_csrf_token(conn)
    sent = conn.headers.get(CSRF_HEADER)
    if expected is None or sent is None or not hmac.compare_digest(expected.encode(), sent.encode()):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"This change was sent with the session cookie but without a valid {CSRF_HEADER} header; send the "
            "csrf_token that POST /api/auth/login and GET /api/auth/me return.",
        )
