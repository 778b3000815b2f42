"""Rate-limit checks for routes: login (here) and team join (the games routes call :func:`check_join_rate`)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from fastapi import HTTPException, status

from web.auth.ratelimit import Limit, bucket_key
from web.auth.runtime import get_runtime

if TYPE_CHECKING:
    from starlette.requests import HTTPConnection

__all__ = ["check_join_rate", "check_login_rate", "client_address"]


def client_address(conn: HTTPConnection) -> str:
    """The client's IP address. Behind a reverse proxy, run uvicorn with ``--forwarded-allow-ips`` for the proxy
    so this is the browser's address, not the proxy's (else everyone behind it shares one budget)."""
    return conn.client.host if conn.client is not None else "unknown"


async def _check(conn: HTTPConnection, scope: str, name: str, limit: Limit, what: str) -> None:
    runtime = get_runtime(conn)
    wait = await runtime.limiter.hit(bucket_key(scope, client_address(conn), name), limit)
    if wait > 0:
        seconds = max(1, math.ceil(wait))
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"Too many {what} from your address; try again in {seconds} s.",
            headers={"Retry-After": str(seconds)},
        )


async def check_login_rate(conn: HTTPConnection, name: str) -> None:
    """429 (with Retry-After) when this address has tried to log in as ``name`` too often."""
    await _check(conn, "login", name, get_runtime(conn).login_limit, "login attempts")


async def check_join_rate(conn: HTTPConnection, team_name: str) -> None:
    """429 (with Retry-After) when this address has tried to join as ``team_name`` too often.

    A second, three times larger budget counts every join from the address whatever the name, so guessing the
    six-digit game codes under ever new team names is slow too.
    """
    limit = get_runtime(conn).join_limit
    await _check(conn, "join", team_name, limit, "join attempts")
    await _check(conn, "join-any", "", Limit(limit.per_minute * 3, limit.burst * 3), "join attempts")
