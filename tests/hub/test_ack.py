"""A buzz is acknowledged to the broker only once it is in the log (paho manual ack, hub/transport.py).

A real `quizhub hub` process takes a buzz off the broker and is SIGKILLed while that buzz's append waits on a row
lock the test holds in PostgreSQL. Acknowledged on receipt, the buzz would be gone; acknowledged after the append,
the broker gives it to the hub's persistent session again when the hub comes back, and the hub rules it, once.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Any

import pytest

from tests.hub.test_failover import _blocked_append, _game_row_locked, _log, _press_keys
from tests.hub.test_recovery import Rig, _start, rig

if TYPE_CHECKING:
    from tests.hub.conftest import Arena

__all__ = ["rig"]  # the fixture, shared with the recovery test


@pytest.mark.slow
@pytest.mark.parametrize(
    ("mqtt_env", "db_url"),
    [pytest.param("embedded", "postgres", marks=pytest.mark.postgres),
     pytest.param("mosquitto", "postgres", marks=pytest.mark.postgres)],
    indirect=True,
)
async def test_a_buzz_taken_but_not_logged_is_redelivered_and_logged_once(rig: Rig) -> None:
    w, host = rig.watcher, rig.host
    red, blue = rig.buzzers["red"], rig.buzzers["blue"]
    await _start(rig, "first start", hellos=0)
    await host.pair_and_arm(red, blue, waiting=(red,))

    async with _game_row_locked(rig.db_url, rig.game_id) as lock:
        buzz = await red.press()
        stuck = await _blocked_append(rig.db_url)  # the hub has the buzz; its append waits
        await rig.hub.kill()
        await lock.execute("SELECT pg_terminate_backend($1)", stuck)
    await w.until(lambda: w.hub_status[-1:] == ["offline"], "the hub's Will")

    await _start(rig, "restart", hellos=2)
    await w.until(lambda: (w.state().get("last_ruling") or {}).get("q") == 0, "the ruling of the redelivered buzz")
    assert w.state()["last_ruling"]["winner"]["team"] == "red"
    await red.wait_for("won")

    log = await _log(rig.db_url, rig.game_id)
    assert [e.seq for e in log] == list(range(1, len(log) + 1))
    assert _press_keys(log) == [(red.device_id, buzz["boot"], buzz["seq"])]


@pytest.mark.parametrize(("mqtt_env", "db_url"), [("embedded", "sqlite")], indirect=True)
async def test_a_command_sent_twice_with_one_id_runs_once_and_is_answered_twice(arena: Arena) -> None:
    host = arena.host
    body = json.dumps({"id": "same", "client": host.client_id, "cmd": "add_team", "team": "red", "name": "Red"})
    replies: list[dict[str, Any]] = []
    for _ in range(2):
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        host.replies["same"] = fut
        await host.client.publish(f"{arena.env.root}/games/{arena.game_id}/commands", body, qos=1)
        async with asyncio.timeout(10):
            replies.append(await fut)
    assert replies[0] == replies[1]
    assert replies[0]["ok"]
    kinds = [e.type for e in await arena.hub.repo.load_events(arena.game_id)]
    assert kinds.count("team.added") == 1
    assert arena.hub.service.counters["duplicate_command"] == 1
