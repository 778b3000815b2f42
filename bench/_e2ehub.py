"""The arbiter side of bench/e2e.py, in its own process: the real hub, or a plain relay for the baseline.

Usage: python bench/_e2ehub.py --mode hub|relay --host H --port P --username U --password PW --root R
                               [--db-url URL] [--devices DEVICES.json] [--teams T] [--settings JSON]

`--mode hub` starts `hub.runner.Hub` (SQLite by default, in --db-url), imports the bundled demo quiz, creates one
game with `--settings` (game settings as the games table stores them), adds T teams and pairs the devices across
them round-robin, shows the first buzzer question, and prints `ready {"game": ..., "pid": ...}`. Stdin commands:
- `synced` -> `synced K`: how many paired devices have a synced clock model in the hub.
- `undo` -> `undone K PHASE`: undo (K times) back to the shown question if the last trial left it buzzed; each
  undo of a ruling publishes a lock (so the bench waits for it to reach every device before the next trial).
- `arm` -> `armed {json}`: `Arm()`, and how long the command took.
- `trace` -> `trace {json}`: where the hub's time went for the last buzz (see Tracer).
- `count` -> `count {json}`: buzzes handled so far, and when the last one finished (for the throughput run).
- `stats` -> `stats {json}`: RSS, counters, log length.
`--mode relay` is the baseline: one lean client (bench/_mqttraw.py) that answers every buzz on
`{root}/devices/+/buzz` with one lock publish (QoS 1) on `{root}/games/{game}/buzzers`, nothing else; it prints
`ready {...}` and then only answers `stats`. Stdin EOF stops either.
"""

# Imports of hub.* are deferred until sys.path is fixed.
# ruff: noqa: PLC0415
from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR]
sys.path.insert(0, str(ROOT))
sys.path.append(str(BENCH_DIR))  # for _mqttraw, after the project so bench/broker.py shadows nothing

import _mqttraw as mq  # noqa: E402


def rss_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def stdin_lines() -> asyncio.StreamReader:
    reader = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    return reader


