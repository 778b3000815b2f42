"""A real game on SQLite logs through the lean writer (hub/db/sqlite_append.py), its status changes included.

The service passes the game's status with every in-game append (RUNNING, FINISHED at the end); the repository's
counters say which path each append took.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from hub.core.transitions import Phase
from hub.db.models import GameStatus

if TYPE_CHECKING:
    from tests.hub.conftest import Arena


@pytest.mark.parametrize(("mqtt_env", "db_url"), [("embedded", "sqlite")], indirect=True)
async def test_a_game_on_sqlite_appends_through_the_lean_writer_and_its_status_lands(arena: Arena) -> None:
    repo = arena.hub.repo
    assert repo.append_path == "sqlite3"
    await arena.host.ok("add_team", team="red", name="Red")
    buzzer = await arena.buzzer("lean-a")
    await arena.host.ok("pair", device="lean-a", team="red")
    await buzzer.wait_for("config")
    await arena.host.ok("show")
    listed = await repo.get_game(arena.game_id)
    assert listed is not None
    assert listed.status is GameStatus.RUNNING
    assert listed.started_at is not None
    await arena.host.ok("arm")
    await buzzer.wait_for("armed")

    before = repo.fast_appends
    await buzzer.press()
    rt = arena.hub.service.games[arena.game_id]
    await arena.hub.service.wait_for(lambda: rt.game.phase is Phase.BUZZED, timeout=10)
    await arena.host.ok("judge", verdict="right")  # answered after its append
    assert repo.fast_appends > before  # the buzz, its ruling and the judgement: in-game appends, status RUNNING

    await arena.host.ok("end")
    finished = await repo.get_game(arena.game_id)
    assert finished is not None
    assert (finished.status, finished.started_at) == (GameStatus.FINISHED, listed.started_at)
    assert finished.finished_at is not None
    # Every append of the game, the status changes included, went through the lean writer; none through SQLAlchemy.
    assert repo.slow_appends == 0
