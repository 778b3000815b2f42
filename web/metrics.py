"""The web app's Prometheus metrics and its ``/metrics`` route.

``install_metrics(app)`` adds a middleware that counts and times every HTTP request by route *template*
(``/api/games/{game_id}``, never the raw path: one series per route, not per game) and by method (the standard
ones; any other is ``OTHER``, so no label value comes from what a client sends), counts refused requests by
reason (a 422 is a validation error, a 429 a rate limit...), reports the open WebSockets at scrape time, and serves
``GET /metrics`` with everything in the process's default registry: in ``quizhub serve`` that includes the hub's
metrics (hub/metrics.py). docs/operations.md lists every metric.

Who may scrape: a caller with ``Authorization: Bearer`` set to ``QUIZHUB_METRICS_TOKEN`` or to an admin or
integrator credential (an API token, or an admin's session); and, only while no ``QUIZHUB_METRICS_TOKEN`` is set, a
client on loopback whose request came through no proxy. Setting the token turns that exemption off, because a
reverse proxy on the same machine that adds no forwarding header makes every visitor look local.
"""

from __future__ import annotations

import hmac
import ipaddress
import time
import weakref
from typing import TYPE_CHECKING, Any, Final

from fastapi import APIRouter, HTTPException, Request, Response, status
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from web.auth.deps import authenticate_connection
from web.auth.principal import Role

if TYPE_CHECKING:
    from collections.abc import Iterator

    from fastapi import FastAPI
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["HTTP_LATENCY", "HTTP_REQUESTS", "WEB_REJECTED", "install_metrics", "may_scrape", "router"]

HTTP_REQUESTS = Counter(
    "quizhub_http_requests", "HTTP requests answered, by method, route template and status.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "quizhub_http_request_duration_seconds", "Time to answer an HTTP request, by method and route template.",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
WEB_REJECTED = Counter(
    "quizhub_web_rejected_inputs", "HTTP requests the web app refused, by reason (validation, rate_limited...).",
    ["reason"],
)

# Refusals worth telling apart; any other 4xx is counted as `client_error`.
_REASONS: Final = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "validation",
    429: "rate_limited",
}
# Requests no route matched (a 404, a static file) share one label, so scanners cannot mint a series per path.
_UNMATCHED: Final = "<unmatched>"
# The server takes any token as a method; any method outside this set shares one label, so a client cannot mint a
# series per made-up method (`FOO /`, `BAR /`...) either.
_METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_OTHER_METHOD: Final = "OTHER"
_PROXY_HEADERS: Final = ("forwarded", "x-forwarded-for", "x-real-ip")
_SCRAPERS: Final = frozenset({Role.ADMIN, Role.INTEGRATOR})

router = APIRouter()


def _method_of(scope: Scope) -> str:
    method = str(scope.get("method", ""))
    return method if method in _METHODS else _OTHER_METHOD


def _route_of(scope: Scope) -> str:
    route = scope.get("route")  # set by the router on a match, so it is there once the app has answered
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else _UNMATCHED


class _HttpMetrics:
    """Pure ASGI middleware: one counter increment and one histogram observation per HTTP request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        code = 500  # an exception that escapes the app is answered with a 500 by the server

        async def capture(message: Message) -> None:
            nonlocal code
            if message["type"] == "http.response.start":
                code = int(message["status"])
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, capture)
        finally:
            method, route = _method_of(scope), _route_of(scope)
            HTTP_LATENCY.labels(method, route).observe(time.perf_counter() - started)
            HTTP_REQUESTS.labels(method, route, str(code)).inc()
            if 400 <= code < 500:
                WEB_REJECTED.labels(_REASONS.get(code, "client_error")).inc()


_apps: weakref.WeakSet[Any] = weakref.WeakSet()


class _SocketCollector:
    """Open ``/ws`` sockets, read off each live app's bridge (web/ws.py keeps the count) when Prometheus scrapes."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        total = 0
        for app in list(_apps):
            bridge = getattr(app.state, "bridge", None)
            total += int(getattr(bridge, "conns", 0) or 0)
        gauge = GaugeMetricFamily("quizhub_web_sockets", "WebSockets (/ws) open on this web process.")
        gauge.add_metric([], total)
        yield gauge

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return self.collect()


REGISTRY.register(_SocketCollector())


def _loopback_exempt(request: Request) -> bool:
    """May this request scrape without credentials? Only with no metrics token configured, and only a direct client
    on this machine: anything a proxy forwarded is not, even when the proxy itself is local."""
    if request.app.state.settings.metrics_token is not None:
        return False  # an operator who set the token wants it asked for; a header-less local proxy cannot bypass it
    if request.client is None or any(name in request.headers for name in _PROXY_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        return False


def _metrics_token_matches(request: Request) -> bool:
    token = request.app.state.settings.metrics_token
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if token is None or scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode(), token.get_secret_value().encode())


_NEEDS: Final = (
    "/metrics needs 'Authorization: Bearer' with the QUIZHUB_METRICS_TOKEN, or an admin or integrator token "
    "(without a QUIZHUB_METRICS_TOKEN, a direct client on loopback needs none); see docs/operations.md."
)


async def may_scrape(request: Request) -> None:
    """Let the caller read ``/metrics``, or raise 401/403 with a sentence saying what to send."""
    if _loopback_exempt(request) or _metrics_token_matches(request):
        return
    try:
        principal = await authenticate_connection(request)
    except HTTPException as exc:
        if exc.status_code != status.HTTP_401_UNAUTHORIZED:
            raise
        principal = None
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, _NEEDS, headers={"WWW-Authenticate": "Bearer"})
    if principal.role not in _SCRAPERS:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"You are signed in as {principal.describe()}. {_NEEDS}")


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    """Prometheus text format: the web app's metrics and, in `quizhub serve`, the hub's."""
    await may_scrape(request)
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


def install_metrics(app: FastAPI) -> None:
    """Count this app's requests and sockets and serve ``/metrics``; call once while building the app."""
    _apps.add(app)
    app.add_middleware(_HttpMetrics)
    app.include_router(router)
