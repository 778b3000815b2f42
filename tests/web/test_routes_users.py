"""User and API token routes (admins only), and readiness."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from routes_kit import PASSWORD, FakeHub, bearer, signed_in, stored_game, tokens_for
from web_testkit import client_for

from broker.credentials import CredentialStore
from broker.credentials import Role as MqttRole

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import httpx
    from fastapi import FastAPI

    from hub.db.repository import Repository
    from hub.settings import Settings


@pytest.fixture
async def admin(app: FastAPI, repo: Repository) -> AsyncIterator[httpx.AsyncClient]:
    async with signed_in(app, repo, "admin", "ada") as client:
        yield client


async def test_user_crud(app: FastAPI, admin: httpx.AsyncClient, repo: Repository) -> None:
    created = await admin.post("/api/users", json={"name": "quinn", "role": "quizmaster", "password": PASSWORD})
    assert created.status_code == 201, created.text
    user = created.json()
    assert (user["name"], user["role"], user["has_password"], user["oidc"]) == ("quinn", "quizmaster", True, False)
    assert "password_hash" not in user
    taken = await admin.post("/api/users", json={"name": "quinn", "role": "admin", "password": PASSWORD})
    assert taken.status_code == 409
    assert taken.json()["detail"] == "A user named 'quinn' already exists; pick another name."
    short = await admin.post("/api/users", json={"name": "x", "role": "admin", "password": "short"})
    assert short.status_code == 422
    assert sorted(u["name"] for u in (await admin.get("/api/users")).json()) == ["ada", "quinn"]

    promoted = await admin.patch(f"/api/users/{user['id']}", json={"role": "admin", "password": "another long one"})
    assert promoted.json()["role"] == "admin"
    async with client_for(app) as quinn:
        login = await quinn.post("/api/auth/login", json={"name": "quinn", "password": "another long one"})
        assert login.json()["principal"]["role"] == "admin"
    assert (await admin.delete(f"/api/users/{user['id']}")).status_code == 204
    assert (await admin.get(f"/api/users/{user['id']}")).status_code == 404


async def test_an_admin_cannot_demote_or_delete_themselves(admin: httpx.AsyncClient, repo: Repository) -> None:
    me = await repo.get_user_by_name("ada")
    assert me is not None
    demote = await admin.patch(f"/api/users/{me.id}", json={"role": "quizmaster"})
    assert demote.status_code == 409
    assert demote.json()["detail"] == "You cannot change your own role; ask another admin."
    assert (await admin.delete(f"/api/users/{me.id}")).status_code == 409


async def test_integrator_token_comes_with_a_read_only_mqtt_login(
    app: FastAPI, admin: httpx.AsyncClient, settings: Settings
) -> None:
    issued = await admin.post("/api/tokens", json={"name": "overlay"})
    assert issued.status_code == 201, issued.text
    body = issued.json()
    assert body["secret"].startswith("qhi_")
    assert body["token"]["role"] == "integrator"
    assert body["mqtt"]["username"] == "overlay"
    store = CredentialStore(settings.data_dir / "credentials.json")
    assert store.verify("overlay", body["mqtt"]["password"]) is MqttRole.INTEGRATOR
    async with bearer(app, body["secret"]) as integrator:
        assert (await integrator.get("/api/games")).status_code == 200
        assert (await integrator.get("/api/tokens")).status_code == 403
    again = await admin.post("/api/tokens", json={"name": "overlay"})
    assert again.status_code == 409
    assert again.json()["detail"] == "An MQTT login named 'overlay' already exists; pick another name."
    listed = (await admin.get("/api/tokens")).json()
    assert [t["name"] for t in listed] == ["overlay"]
    assert "secret" not in listed[0]

    revoked = await admin.delete(f"/api/tokens/{body['token']['id']}")
    assert revoked.json()["revoked_at"] is not None
    assert store.verify("overlay", body["mqtt"]["password"]) is None
    async with bearer(app, body["secret"]) as integrator:
        assert (await integrator.get("/api/games")).status_code == 401


async def test_users_and_tokens_are_for_admins_only(app: FastAPI, repo: Repository) -> None:
    _, game_id = await stored_game(repo)
    async with signed_in(app, repo, "quizmaster", "quinn") as host:
        for method, path in (("GET", "/api/users"), ("POST", "/api/tokens"), ("DELETE", "/api/users/1")):
            refused = await host.request(method, path, json={"name": "x"})
            assert refused.status_code == 403
            assert refused.json()["detail"] == "This needs the admin role; you are signed in as quizmaster 'quinn'."
    for token in (await tokens_for(repo, game_id)).values():
        async with bearer(app, token) as client:
            assert (await client.get("/api/users")).status_code == 403


async def test_ready_names_what_is_down(app: FastAPI) -> None:
    async with client_for(app) as probe:
        down = await probe.get("/api/ready")
        assert down.status_code == 503
        assert down.json() == {"ready": False, "checks": {"database": "ok", "hub": "the hub client is not running"}}
        hub = FakeHub(connected=False)
        app.state.hub_client = hub
        assert (await probe.get("/api/ready")).json()["checks"][
            "hub"
        ] == "the hub client is not connected to the broker"
        hub.connected = True
        up = await probe.get("/api/ready")
        assert up.status_code == 200
        assert up.json() == {"ready": True, "checks": {"database": "ok", "hub": "ok"}}
        app.state.db_sessions = None
        app.state.repo = None
        broken = await probe.get("/api/ready")
        assert broken.status_code == 503
        assert broken.json()["checks"]["database"].startswith("the database does not answer")
