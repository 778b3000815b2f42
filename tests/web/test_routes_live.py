"""The REST routes against the real hub: the real HubClient, the embedded broker and a running Hub on one database.

A team joins over REST and the hub has it on its scoreboard; the team rejoins with its token and reads its score
from the hub's retained scoreboard; host commands come back with the hub's own replies (200, and 409 with the
hub's sentence).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import TYPE_CHECKING, Any

from routes_kit import bearer, signed_in
from web_testkit import build_app, client_for

from broker.credentials import Role
from hub.db.engine import create_engine, session_factory
from hub.db.repository import Repository
from hub.settings import Settings
from hub.topics import Topics
from tests.hub_arena import hub_marks
from web.fanout import create_broadcast
from web.hubclient import HubClient

if TYPE_CHECKING:
    from pathlib import Path

    from tests.hub.conftest import Arena

# The hub's fixtures (embedded broker, database, running Hub with the demo game): tests/hub_arena.py.
pytestmark = hub_marks(timeout=60)


async def _until(check: Any, what: str) -> None:
    async with asyncio.timeout(10):
        while not check():
            await asyncio.sleep(0.02)
    assert check(), what


async def test_join_rejoin_and_commands_through_the_real_hub(arena: Arena, db_url: str, tmp_path: Path) -> None:
    data = tmp_path / "web"
    data.mkdir()
    engine = create_engine(db_url)
    sessions = session_factory(engine)
    repo = Repository(sessions)
    app = build_app(Settings(data_dir=data, db_url=db_url), sessions)
    game = await repo.get_game(arena.game_id)
    assert game is not None
    try:
        async with create_broadcast("memory://") as bus:
            name = f"web-{uuid.uuid4().hex[:8]}"
            hub = HubClient(arena.env.address(name, Role.SERVICE), broadcast=bus, topics=Topics(arena.env.root))
            async with hub:
                app.state.hub_client = hub
                async with client_for(app) as phone:
                    joined = await phone.post("/api/join", json={"code": game.join_code, "name": "Owls"})
                assert joined.status_code == 201, joined.text
                team_id, token = joined.json()["team"]["id"], joined.json()["token"]

                def on_board() -> bool:
                    raw = hub.retained(arena.game_id).get("scores")
                    return bool(raw) and any(t["team"] == team_id for t in json.loads(raw)["teams"])

                await _until(on_board, "the hub's scoreboard lists the team that joined over REST")
                async with bearer(app, token) as team:
                    me = (await team.get("/api/teams/me")).json()
                assert (me["team"]["id"], me["score"], me["rank"]) == (team_id, 0, 1)

                async with signed_in(app, repo, "quizmaster", "quinn") as host:
                    shown = await host.post(f"/api/games/{arena.game_id}/commands", json={"cmd": "show", "q": 0})
                    assert shown.status_code == 200, shown.text
                    assert shown.json()["result"]["seq"] >= 2
                    refused = await host.post(
                        f"/api/games/{arena.game_id}/commands", json={"cmd": "judge", "verdict": "right"}
                    )
                    assert refused.status_code == 409, refused.text
                    assert refused.json()["detail"].endswith(".")
                    await _until(
                        lambda: json.loads(hub.retained(arena.game_id)["state"])["phase"] == "question",
                        "the retained state moved to the question",
                    )
                    live = (await host.get(f"/api/games/{arena.game_id}")).json()["live"]
                    assert live["state"]["phase"] == "question"
                    assert live["question"]["text"]
                    assert "answer" not in live["question"]
                    taken = await host.post("/api/join", json={"code": game.join_code, "name": "Owls"})
                    assert taken.status_code == 409
    finally:
        await engine.dispose()
