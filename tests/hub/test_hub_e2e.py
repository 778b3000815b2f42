"""A game played end to end through a real broker and a real database, with simulated ESP32 buzzers.

Runs on {embedded amqtt, this machine's Mosquitto} x {SQLite, PostgreSQL}.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

import pytest

from hub.core.transitions import Phase

if TYPE_CHECKING:
    from hub.simulator import VirtualBuzzer
    from tests.hub.conftest import Arena


async def _synced(arena: Arena, *devices: str, samples: int = 12) -> None:
    """Wait until the hub has a full sync burst from each device (its one-way bound covers the link's jitter)."""
    rt = arena.hub.service.games[arena.game_id]
    links = arena.hub.service.links

    def ready() -> bool:
        rows = {r["device"]: r for r in rt.game.devices_snapshot()}
        return all(rows.get(d, {}).get("synced") and links[d].clock.samples >= samples for d in devices)

    await arena.hub.service.wait_for(ready, timeout=15)


async def _setup_two_teams(arena: Arena, jitter_ms: float = 0.0) -> tuple[VirtualBuzzer, VirtualBuzzer]:
    await arena.host.ok("add_team", team="red", name="Red <b>Team</b>")
    await arena.host.ok("add_team", team="blue", name="Blue")
    # Clock offsets far apart (device clocks start near zero at boot) and opposite drifts.
    # Their links are jittery (the hub measures that through sync); the buzzes themselves are sent at once.
    a = await arena.buzzer("bz-a", offset_us=3_000_000, drift_ppm=120.0, jitter_ms=jitter_ms, jitter_on_buzz=False)
    b = await arena.buzzer("bz-b", offset_us=9_500_000_000, drift_ppm=-150.0, jitter_ms=jitter_ms,
                           jitter_on_buzz=False)
    await arena.host.ok("pair", device="bz-a", team="red")
    await arena.host.ok("pair", device="bz-b", team="blue")
    await a.wait_for("config")
    await b.wait_for("config")
    await _synced(arena, "bz-a", "bz-b")
    return a, b


async def _race_blue_earlier_red_first(arena: Arena, a: VirtualBuzzer, b: VirtualBuzzer) -> dict[str, Any]:
    """One question: blue presses 30 ms before red on its own clock, but red's buzz reaches the hub first."""
    await arena.host.ok("show")
    await arena.host.ok("arm")
    await a.wait_for("armed")
    await b.wait_for("armed")
    # Players react a human moment after the lights go on; without this pause blue's press, 30 ms before red's,
    # would fall before the arm and be (rightly) ruled a false start. It is the scenario, not synchronisation.
    await asyncio.sleep(0.1)
    # Blue's buzz is held up (within the latency the hub measured on its link) and reaches the hub after red's:
    # arrival order says red, device time says blue.
    now_ns = time.monotonic_ns()
    await a.press()
    await b.press(t_us=b.clock.at(now_ns - 30_000_000))
    rt = arena.hub.service.games[arena.game_id]
    await arena.hub.service.wait_for(lambda: rt.game.phase is Phase.BUZZED, timeout=10)
    ruling: dict[str, Any] = rt.game.state_snapshot()["last_ruling"]
    arrivals = {r["team"]: r["arrival_us"] for r in ruling["order"]}
    assert arrivals["blue"] > arrivals["red"]
    return ruling


@pytest.mark.slow
async def test_earlier_device_press_wins_even_when_it_arrives_second(arena: Arena) -> None:
    a, b = await _setup_two_teams(arena, jitter_ms=40.0)
    # The hub may honestly call a race too close when a loaded machine delays the second buzz past the bound it
    # measured for that link. That is a correct answer, not a win for red, so the race runs up to three times: red
    # (arrival order) must never win, and blue must win at least once.
    ruling: dict[str, Any] = {}
    for attempt in range(3):
        if attempt:
            await arena.host.ok("skip")
        ruling = await _race_blue_earlier_red_first(arena, a, b)
        assert ruling["winner_team"] != "red", ruling
        if not ruling["too_close"]:
            break
    assert ruling["winner_team"] == "blue", f"too close to call in all three races: {ruling}"
    order = [r["team"] for r in ruling["order"]]
    assert order == ["blue", "red"]
    first, second = ruling["order"]
    # The clock models map both presses onto the hub clock: their difference is the true 30 ms within the stated
    # error. (The credited gap may be smaller: a press is never credited earlier than arrival minus the measured
    # one-way bound, and a loaded CI box adds queueing delay to the second buzz.)
    mapped_gap = second["t_hub_us"] - first["t_hub_us"]
    assert abs(mapped_gap - 30_000) <= first["uncertainty_us"] + second["uncertainty_us"]
    assert 0 < second["gap_us"] <= mapped_gap + 1
    # Every buzzer hears the ruling: the winner lights up, the other locks.
    await b.wait_for("won")
    await a.wait_for("locked")


@pytest.mark.slow
async def test_full_round_scores_logs_and_publishes_retained_state(arena: Arena) -> None:
    a, b = await _setup_two_teams(arena)
    await arena.host.ok("show")
    await arena.host.ok("arm")
    await a.wait_for("armed")
    await a.press()
    rt = arena.hub.service.games[arena.game_id]
    await arena.hub.service.wait_for(lambda: rt.game.phase is Phase.BUZZED)
    await arena.host.ok("judge", verdict="wrong")  # red is wrong: re-armed for blue only
    await b.wait_for("armed")
    await b.press()
    await arena.hub.service.wait_for(
        lambda: rt.game.phase is Phase.BUZZED and rt.game.state_snapshot()["answering_team"] == "blue"
    )
    reply = await arena.host.ok("judge", verdict="right")
    assert reply["result"]["seq"] == rt.next_seq - 1
    scores = dict(rt.game.scores)
    q = rt.game.quiz.questions[0]
    assert scores == {"red": -q.penalty, "blue": q.points}

    # The log is continuous and replays into the same scores.
    stored = await arena.hub.repo.load_events(arena.game_id)
    assert [e.seq for e in stored] == list(range(1, len(stored) + 1))

    # Retained state as a late subscriber (an OBS overlay) sees it.
    from broker.credentials import Role  # noqa: PLC0415
    from hub.mqttclient import make_client  # noqa: PLC0415

    viewer = make_client(arena.env.address("overlay1", Role.INTEGRATOR), identifier="overlay1")
    async with viewer:
        await viewer.subscribe(f"{arena.env.root}/games/{arena.game_id}/scores", qos=1)
        async with asyncio.timeout(5):
            msg = await anext(aiter(viewer.messages))
        board = json.loads(bytes(msg.payload))  # type: ignore[arg-type]
        assert [(t["team"], t["score"], t["rank"]) for t in board["teams"]] == [
            ("blue", q.points, 1), ("red", -q.penalty, 2)
        ]
        names = {t["team"]: t["name"] for t in board["teams"]}
        assert names["red"] == "Red <b>Team</b>"  # user text travels verbatim; pages escape it


async def test_bad_device_input_is_answered_on_its_error_topic_and_never_crashes(arena: Arena) -> None:
    a = await arena.buzzer("bz-bad")
    client = a._client
    assert client is not None
    await client.publish(f"{arena.env.root}/devices/bz-bad/buzz", b"{not json", qos=1)
    err = await a.wait_for("error")
    assert err.data["code"] == "malformed"
    await client.publish(f"{arena.env.root}/devices/bz-bad/buzz", json.dumps({"seq": -1, "boot": 1, "t_us": 5}), qos=1)
    err = await a.wait_for("error")
    assert err.data["code"] == "invalid"
    assert "seq" in err.data["message"]
    # The hub still works: a host command succeeds afterwards.
    await arena.host.ok("add_team", team="green", name="Green")


async def test_host_command_errors_are_replied_with_a_sentence(arena: Arena) -> None:
    reply = await arena.host.send("arm")  # nothing shown yet
    assert not reply["ok"]
    assert reply["error"]["code"] == "wrong_phase"
    assert "lobby" in reply["error"]["message"]
    reply = await arena.host.send("pair", device="nope", team="ghosts")
    assert not reply["ok"]
    assert "ghosts" in reply["error"]["message"]
    reply = await arena.host.send("judge", verdict="maybe")  # schema violation, still answered
    assert not reply["ok"]
    assert reply["error"]["code"] == "invalid"


async def test_oversized_and_replayed_buzzes_are_refused_or_ignored_without_harm(arena: Arena) -> None:
    await arena.host.ok("add_team", team="red", name="Red")
    a = await arena.buzzer("bz-dup")
    await arena.host.ok("pair", device="bz-dup", team="red")
    await a.wait_for("config")
    client = a._client
    assert client is not None
    topic = f"{arena.env.root}/devices/bz-dup/buzz"
    await client.publish(topic, b'{"seq":1,"boot":1,"t_us":5,"pad":"' + b"x" * 5000 + b'"}', qos=1)
    err = await a.wait_for("error")
    assert err.data["code"] == "too_large"

    await arena.host.ok("show")
    await arena.host.ok("arm")
    await a.wait_for("armed")
    buzz = await a.press()
    await client.publish(topic, json.dumps(buzz), qos=1)  # QoS 1 redelivery, or a replay: the same (boot, seq)
    rt = arena.hub.service.games[arena.game_id]
    service = arena.hub.service
    # The copy is dropped before the log: the log holds each (device, boot, seq) once (docs/failover.md).
    await service.wait_for(lambda: rt.game.phase is Phase.BUZZED and service.counters["duplicate_press"] == 1)
    await arena.host.ok("judge", verdict="right")
    presses = [e.payload for e in await arena.hub.repo.load_events(arena.game_id) if e.type == "buzz.received"]
    assert [p["outcome"] for p in presses] == ["accepted"]
    assert dict(rt.game.scores)["red"] == rt.game.quiz.questions[0].points  # counted once


async def test_a_game_created_after_start_is_opened_at_its_first_command(arena: Arena) -> None:
    quiz_id = (await arena.hub.repo.get_game(arena.game_id)).quiz_id  # type: ignore[union-attr]
    fresh = await arena.hub.repo.create_game(quiz_id)  # as the web API does, while the hub runs
    assert fresh.id not in arena.hub.service.games
    from tests.hub.conftest import HostClient  # noqa: PLC0415

    other = HostClient(arena.host.client, arena.env.root, fresh.id, arena.host.client_id)
    other.replies = arena.host.replies  # one pump serves both games' replies
    await arena.host.client.subscribe(f"{arena.env.root}/games/{fresh.id}/replies/{arena.host.client_id}", qos=1)
    await other.ok("add_team", team="late", name="Latecomers")
    assert fresh.id in arena.hub.service.games
    reply = await arena.host.send("arm")  # the first game is unaffected: still in its lobby
    assert reply["error"]["code"] == "wrong_phase"
