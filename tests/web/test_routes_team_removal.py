"""A host removes a team: from the hub (`remove_team`), then from the database; its token stops working."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from routes_kit import FakeHub, bearer, signed_in, stored_game

from hub.db.errors import NotFoundError
from web.auth import issue_team_token

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import httpx
    from fastapi import FastAPI

    from hub.db.repository import Repository


@pytest.fixture
async def host(app: FastAPI, repo: Repository, hub: FakeHub) -> AsyncIterator[httpx.AsyncClient]:
    async with signed_in(app, repo, "quizmaster", "quinn") as client:
        yield client


async def test_removing_a_team_tells_the_hub_then_forgets_the_team_and_its_token(
    app: FastAPI, repo: Repository, hub: FakeHub, host: httpx.AsyncClient
) -> None:
    _, game_id = await stored_game(repo)
    owls, token = await issue_team_token(repo, game_id=game_id, name="Owls")
    bats, _ = await issue_team_token(repo, game_id=game_id, name="Bats")
    removed = await host.delete(f"/api/games/{game_id}/teams/{owls.id}")
    assert removed.status_code == 204, removed.text
    ((sent_game, body),) = hub.commands("remove_team")
    assert (sent_game, body["team"], body["actor"]) == (game_id, owls.id, "quinn")
    assert [t.id for t in await repo.list_teams(game_id)] == [bats.id]
    async with bearer(app, token) as gone:
        assert (await gone.get("/api/teams/me")).status_code == 401
    # The name is free again: a team may join under it.
    again, _ = await issue_team_token(repo, game_id=game_id, name="Owls")
    assert again.id != owls.id


async def test_the_hubs_refusal_keeps_the_team(repo: Repository, hub: FakeHub, host: httpx.AsyncClient) -> None:
    _, game_id = await stored_game(repo)
    owls, _ = await issue_team_token(repo, game_id=game_id, name="Owls")
    hub.refusals["remove_team"] = ("team_answering", f"team {owls.id!r} is answering; judge it first")
    refused = await host.delete(f"/api/games/{game_id}/teams/{owls.id}")
    assert refused.status_code == 409
    assert refused.json()["detail"] == f"Team {owls.id!r} is answering; judge it first."
    assert [t.id for t in await repo.list_teams(game_id)] == [owls.id]


async def test_a_team_the_hub_never_had_is_still_removed(
    repo: Repository, hub: FakeHub, host: httpx.AsyncClient
) -> None:
    _, game_id = await stored_game(repo)
    owls, _ = await issue_team_token(repo, game_id=game_id, name="Owls")
    hub.refusals["remove_team"] = ("unknown_team", f"there is no team {owls.id!r}")
    assert (await host.delete(f"/api/games/{game_id}/teams/{owls.id}")).status_code == 204
    assert await repo.list_teams(game_id) == []


async def test_unknown_teams_and_other_games_teams_are_404(
    repo: Repository, hub: FakeHub, host: httpx.AsyncClient
) -> None:
    _, game_id = await stored_game(repo)
    _, other_game = await stored_game(repo)
    theirs, _ = await issue_team_token(repo, game_id=other_game, name="Owls")
    for url in (f"/api/games/{game_id}/teams/{theirs.id}", f"/api/games/{game_id}/teams/nosuchteam"):
        missing = await host.delete(url)
        assert missing.status_code == 404
        assert missing.json()["detail"].startswith(f"Game {game_id} has no team with id")
    assert hub.sent == []
    assert [t.id for t in await repo.list_teams(other_game)] == [theirs.id]
    with pytest.raises(NotFoundError):
        await repo.delete_team("nosuchteam")


async def test_a_team_cannot_remove_itself(app: FastAPI, repo: Repository, hub: FakeHub) -> None:
    _, game_id = await stored_game(repo)
    owls, token = await issue_team_token(repo, game_id=game_id, name="Owls")
    async with bearer(app, token) as team:
        assert (await team.delete(f"/api/games/{game_id}/teams/{owls.id}")).status_code == 403
    assert hub.sent == []
