"""Game routes: create from a quiz, join code and QR, state, host commands through the hub, results."""

from __future__ import annotations

import csv
import io
from typing import TYPE_CHECKING

import pytest
from routes_kit import FakeHub, bearer, signed_in, stored_game, tokens_for

from hub.db.models import GameStatus
from hub.db.repository import NewResult

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import httpx
    from fastapi import FastAPI

    from hub.db.repository import Repository


@pytest.fixture
async def host(app: FastAPI, repo: Repository) -> AsyncIterator[httpx.AsyncClient]:
    async with signed_in(app, repo, "quizmaster", "quinn") as client:
        yield client


async def test_create_a_game_with_a_join_code_and_a_qr_code(host: httpx.AsyncClient, repo: Repository) -> None:
    quiz_id, _ = await stored_game(repo)
    created = await host.post("/api/games", json={"quiz_id": quiz_id})
    assert created.status_code == 201, created.text
    game = created.json()
    assert game["status"] == "lobby"
    assert len(game["join_code"]) == 6
    assert game["join_code"].isdigit()
    assert game["join_url"] == f"http://testserver/join?code={game['join_code']}"
    assert game["host_id"] == (await repo.get_user_by_name("quinn")).id  # type: ignore[union-attr]
    qr = await host.get(f"/api/games/{game['id']}/qr.svg")
    assert qr.status_code == 200
    assert qr.headers["content-type"] == "image/svg+xml"
    assert qr.text.lstrip().startswith("<svg")
    assert f"Join with code {game['join_code']}" in qr.text
    assert "http" not in qr.text.split("xmlns", 1)[0]  # nothing fetched from anywhere
    listed = (await host.get("/api/games")).json()
    assert game["id"] in [g["id"] for g in listed]
    assert [g["id"] for g in (await host.get("/api/games", params={"status": "finished"})).json()] == []


async def test_a_game_needs_a_quiz_with_questions(host: httpx.AsyncClient) -> None:
    missing = await host.post("/api/games", json={"quiz_id": 999})
    assert missing.status_code == 404
    assert missing.json()["detail"] == "There is no quiz with id 999."
    empty = (await host.post("/api/quizzes", json={"title": "Empty"})).json()["id"]
    refused = await host.post("/api/games", json={"quiz_id": empty})
    assert refused.status_code == 409
    assert "has no questions yet" in refused.json()["detail"]


async def test_state_shows_teams_and_the_hubs_latest_documents(
    app: FastAPI, host: httpx.AsyncClient, repo: Repository, hub: FakeHub
) -> None:
    _, game_id = await stored_game(repo)
    tokens = await tokens_for(repo, game_id)
    plain = (await host.get(f"/api/games/{game_id}")).json()
    assert plain["live"] is None
    assert [t["name"] for t in plain["teams"]] == ["Owls"]
    hub.docs[(game_id, "state")] = {"game": game_id, "seq": 3, "phase": "armed"}
    hub.docs[(game_id, "scores")] = {"teams": []}
    for token in (tokens["team"], tokens["display"], tokens["integrator"]):
        async with bearer(app, token) as client:
            body = (await client.get(f"/api/games/{game_id}")).json()
            assert body["live"]["state"]["phase"] == "armed"
            assert body["live"]["question"] is None
    assert (await host.get("/api/games/nosuchgame")).status_code == 404


async def test_teams_and_displays_see_only_their_own_game(app: FastAPI, repo: Repository) -> None:
    _, game_id = await stored_game(repo)
    _, other_id = await stored_game(repo)
    tokens = await tokens_for(repo, game_id)
    for role in ("team", "display"):
        async with bearer(app, tokens[role]) as client:
            refused = await client.get(f"/api/games/{other_id}")
            assert refused.status_code == 403
            assert refused.json()["detail"].endswith(f"it cannot be used for game {other_id}.")
            assert (await client.get(f"/api/games/{other_id}/results")).status_code == 403
            listed = await client.get("/api/games")
            assert listed.status_code == 403
    async with bearer(app, tokens["team"]) as team:
        assert (await team.get(f"/api/games/{game_id}/qr.svg")).status_code == 403


