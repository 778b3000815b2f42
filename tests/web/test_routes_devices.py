"""Device routes: list with health, pair, unpair and identify through the hub."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from routes_kit import FakeHub, bearer, signed_in, stored_game, tokens_for

from web.auth import issue_team_token

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import httpx
    from fastapi import FastAPI

    from hub.db.repository import Repository


@pytest.fixture
async def host(app: FastAPI, repo: Repository) -> AsyncIterator[httpx.AsyncClient]:
    async with signed_in(app, repo, "admin") as client:
        yield client


async def test_list_shows_health(host: httpx.AsyncClient, repo: Repository) -> None:
    await repo.record_device_health("dev7", online=True, fw="1.0.0", rssi=-60, battery_mv=3900, boot=3)
    await repo.record_device_health("dev2", clock_uncertainty_us=800.0)
    devices = (await host.get("/api/devices")).json()
    assert [d["id"] for d in devices] == ["dev2", "dev7"]
    dev7 = devices[1]
    assert (dev7["online"], dev7["fw"], dev7["rssi"], dev7["battery_mv"], dev7["paired"]) == (
        True,
        "1.0.0",
        -60,
        3900,
        False,
    )
    assert devices[0]["clock_uncertainty_us"] == 800.0
    assert (await host.get("/api/devices/dev7")).json()["boot"] == 3
    missing = await host.get("/api/devices/nope")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "No device 'nope' has been seen; switch it on first."


async def test_pair_identify_unpair_go_through_the_hub(host: httpx.AsyncClient, repo: Repository, hub: FakeHub) -> None:
    _, game_id = await stored_game(repo)
    team, _ = await issue_team_token(repo, game_id=game_id, name="Owls")
    await repo.record_device_health("dev7", online=True)
    paired = await host.post("/api/devices/dev7/pair", json={"team_id": team.id, "name": "red"})
    assert paired.status_code == 200, paired.text
    assert (paired.json()["paired"], paired.json()["team_id"], paired.json()["game_id"]) == (True, team.id, game_id)
    assert paired.json()["name"] == "red"
    assert hub.sent[-1][0] == game_id
    assert {k: hub.sent[-1][1][k] for k in ("cmd", "device", "team")} == {
        "cmd": "pair",
        "device": "dev7",
        "team": team.id,
    }

    assert (await host.post("/api/devices/dev7/identify")).status_code == 202
    assert hub.sent[-1][1]["cmd"] == "identify"
    unpaired = await host.post("/api/devices/dev7/unpair")
    assert unpaired.json()["paired"] is False
    assert hub.sent[-1][1] == {"actor": "admin-user", "cmd": "unpair", "device": "dev7"}
    again = await host.post("/api/devices/dev7/unpair")
    assert again.status_code == 409
    assert again.json()["detail"] == "Device 'dev7' is not paired."
    lost = await host.post("/api/devices/dev7/identify")
    assert lost.status_code == 409
    assert (await host.post("/api/devices/dev7/identify", json={"game_id": game_id})).status_code == 202


async def test_a_pairing_the_hub_refuses_is_not_recorded(
    host: httpx.AsyncClient, repo: Repository, hub: FakeHub
) -> None:
    _, game_id = await stored_game(repo)
    team, _ = await issue_team_token(repo, game_id=game_id, name="Owls")
    await repo.record_device_health("dev7", online=True)
    hub.refusals["pair"] = ("unknown_game", f"game {game_id!r} is not running on this hub")
    refused = await host.post("/api/devices/dev7/pair", json={"team_id": team.id})
    assert refused.status_code == 409
    assert refused.json()["detail"] == f"Game {game_id!r} is not running on this hub."
    device = await repo.get_device("dev7")
    assert device is not None
    assert device.team_id is None
    assert (await host.post("/api/devices/dev7/pair", json={"team_id": "nosuch"})).status_code == 404


async def test_integrators_read_devices_but_only_hosts_pair(app: FastAPI, repo: Repository, hub: FakeHub) -> None:
    _, game_id = await stored_game(repo)
    await repo.record_device_health("dev7", online=True)
    tokens = await tokens_for(repo, game_id)
    async with bearer(app, tokens["integrator"]) as integrator:
        assert (await integrator.get("/api/devices")).status_code == 200
        refused = await integrator.post("/api/devices/dev7/identify", json={"game_id": game_id})
        assert refused.status_code == 403
        assert refused.json()["detail"].startswith("This needs the admin or quizmaster role")
    for role in ("team", "display"):
        async with bearer(app, tokens[role]) as client:
            assert (await client.get("/api/devices")).status_code == 403
    assert hub.sent == []
