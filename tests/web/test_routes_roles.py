"""Every /api route declares its role: anonymous callers get 401 and every role it does not accept gets 403,
each with a sentence. The routes are found by walking app.routes, so a new route is checked without a new test."""

from __future__ import annotations

import inspect
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from fastapi.routing import APIRoute
from routes_kit import bearer, signed_in, stored_game, tokens_for
from web_testkit import client_for

from hub.settings import Settings
from web.app import create_app
from web.auth import Role
from web.auth.deps import current_principal

if TYPE_CHECKING:
    from fastapi import FastAPI

    from hub.db.repository import Repository

PUBLIC = {"/api/health", "/api/ready", "/api/join", "/api/join/qr.svg"}
"""Routes anyone may call: liveness, readiness, joining a game (rate-limited instead) and the QR of a join code."""


def _walk(routes: list[Any]) -> list[APIRoute]:
    # FastAPI >= 0.16x keeps included routers as one entry each (route.original_router); older ones copy routes.
    flat: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            flat.append(route)
        elif hasattr(route, "original_router"):
            flat.extend(_walk(route.original_router.routes))
    return flat


def _api_routes() -> list[tuple[str, str, APIRoute]]:
    app = create_app(Settings(data_dir=Path(tempfile.mkdtemp(prefix="quizhub-roles-")), secret_key="s" * 32))
    found = []
    for route in _walk(app.routes):
        if not isinstance(route, APIRoute) or not route.path.startswith("/api/"):
            continue
        if route.path in PUBLIC or route.path.startswith("/api/auth/"):
            continue
        found.extend((method, route.path, route) for method in sorted(route.methods))
    return found


ROUTES = _api_routes()


def _accepted(route: APIRoute) -> frozenset[Role]:
    # The roles of the route's require_roles(...) dependency, read from the dependency's closure; a route that
    # only needs CurrentPrincipal accepts every role.
    stack = list(route.dependant.dependencies)
    anyone = False
    while stack:
        dep = stack.pop()
        call = dep.call
        anyone = anyone or call is current_principal
        if call is not None and getattr(call, "__name__", "").startswith("require_"):
            accepted = inspect.getclosurevars(call).nonlocals.get("accepted")
            if isinstance(accepted, frozenset):
                return accepted
        stack.extend(dep.dependencies)
    return frozenset(Role) if anyone else frozenset()


def _url(path: str, game_id: str) -> str:
    path = path.replace("{game_id}", game_id)
    return re.sub(r"\{[a-z_]+_id\}", lambda m: "dev7" if m.group(0) == "{device_id}" else "1", path)


def test_the_walk_finds_the_resources() -> None:
    paths = {path for _, path, _ in ROUTES}
    assert {
        "/api/quizzes",
        "/api/games/{game_id}/commands",
        "/api/teams/me",
        "/api/devices",
        "/api/users",
        "/api/tokens",
    } <= paths
    assert len(ROUTES) > 25


@pytest.mark.parametrize(("method", "path", "route"), ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_every_route_declares_a_role(method: str, path: str, route: APIRoute) -> None:
    assert _accepted(route), f"{method} {path} has no require_roles dependency"


@pytest.mark.parametrize(("method", "path"), [(m, p) for m, p, _ in ROUTES], ids=[f"{m} {p}" for m, p, _ in ROUTES])
async def test_anonymous_callers_are_refused_with_a_sentence(app: FastAPI, method: str, path: str) -> None:
    async with client_for(app) as anonymous:
        response = await anonymous.request(method, _url(path, "g1"))
    assert response.status_code == 401, response.text
    assert response.json()["detail"].startswith("Sign in first")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_every_role_a_route_does_not_accept_gets_403(app: FastAPI, repo: Repository) -> None:
    _, game_id = await stored_game(repo)
    tokens = await tokens_for(repo, game_id)
    checked = 0
    async with (
        signed_in(app, repo, "admin") as admin,
        signed_in(app, repo, "quizmaster") as quizmaster,
        bearer(app, tokens["team"]) as team,
        bearer(app, tokens["display"]) as display,
        bearer(app, tokens["integrator"]) as integrator,
    ):
        clients = {
            Role.ADMIN: admin,
            Role.QUIZMASTER: quizmaster,
            Role.TEAM: team,
            Role.DISPLAY: display,
            Role.INTEGRATOR: integrator,
        }
        for method, path, route in ROUTES:
            for role in set(Role) - _accepted(route):
                response = await clients[role].request(method, _url(path, game_id))
                assert response.status_code == 403, f"{role} {method} {path}: {response.text}"
                detail = response.json()["detail"]
                assert detail.startswith("This needs the "), detail
                assert detail.endswith("."), detail
                checked += 1
    assert checked > 60
