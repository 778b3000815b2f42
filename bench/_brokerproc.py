"""Runs the embedded broker alone in its own process, for bench/broker.py.

Usage: python bench/_brokerproc.py --port P --data-dir D --clients CLIENTS.json [--no-tuning] [--plain-amqtt]

CLIENTS.json: [[name, role], ...]; the broker's credential store issues a password to each, and the
`name -> password` map is printed on the `ready` line. Stdin commands, one per line:
`gc-reset` (clear the collector statistics), `gc-stats` (print them as one JSON line, then time one full
collection). Stdin EOF stops it.

By default this starts `broker.server.EmbeddedBroker` with authentication, as `quizhub serve` does, which
calls `broker.tuning.apply()` after start-up; then, again as serve does, it builds the web app in the same
process (`--bare` skips that), so the collector has serve's heap to walk. `--no-tuning` sets
QUIZHUB_BROKER_TUNING=off so `apply()` does nothing; `--refreeze` calls `apply()` once more after the web app
is built. `--plain-amqtt` runs a stock `amqtt.broker.Broker` (anonymous, no Quizhub code) instead; so does
a checkout without `broker.server`.
"""

# Imports of amqtt and broker are deferred: sys.path is fixed first, and the plain-amqtt fallback must not
# need broker.server.
# ruff: noqa: PLC0415
from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import gc
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

# Run as a script, sys.path[0] is bench/, where bench/broker.py would shadow the `broker` package.
BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR]
sys.path.insert(0, str(ROOT))


