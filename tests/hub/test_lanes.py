"""Games are handled side by side, each game's messages in arrival order (hub/service.py, the lanes).

Both tests hold a game's row lock in PostgreSQL from a connection of the test's own, so that game's next log append
waits (the trick of test_failover.py): a real hub, a real broker, real buzzers.
"""

from __future__ import annotations

import asyncio
import functools
import json
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from hub.core.transitions import Phase
from tests.hub.conftest import HostClient
from tests.hub.test_failover import _blocked_append, _game_row_locked, _log

if TYPE_CHECKING:
    from collections.abc import Callable

    from hub.simulator import VirtualBuzzer
    from tests.hub.conftest import Arena

# Grace 0: a press is ruled in the same step that logs it, so a ruling needs nothing but the game's own lane.
ZERO_GRACE = {"grace_us": 0, "grace_from_clocks": False}


async def _until(predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``predicate``: what it reads (the transport's counters) announces no change one could wait on."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


async def _new_game(arena: Arena) -> HostClient:
    """Another game on the arena's hub, opened, with a host client on it (the arena's pump serves its replies)."""
    quiz_id = (await arena.hub.repo.get_game(arena.game_id)).quiz_id  # type: ignore[union-attr]
    game = await arena.hub.repo.create_game(quiz_id, settings=ZERO_GRACE)
    await arena.hub.service.open_game(game.id)
    host = HostClient(arena.host.client, arena.env.root, game.id, arena.host.client_id)
    host.replies = arena.host.replies
    await arena.host.client.subscribe(f"{arena.env.root}/games/{game.id}/replies/{arena.host.client_id}", qos=1)
    return host


async def _armed_with(arena: Arena, host: HostClient, devices: list[str]) -> list[VirtualBuzzer]:
    """Two teams, ``devices`` paired to them in turn, the first question shown and armed at every buzzer."""
    await host.ok("add_team", team="red", name="Red")
    await host.ok("add_team", team="blue", name="Blue")
    buzzers = [await arena.buzzer(d) for d in devices]
    for i, b in enumerate(buzzers):
        await host.ok("pair", device=b.device_id, team=("red", "blue")[i % 2])
        await b.wait_for("config")
    await host.ok("show")
    await host.ok("arm")
    for b in buzzers:
        await b.wait_for("armed")
    return buzzers


@pytest.mark.parametrize(
    ("mqtt_env", "db_url"),
    [pytest.param("embedded", "postgres", marks=pytest.mark.postgres),
     pytest.param("mosquitto", "postgres", marks=pytest.mark.postgres)],
    indirect=True,
)
async def test_a_game_whose_log_is_blocked_does_not_hold_up_another_games_buzz(arena: Arena, db_url: str) -> None:
    tag = uuid.uuid4().hex[:6]
    host_a, host_b = await _new_game(arena), await _new_game(arena)
    (a,) = await _armed_with(arena, host_a, [f"lane-a-{tag}"])
    (b,) = await _armed_with(arena, host_b, [f"lane-b-{tag}"])

    async with _game_row_locked(db_url, host_a.game):
        await a.press()
        await _blocked_append(db_url)  # game A's hub has the press; its append waits on our lock
        await b.press()
        # One receive loop and one commit at a time would keep B's buzz behind A's append until the lock goes.
        await b.wait_for("won", timeout=10)
        await _blocked_append(db_url, timeout=1)  # ... and A's is still waiting, not done and not given up
        assert [e.type for e in await _log(db_url, host_a.game)].count("buzz.received") == 0
    await a.wait_for("won", timeout=10)  # released: A's press is logged and ruled as well

    for host, device in ((host_a, a.device_id), (host_b, b.device_id)):
        log = await _log(db_url, host.game)
        assert [e.seq for e in log] == list(range(1, len(log) + 1))
        assert [e.payload["press"]["device"] for e in log if e.type == "buzz.received"] == [device]
        assert [e.payload["winner_device"] for e in log if e.type == "buzz.ruled"] == [device]
    # The hub goes on as before: a command in each game is answered.
    await host_a.ok("judge", verdict="right")
    await host_b.ok("judge", verdict="wrong")


@pytest.mark.parametrize(("mqtt_env", "db_url"), [pytest.param("embedded", "postgres", marks=pytest.mark.postgres)],
                         indirect=True)
async def test_one_games_inputs_are_logged_in_arrival_order_while_they_queue(arena: Arena, db_url: str) -> None:
    host = await _new_game(arena)
    service, transport = arena.hub.service, arena.hub.transport

    # A burst of commands from one host, all waiting behind a blocked append: logged in the order sent.
    teams = [f"t{i:02d}" for i in range(30)]
    loop = asyncio.get_running_loop()
    replies: list[asyncio.Future[dict[str, Any]]] = []
    async with _game_row_locked(db_url, host.game):
        for i, team in enumerate(teams):
            cid = f"burst{i}"
            replies.append(loop.create_future())
            host.replies[cid] = replies[-1]
            body = {"id": cid, "client": host.client_id, "cmd": "add_team", "team": team, "name": team.upper()}
            await host.client.publish(f"{arena.env.root}/games/{host.game}/commands", json.dumps(body), qos=1)
        await _blocked_append(db_url)
    async with asyncio.timeout(15):
        answered = await asyncio.gather(*replies)
    assert all(r["ok"] for r in answered), answered
    log = await _log(db_url, host.game)
    assert [e.payload["team"] for e in log if e.type == "team.added"] == teams

    # A burst of presses from four buzzers (three each), all waiting behind a blocked append: logged in arrival order.
    buzzers = await _armed_with(arena, host, [f"ord-{i}-{uuid.uuid4().hex[:4]}" for i in range(4)])
    async with _game_row_locked(db_url, host.game):
        received = transport.counters["received"]
        for _ in range(3):
            for b in buzzers:
                await b.press()
        await _blocked_append(db_url)
        await _until(lambda: transport.counters["received"] >= received + 12)  # the receive loop takes all in
    await service.wait_for(
        lambda: len(service.games[host.game].presses) >= 12 and service.games[host.game].game.phase is Phase.BUZZED,
        timeout=15,
    )
    presses = [e.payload["press"] for e in await _log(db_url, host.game) if e.type == "buzz.received"]
    assert len(presses) == 12
    arrivals = [p["arrival_us"] for p in presses]
    assert arrivals == sorted(arrivals), "the log's presses are not in the order the hub received them"
    per_device = {b.device_id: [p["seq"] for p in presses if p["device"] == b.device_id] for b in buzzers}
    assert all(seqs == [1, 2, 3] for seqs in per_device.values()), per_device


@pytest.mark.parametrize("mqtt_env", ["embedded"], indirect=True)
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_shutdown_ends_a_lane_whose_job_swallowed_the_cancel(arena: Arena) -> None:
    # Python 3.11's asyncio.wait_for (under aiomqtt's publish) returns the result and drops a cancel that lands as
    # the awaited reply arrives. The lane's worker then goes on to wait for its next job; shutdown must still end,
    # and every job still queued in any game's lane is cancelled (never acknowledged).
    async def swallows_the_cancel(started: asyncio.Event) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            return

    async def never_run() -> None:
        raise AssertionError("a job queued behind shutdown ran")

    service = arena.hub.service
    games = [arena.game_id, (await _new_game(arena)).game]
    queued = []
    for game_id in games:
        started = asyncio.Event()
        service._enqueue(game_id, functools.partial(swallows_the_cancel, started), "test/swallow")
        await started.wait()
        queued.append(service._enqueue(game_id, never_run, "test/queued", late=True))
    workers = [service._lanes[game_id].task for game_id in games]
    async with asyncio.timeout(5) as deadline:
        await service.stop()
    assert not deadline.expired(), "stop() waited on a worker until the deadline (and swallowed its cancel)"
    assert all(worker.done() for worker in workers)
    assert [future is not None and future.cancelled() for future in queued] == [True, True]