async def test_host_commands_are_forwarded_and_answered_with_the_hubs_reply(
    host: httpx.AsyncClient, repo: Repository, hub: FakeHub
) -> None:
    _, game_id = await stored_game(repo)
    ok = await host.post(f"/api/games/{game_id}/commands", json={"cmd": "show", "q": 0})
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"ok": True, "result": {"seq": 1}}
    sent_game, body = hub.sent[-1]
    assert sent_game == game_id
    assert body["cmd"] == "show"
    assert body["q"] == 0
    assert body["actor"] == "quinn"
    assert "id" not in body  # the hub client sets it

    hub.refusals["judge"] = ("wrong_phase", "cannot judge: nobody has buzzed on question 0 yet")
    conflict = await host.post(f"/api/games/{game_id}/commands", json={"cmd": "judge", "verdict": "right"})
    assert conflict.status_code == 409
    assert conflict.json()["detail"] == "Cannot judge: nobody has buzzed on question 0 yet."
    hub.refusals["adjust"] = ("unknown_team", "no team 'zz' in this game")
    bad = await host.post(
        f"/api/games/{game_id}/commands", json={"cmd": "adjust", "team": "zz", "delta": 5, "reason": "r"}
    )
    assert bad.status_code == 422
    assert bad.json()["detail"] == "No team 'zz' in this game."
    hub.refusals["end"] = ("internal", "the game hit an internal error")
    assert (await host.post(f"/api/games/{game_id}/commands", json={"cmd": "end"})).status_code == 502
    unknown = await host.post(f"/api/games/{game_id}/commands", json={"cmd": "explode"})
    assert unknown.status_code == 422
    incomplete = await host.post(f"/api/games/{game_id}/commands", json={"cmd": "judge"})
    assert incomplete.status_code == 422
    assert incomplete.json()["detail"].startswith("This judge command is not valid: verdict: ")
    assert len(hub.sent) == 4


async def test_commands_without_a_hub_get_503_with_a_sentence(host: httpx.AsyncClient, repo: Repository) -> None:
    _, game_id = await stored_game(repo)
    refused = await host.post(f"/api/games/{game_id}/commands", json={"cmd": "arm"})
    assert refused.status_code == 503
    assert refused.json()["detail"].startswith("The hub is not connected")


async def test_only_hosts_send_commands(app: FastAPI, repo: Repository, hub: FakeHub) -> None:
    _, game_id = await stored_game(repo)
    for role, token in (await tokens_for(repo, game_id)).items():
        async with bearer(app, token) as client:
            refused = await client.post(f"/api/games/{game_id}/commands", json={"cmd": "arm"})
            assert refused.status_code == 403, role
            assert refused.json()["detail"].startswith("This needs the admin or quizmaster role")
    assert hub.sent == []


async def test_results_as_json_and_csv(app: FastAPI, host: httpx.AsyncClient, repo: Repository) -> None:
    _, game_id = await stored_game(repo)
    tokens = await tokens_for(repo, game_id)
    assert (await host.get(f"/api/games/{game_id}/results")).json() == []
    await repo.save_results(game_id, [NewResult("Owls", 30, 1), NewResult("Bats, Inc.", 10, 2)])
    await repo.set_game_status(game_id, GameStatus.FINISHED)
    async with bearer(app, tokens["display"]) as display:
        results = (await display.get(f"/api/games/{game_id}/results")).json()
    assert [(r["team_name"], r["score"], r["rank"]) for r in results] == [("Owls", 30, 1), ("Bats, Inc.", 10, 2)]
    exported = await host.get(f"/api/games/{game_id}/results.csv")
    assert exported.headers["content-type"].startswith("text/csv")
    assert f"results-{game_id}.csv" in exported.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0] == ["rank", "team", "score", "team_id"]
    assert rows[2][:3] == ["2", "Bats, Inc.", "10"]


async def test_display_token_and_delete(app: FastAPI, host: httpx.AsyncClient, repo: Repository) -> None:
    _, game_id = await stored_game(repo)
    issued = await host.post(f"/api/games/{game_id}/display-tokens", json={"name": "bar screen"})
    assert issued.status_code == 201
    async with bearer(app, issued.json()["token"]) as screen:
        assert (await screen.get(f"/api/games/{game_id}")).status_code == 200
        assert (await screen.post(f"/api/games/{game_id}/display-tokens", json={})).status_code == 403
    await repo.set_game_status(game_id, GameStatus.RUNNING)
    refused = await host.delete(f"/api/games/{game_id}")
    assert refused.status_code == 409
    assert refused.json()["detail"] == f"Game {game_id} is running; end it before deleting it."
    await repo.set_game_status(game_id, GameStatus.FINISHED)
    assert (await host.delete(f"/api/games/{game_id}")).status_code == 204
    assert await repo.get_game(game_id) is None