class Tracer:
    """Times what the hub does between a buzz reaching its process and the lock publish leaving it.

    Wraps (on this process's instances only, no product code changes): the service's buzz handler (arrival stamp
    = aiomqtt's StampedClient stamp), the repository's `append_events` (one transaction each), and every publish
    (each one awaits its PUBACK at QoS 1). For each buzz it keeps: arrival -> handler start (queueing in aiomqtt),
    handler time, each append and each publish before the lock went out, and arrival -> lock publish call.
    """

    def __init__(self) -> None:
        self.buzz_arrival_ns = 0
        self.buzz_start_ns = 0
        self.buzz_end_ns = 0
        self.lock_call_ns = 0
        self.lock_done_ns = 0
        self.appends: list[tuple[int, int, int]] = []  # (start, end, events)
        self.publishes: list[tuple[int, int, str]] = []  # (start, end, topic leaf)
        self.buzzes = 0
        self.buzz_first_ns = 0
        self.buzz_last_done_ns = 0

    def reset(self) -> None:
        self.buzz_arrival_ns = self.buzz_start_ns = self.buzz_end_ns = 0
        self.lock_call_ns = self.lock_done_ns = 0
        self.appends.clear()
        self.publishes.clear()

    def install(self, service: Any) -> None:
        tracer = self
        on_buzz = service._on_buzz  # noqa: SLF001
        append = service.repo.append_events
        publish = service.publisher.publish

        async def traced_on_buzz(game_id: str, device: str, buzz: Any, msg: Any, **kwargs: Any) -> None:
            # A buzz's turn in its game's lane (hub/service.py): from here to its append and publishes.
            start = time.monotonic_ns()
            if tracer.buzzes == 0:
                tracer.buzz_first_ns = start
            if not tracer.buzz_arrival_ns:
                tracer.buzz_arrival_ns, tracer.buzz_start_ns = msg.arrival_us * 1000, start
            await on_buzz(game_id, device, buzz, msg, **kwargs)
            tracer.buzzes += 1
            tracer.buzz_last_done_ns = time.monotonic_ns()
            if not tracer.buzz_end_ns:
                tracer.buzz_end_ns = tracer.buzz_last_done_ns

        async def traced_append(*args: Any, **kwargs: Any) -> Any:
            t0 = time.monotonic_ns()
            try:
                return await append(*args, **kwargs)
            finally:
                if tracer.buzz_arrival_ns and not tracer.lock_call_ns:
                    tracer.appends.append((t0, time.monotonic_ns(), len(args[1])))

        async def traced_publish(topic: str, payload: bytes, *, qos: int = 0, retain: bool = False) -> None:
            t0 = time.monotonic_ns()
            is_lock = topic.endswith("/buzzers") and b'"lock"' in payload
            if is_lock and tracer.buzz_arrival_ns and not tracer.lock_call_ns:
                tracer.lock_call_ns = t0
            try:
                await publish(topic, payload, qos=qos, retain=retain)
            finally:
                t1 = time.monotonic_ns()
                if is_lock and tracer.lock_call_ns == t0:
                    tracer.lock_done_ns = t1
                elif tracer.buzz_arrival_ns and not tracer.lock_call_ns:
                    tracer.publishes.append((t0, t1, topic.rsplit("/", 1)[-1]))

        service._on_buzz = traced_on_buzz  # noqa: SLF001
        service.repo.append_events = traced_append
        service.publisher.publish = traced_publish

    def report(self) -> dict[str, Any]:
        a0 = self.buzz_arrival_ns
        if not a0 or not self.lock_call_ns:
            return {}

        def us(ns: int) -> int:
            return round(ns / 1000)

        return {
            "arrival_to_lock_call_us": us(self.lock_call_ns - a0),
            "lock_publish_us": us(self.lock_done_ns - self.lock_call_ns) if self.lock_done_ns else None,
            "queue_us": us(self.buzz_start_ns - a0),
            "buzz_handler_us": us(self.buzz_end_ns - self.buzz_start_ns) if self.buzz_end_ns else None,
            "appends": len(self.appends),
            "append_us": us(sum(e - s for s, e, _ in self.appends)),
            "append_each_us": [us(e - s) for s, e, _ in self.appends],
            "publishes_before_lock": [leaf for *_, leaf in self.publishes],
            "publish_before_lock_us": us(sum(e - s for s, e, _ in self.publishes)),
        }


