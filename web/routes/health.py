"""Readiness: can this web process serve? (Liveness is ``/api/health``, in :mod:`web.app`.)

Ready means the database answers a query and the hub client is connected to the broker. A load balancer or
compose healthcheck sends traffic only when this says 200; 503 names what is down.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from web.api_models import Readiness
from web.routes.deps import repository

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/api/ready", responses={503: {"model": Readiness, "description": "Something is down."}})
async def ready(request: Request, response: Response) -> Readiness:
    """200 when the database and the hub connection work; 503 with what is down otherwise."""
    checks: dict[str, str] = {}
    try:
        await repository(request).has_admin()  # one cheap query
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready", and is reported, not raised
        checks["database"] = f"the database does not answer: {type(exc).__name__}"
    client = getattr(request.app.state, "hub_client", None)
    if client is None:
        checks["hub"] = "the hub client is not running"
    elif not getattr(client, "connected", True):
        checks["hub"] = "the hub client is not connected to the broker"
    else:
        checks["hub"] = "ok"
    is_ready = all(value == "ok" for value in checks.values())
    if not is_ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return Readiness(ready=is_ready, checks=checks)
