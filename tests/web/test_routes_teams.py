"""Team routes: join with the code and a name (the hub gets the team too), rejoin with the token."""

from __future__ import annotations

from typing import TYPE_CHECKING

from routes_kit import FakeHub, bearer, stored_game
from web_testkit import client_for

from hub.db.models import GameStatus

if TYPE_CHECKING:
    from fastapi import FastAPI

    from hub.db.repository import Repository
    from hub.settings import Settings


async def _code(repo: Repository, game_id: str) -> str:
    game = await repo.get_game(game_id)
    assert game is not None
    return game.join_code


async def test_join_adds_the_team_to_db_and_hub_and_the_token_rejoins(
    app: FastAPI, repo: Repository, hub: FakeHub
) -> None:
    _, game_id = await stored_game(repo)
    async with client_for(app) as phone:
        joined = await phone.post(
            "/api/join", json={"code": await _code(repo, game_id), "name": " Owls ", "color": "#e33"}
        )
    assert joined.status_code == 201, joined.text
    team, token = joined.json()["team"], joined.json()["token"]
    assert token.startswith("qht_")
    assert team["name"] == "Owls"
    assert team["game_id"] == game_id
    assert [t.id for t in await repo.list_teams(game_id)] == [team["id"]]
    ((sent_game, body),) = hub.commands("add_team")
    assert sent_game == game_id
    assert (body["team"], body["name"]) == (team["id"], "Owls")

    hub.docs[(game_id, "scores")] = {"teams": [{"team": team["id"], "name": "Owls", "score": 30, "rank": 1}]}
    async with bearer(app, token) as rejoined:
        me = await rejoined.get("/api/teams/me")
    assert me.status_code == 200
    assert me.json()["team"]["id"] == team["id"]
    assert me.json()["game"]["id"] == game_id
    assert (me.json()["score"], me.json()["rank"]) == (30, 1)
    assert "token" not in me.json()


async def test_join_refusals_are_sentences(app: FastAPI, repo: Repository, hub: FakeHub) -> None:
    _, game_id = await stored_game(repo)
    code = await _code(repo, game_id)
    async with client_for(app) as phone:
        assert (await phone.post("/api/join", json={"code": code, "name": "Owls"})).status_code == 201
        taken = await phone.post("/api/join", json={"code": code, "name": "Owls"})
        assert taken.status_code == 409
        assert "already has a team named 'Owls'" in taken.json()["detail"]
        wrong = "000000" if code != "000000" else "111111"
        unknown = await phone.post("/api/join", json={"code": wrong, "name": "Bats"})
        assert unknown.status_code == 404
        assert unknown.json()["detail"] == f"No game is open with code {wrong}; check the code on the screen."
        await repo.set_game_status(game_id, GameStatus.FINISHED)
        assert (await phone.post("/api/join", json={"code": code, "name": "Late"})).status_code == 404
        assert (await phone.post("/api/join", json={"code": "12ab56", "name": "Bad"})).status_code == 422
    assert len(hub.commands("add_team")) == 1


async def test_a_team_the_hub_refuses_is_not_left_in_the_database(app: FastAPI, repo: Repository, hub: FakeHub) -> None:
    _, game_id = await stored_game(repo)
    hub.refusals["add_team"] = ("wrong_phase", "teams join in the lobby only")
    async with client_for(app) as phone:
        refused = await phone.post("/api/join", json={"code": await _code(repo, game_id), "name": "Owls"})
    assert refused.status_code == 409
    assert refused.json()["detail"] == "Teams join in the lobby only."
    assert await repo.list_teams(game_id) == []


async def test_join_without_a_hub_creates_nothing(app: FastAPI, repo: Repository) -> None:
    _, game_id = await stored_game(repo)
    async with client_for(app) as phone:
        refused = await phone.post("/api/join", json={"code": await _code(repo, game_id), "name": "Owls"})
    assert refused.status_code == 503
    assert await repo.list_teams(game_id) == []


async def test_join_is_rate_limited(settings: Settings, db: object, repo: Repository) -> None:
    from web_testkit import build_app  # noqa: PLC0415

    app = build_app(settings.model_copy(update={"join_rate_per_minute": 2}), db)  # type: ignore[arg-type]
    app.state.hub_client = FakeHub()
    async with client_for(app) as phone:
        answers = [(await phone.post("/api/join", json={"code": "123456", "name": "Owls"})) for _ in range(3)]
    assert [a.status_code for a in answers] == [404, 404, 429]
    assert answers[2].headers["Retry-After"]
    assert answers[2].json()["detail"].startswith("Too many join attempts from your address")


async def test_teams_me_needs_a_team_token(app: FastAPI, repo: Repository) -> None:
    async with client_for(app) as anonymous:
        assert (await anonymous.get("/api/teams/me")).status_code == 401
    async with bearer(app, "qht_nonsense") as forged:
        refused = await forged.get("/api/teams/me")
        assert refused.status_code == 401
        assert refused.json()["detail"].startswith("This bearer token is unknown or revoked")