class GcWatch:
    """Counts collections per generation and their pause times (gc.callbacks)."""

    def __init__(self) -> None:
        self._start = 0
        self.reset()
        gc.callbacks.append(self._callback)

    def reset(self) -> None:
        self.pauses: list[list[int]] = [[], [], []]

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter_ns()
            return
        self.pauses[info["generation"]].append(time.perf_counter_ns() - self._start)

    def stats(self) -> dict[str, Any]:
        objects = gc.get_objects()

        def ms(ns: float) -> float:
            return round(ns / 1e6, 3)

        return {
            "collections": [len(p) for p in self.pauses],
            "total_ms": [ms(sum(p)) for p in self.pauses],
            "median_ms": [ms(sorted(p)[len(p) // 2]) if p else 0.0 for p in self.pauses],
            "max_ms": [ms(max(p, default=0)) for p in self.pauses],
            "threshold": list(gc.get_threshold()),
            "tracked_objects": len(objects),
            # What the collector walks (frozen objects excluded): the broker helper's slimming targets.
            "top_types": dict(collections.Counter(type(o).__qualname__ for o in objects).most_common(15)),
            "frozen_objects": gc.get_freeze_count(),
        }


@contextlib.asynccontextmanager
async def plain_amqtt(port: int, tuning: bool) -> Any:
    from amqtt.broker import Broker

    config = {
        "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
        "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
    }
    broker = Broker(config)
    await broker.start()
    if tuning:
        with contextlib.suppress(ImportError):
            from broker import tuning as tuning_mod

            tuning_mod.apply()
    try:
        yield broker
    finally:
        await broker.shutdown()


def embedded_available() -> bool:
    try:
        from broker.server import EmbeddedBroker  # noqa: F401
    except ImportError as exc:
        print(f"broker.server not importable ({exc}); running plain amqtt", file=sys.stderr)
        return False
    return True


@contextlib.asynccontextmanager
async def embedded(port: int, data_dir: Path, clients: list[list[str]], passwords: dict[str, str],
                   serve_heap: bool, refreeze: bool) -> Any:
    from broker.config import BrokerConfig
    from broker.credentials import CredentialStore, Role
    from broker.server import EmbeddedBroker

    store = CredentialStore(data_dir / "credentials.json")
    for name, role in clients:
        passwords[name] = store.add(name, Role(role))
    # As `quizhub serve` runs it: authentication on, the default topic root, payload cap and keepalive factor;
    # only the WebSocket listener is off (the bench speaks TCP).
    config = BrokerConfig(data_dir=data_dir, host="127.0.0.1", port=port, ws_port=None, allow_anonymous=False)
    async with EmbeddedBroker(config, store) as broker:
        if serve_heap:
            load_serve_heap(data_dir)
            if refreeze:
                from broker import tuning

                tuning.apply()
        yield broker


def load_serve_heap(data_dir: Path) -> None:
    """Load what `quizhub serve` holds besides the broker (web app, hub settings), in serve's order: after
    the broker started and applied its tuning. The collector walks these objects too."""
    try:
        import web.serve  # noqa: F401
        from hub.settings import Settings
        from web.app import create_app
    except ImportError as exc:
        print(f"serve heap not loaded ({exc})", file=sys.stderr)
        return
    keep.append(create_app(Settings(data_dir=data_dir)))


keep: list[object] = []


class RouteTimer:
    """Times the embedded broker's fan-out call for the lock topic: wall clock and this thread's CPU time.

    The CPU time is what the broker itself spends on one fan-out (encoding, bookkeeping and the send()
    syscalls), free of the time it waits for a core on a busy machine.
    """

    def __init__(self) -> None:
        self.wall: list[int] = []
        self.cpu: list[int] = []
        self.hop_cpu: list[int] = []

    def install(self) -> None:
        from broker.server import HardenedBroker

        route = HardenedBroker._route  # noqa: SLF001
        timer = self

        def timed_route(broker: Any, topic: str, payload: bytes, qos: int) -> None:
            w0, c0 = time.perf_counter_ns(), time.thread_time_ns()
            route(broker, topic, payload, qos)
            if topic.endswith("/buzzers"):
                timer.cpu.append(time.thread_time_ns() - c0)
                timer.wall.append(time.perf_counter_ns() - w0)

        HardenedBroker._route = timed_route  # noqa: SLF001

        # One hop: the buzz PUBLISH from parse to the arbiter's copy and the buzzer's PUBACK written.
        from broker.connection import Connection

        on_publish = Connection._on_publish  # noqa: SLF001

        def timed_on_publish(conn: Any, flags: int, body: bytes) -> None:
            c0 = time.thread_time_ns()
            on_publish(conn, flags, body)
            if body[2 : 2 + ((body[0] << 8) | body[1])].endswith(b"/buzz"):  # not the game's /buzzers
                timer.hop_cpu.append(time.thread_time_ns() - c0)

        handlers = Connection._HANDLERS  # noqa: SLF001 - packets are dispatched through this table
        handlers[next(k for k, v in handlers.items() if v is on_publish)] = timed_on_publish

    def stats(self) -> dict[str, Any]:
        def pct(values: list[int], p: float) -> float:
            v = sorted(values)
            return round(v[min(len(v) - 1, int(p / 100 * len(v)))] / 1e6, 3) if v else 0.0

        return {"n": len(self.wall), "wall_p50_ms": pct(self.wall, 50), "wall_p99_ms": pct(self.wall, 99),
                "cpu_p50_ms": pct(self.cpu, 50), "cpu_p99_ms": pct(self.cpu, 99),
                "buzz_publish_cpu_p50_ms": pct(self.hop_cpu, 50)}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--clients", type=Path, required=True)
    parser.add_argument("--no-tuning", action="store_true")
    parser.add_argument("--plain-amqtt", action="store_true")
    parser.add_argument("--bare", action="store_true", help="do not load the web app and hub as serve does")
    parser.add_argument("--fastpath", action="store_true", help="apply bench/_fastpath.py (an experiment)")
    parser.add_argument("--uvloop", action="store_true", help="run on uvloop (an experiment)")
    parser.add_argument("--refreeze", action="store_true",
                        help="call broker.tuning.apply() again once the serve heap is loaded")
    args = parser.parse_args()
    if args.no_tuning:
        os.environ["QUIZHUB_BROKER_TUNING"] = "off"
    clients = json.loads(args.clients.read_text())
    passwords: dict[str, str] = {}
    watch = GcWatch()
    route_timer = RouteTimer()
    fastpath_installed = False

    kind = "plain-amqtt" if args.plain_amqtt or not embedded_available() else "embedded"
    if kind == "embedded":
        cm = embedded(args.port, args.data_dir, clients, passwords, not args.bare, args.refreeze)
        route_timer.install()
        if args.fastpath:
            sys.path.insert(0, str(BENCH_DIR))
            import _fastpath

            fastpath_installed = _fastpath.install()
    else:
        cm = plain_amqtt(args.port, not args.no_tuning)
    async with cm:
        ready = {"kind": kind, "pid": os.getpid(), "passwords": passwords, "fastpath": fastpath_installed}
        print("ready " + json.dumps(ready), flush=True)
        reader = asyncio.StreamReader()
        await asyncio.get_running_loop().connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := await reader.readline():
            cmd = line.decode().strip()
            if cmd == "gc-reset":
                watch.reset()
                route_timer.wall.clear()
                route_timer.cpu.clear()
                route_timer.hop_cpu.clear()
            elif cmd == "gc-stats":
                stats = watch.stats()
                if kind == "embedded":
                    stats["fanout_call"] = route_timer.stats()
                # What one full collection costs now, with every client connected: the worst pause the
                # collector can cause in the fan-out.
                watch.reset()
                gc.collect()
                stats["full_collection_ms"] = watch.stats()["max_ms"][2]
                print("gc " + json.dumps(stats), flush=True)


if __name__ == "__main__":
    loop_factory = None
    if "--uvloop" in sys.argv:
        # An experiment: serve on uvloop's libuv loop instead of asyncio's selector loop.
        import uvloop

        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(main())
