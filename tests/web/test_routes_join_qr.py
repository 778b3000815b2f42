"""The join QR by code (``GET /api/join/qr.svg?code=``): what a big screen's ``<img>`` loads in the lobby.

An ``<img>`` cannot send the display token, so this route is public; it draws the code it is given without looking
it up, so it is the same picture the game's own (role-checked) QR route gives, and it says nothing about which codes
exist."""

from __future__ import annotations

from typing import TYPE_CHECKING

from routes_kit import signed_in, stored_game
from web_testkit import client_for

if TYPE_CHECKING:
    from fastapi import FastAPI

    from hub.db.repository import Repository


async def test_the_code_qr_is_the_games_join_qr_for_anyone(app: FastAPI, repo: Repository) -> None:
    _, game_id = await stored_game(repo)
    game = await repo.get_game(game_id)
    assert game is not None
    async with signed_in(app, repo, "quizmaster") as host:
        by_game = await host.get(f"/api/games/{game_id}/qr.svg")
    async with client_for(app) as anyone:
        by_code = await anyone.get("/api/join/qr.svg", params={"code": game.join_code})
        unknown = "000000" if game.join_code != "000000" else "111111"
        other = await anyone.get("/api/join/qr.svg", params={"code": unknown})
    assert by_code.status_code == 200, by_code.text
    assert by_code.headers["content-type"] == "image/svg+xml"
    assert by_code.text == by_game.text
    assert f"Join with code {game.join_code}" in by_code.text
    assert other.status_code == 200  # an unknown code is drawn too: no lookup, no oracle
    assert other.text != by_code.text


async def test_a_code_that_is_not_six_digits_is_refused(app: FastAPI) -> None:
    async with client_for(app) as anyone:
        for params in ({"code": "12345"}, {"code": "abcdef"}, {}):
            response = await anyone.get("/api/join/qr.svg", params=params)
            assert response.status_code == 422, (params, response.text)