async def run_hub(args: argparse.Namespace) -> None:
    from pydantic import SecretStr

    from hub.core.game import AddTeam, Arm, PairDevice, ShowQuestion, Undo
    from hub.core.model import QuestionKind
    from hub.core.transitions import Phase
    from hub.mqttclient import BrokerAddress
    from hub.quizfile import demo_quiz
    from hub.quizstore import import_quiz
    from hub.runner import Hub

    devices: list[str] = json.loads(Path(args.devices).read_text())
    address = BrokerAddress(args.host, args.port, args.username, SecretStr(args.password))
    extra: dict[str, Any] = {}
    if args.health_interval is not None:
        extra["health_interval_s"] = args.health_interval  # an experiment: how much the health batch costs
    async with Hub(db_url=args.db_url, address=address, topic_root=args.root, client_id=args.username,
                   **extra) as hub:
        service = hub.service
        _, doc = demo_quiz()
        quiz_id = await import_quiz(hub.repo, doc)
        row = await hub.repo.create_game(quiz_id, settings=json.loads(args.settings))
        game_id = str(row.id)
        rt = await service.open_game(game_id)
        teams = [f"t{i:02d}" for i in range(args.teams)]
        for team in teams:
            await service.command(game_id, AddTeam(team=team, name=f"Team {team}"))
        for i, dev in enumerate(devices):
            await service.command(game_id, PairDevice(device=dev, team=teams[i % len(teams)]))
        index = next(i for i, q in enumerate(rt.game.quiz.questions) if q.kind is QuestionKind.BUZZER)
        result = await service.command(game_id, ShowQuestion(index=index))
        assert rt.game.phase is Phase.QUESTION, result
        tracer = Tracer()
        tracer.install(service)
        say("ready " + json.dumps({"game": game_id, "pid": os.getpid(), "question": index,
                                   "settings": json.loads(args.settings)}))
        reader = await stdin_lines()
        while line := await reader.readline():
            cmd = line.decode().split()
            if not cmd:
                continue
            if cmd[0] == "synced":
                say(f"synced {sum(1 for d in devices if service.health(d).get('synced'))}")
            elif cmd[0] == "undo":
                undos = 0
                while rt.game.phase not in (Phase.QUESTION, Phase.CLOSED) and undos < 5:
                    await service.command(game_id, Undo())
                    undos += 1
                say(f"undone {undos} {rt.game.phase.value}")
            elif cmd[0] == "arm":
                t0 = time.monotonic_ns()
                tracer.reset()
                res = await service.command(game_id, Arm())
                play = rt.game._play  # noqa: SLF001 - the grace window this arm chose, for the report
                grace = play.arbiter.settings.grace_us if play is not None and play.arbiter is not None else None
                say("armed " + json.dumps({"ok": rt.game.phase is Phase.ARMED, "grace_us": grace,
                                           "ms": round((time.monotonic_ns() - t0) / 1e6, 3),
                                           "result": type(res).__name__}))
            elif cmd[0] == "trace":
                say("trace " + json.dumps(tracer.report()))
            elif cmd[0] == "count":
                say("count " + json.dumps({"buzzes": tracer.buzzes, "first": tracer.buzz_first_ns,
                                           "last_done": tracer.buzz_last_done_ns, "next_seq": rt.next_seq}))
            elif cmd[0] == "stats":
                say("stats " + json.dumps({"rss_kb": rss_kb(), "next_seq": rt.next_seq,
                                           "counters": dict(service.counters),
                                           "transport": dict(hub.transport.counters),
                                           "phase": rt.game.phase.value}))


async def run_relay(args: argparse.Namespace) -> None:
    lock_topic = f"{args.root}/games/{args.game}/buzzers"
    handled = 0

    def on_buzz(client: mq.MqttClient, _topic: bytes, payload: bytes, _stamp: int) -> None:
        nonlocal handled
        seq = json.loads(payload)["seq"]
        client.publish_nowait(lock_topic, json.dumps({"cmd": "lock", "q": seq}).encode(), 1)
        handled += 1

    client = await mq.connect(args.host, args.port, args.username, args.username, args.password, on_publish=on_buzz)
    await client.subscribe(f"{args.root}/devices/+/buzz", 1)
    say("ready " + json.dumps({"game": args.game, "pid": os.getpid()}))
    reader = await stdin_lines()
    while line := await reader.readline():
        if line.strip() == b"stats":
            say("stats " + json.dumps({"rss_kb": rss_kb(), "handled": handled}))
    client.disconnect()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=("hub", "relay"), required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--root", default="quizhub")
    parser.add_argument("--game", default="bench", help="relay: the game whose buzzers topic gets the lock")
    parser.add_argument("--db-url")
    parser.add_argument("--devices")
    parser.add_argument("--teams", type=int, default=4)
    parser.add_argument("--settings", default="{}")
    parser.add_argument("--health-interval", type=float, help="the hub's device-health write interval (s)")
    args = parser.parse_args()
    run = run_hub if args.mode == "hub" else run_relay
    with asyncio.Runner(loop_factory=mq.new_event_loop if args.mode == "relay" else None) as runner:
        runner.run(run(args))


if __name__ == "__main__":
    main()
