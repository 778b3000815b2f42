"""WebSocket fan-out: a score update from the hub until every viewer has it, beside a bare Starlette loop, one run.

    .venv/bin/python bench/ws_fanout.py [--sizes 100,1000,2000] [--trials 30] [--fanout memory://|redis://...]
                                        [--viewer-procs 2]

Server side, one process (the `quizhub serve` shape): the embedded broker, the real Hub (SQLite in a tmp dir) with
the demo game, and the real web app (`web.app.create_app`) under uvicorn, its hub client logged in as a service.
Beside it, on another port of the same process, a bare Starlette app: a set of accepted sockets and, per trial,
`for ws in sockets: await ws.send_text(payload)` (sequential sends; the issue measured them faster than gather).

Viewers: N WebSocket clients (the `websockets` library) spread over --viewer-procs separate processes. Quizhub
viewers authenticate with a display token (Authorization header) and subscribe to the game; bare viewers just
connect. Each records CLOCK_MONOTONIC (shared by all processes) when a scores frame arrives.

One trial (quizhub): a host `adjust` command through the web's hub client; t0 = when the hub hands the new
scores to its MQTT transport (a wrapper on `Hub.transport.publish`); latency per viewer = its receipt - t0. One
trial (bare): t0 = just before the loop starts, with the same scores payload. Trials are paced (the next starts
once every viewer has the last one, or after 5 s). Reported per N: p50/p99 over every viewer's receipt, and
p50/p99 of the time until the LAST viewer had it. Results: stdout table and bench/results/ws_fanout.json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Self

import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from broker.config import BrokerConfig  # noqa: E402 - after the path set-up, so the bench runs from a checkout
from broker.credentials import CredentialStore, Role  # noqa: E402
from broker.server import EmbeddedBroker  # noqa: E402
from hub.mqttclient import BrokerAddress  # noqa: E402
from hub.quizfile import demo_quiz  # noqa: E402
from hub.quizstore import import_quiz  # noqa: E402
from hub.runner import Hub  # noqa: E402
from hub.settings import Settings  # noqa: E402
from web.app import create_app  # noqa: E402
from web.auth import issue_display_token  # noqa: E402


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


# ------------------------------------------------------------------------------------------------ viewer process


async def _viewer_main(url: str, mode: str, n: int, game: str, token: str) -> None:
    received: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    ready = 0
    all_ready = asyncio.Event()

    async def one(i: int) -> None:
        nonlocal ready
        headers = {"Authorization": f"Bearer {token}"} if mode == "quizhub" else {}
        async with connect(url, additional_headers=headers, max_queue=None, ping_interval=None) as ws:
            if mode == "quizhub":
                await ws.send(json.dumps({"type": "subscribe", "game": game}))
            else:
                await ws.send("hi")
            first = True
            async for raw in ws:
                now = time.monotonic()
                if first and (mode == "bare" or json.loads(raw).get("type") == "hello"):
                    first = False
                    ready += 1
                    if ready == n:
                        all_ready.set()
                    if mode == "bare":
                        continue
                if raw.startswith('{"type":"scores"'):
                    doc = json.loads(raw)
                    received[i].append((int(doc["data"].get("seq") or 0), now))

    tasks = []
    for i in range(n):
        tasks.append(asyncio.create_task(one(i)))
        if i % 50 == 49:
            await asyncio.sleep(0.01)  # connect in waves: a handshake storm is not what this measures
    await all_ready.wait()
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)  # "done"
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    print(json.dumps(received), flush=True)


# ------------------------------------------------------------------------------------------------ server side


def _bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(4096)
    return sock


class _Served:
    def __init__(self, app: Any) -> None:
        self.sock = _bound_socket()
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on", ws_ping_interval=None,
                                backlog=4096)
        self.server = uvicorn.Server(config)
        config.load()
        self.server.lifespan = config.lifespan_class(config)
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        await self.server.startup(sockets=[self.sock])
        self.task = asyncio.create_task(self.server.main_loop())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.should_exit = True
        if self.task is not None:
            await self.task
        await self.server.shutdown(sockets=[self.sock])
        self.sock.close()


def _bare_app(clients: set[Any]) -> Any:
    async def endpoint(ws: WebSocket) -> None:
        await ws.accept()
        await ws.receive_text()
        clients.add(ws)
        await ws.send_text('{"type":"hello"}')
        try:
            while True:
                await ws.receive_text()
        except WebSocketDisconnect:
            pass
        finally:
            clients.discard(ws)

    return Starlette(routes=[WebSocketRoute("/ws", endpoint)])


class _Viewers:
    """--viewer-procs processes holding N sockets between them."""

    def __init__(self, url: str, mode: str, n: int, procs: int, game: str, token: str) -> None:
        self.procs: list[subprocess.Popen[str]] = []
        share = [n // procs + (1 if i < n % procs else 0) for i in range(procs)]
        for k in share:
            if k:
                self.procs.append(subprocess.Popen(
                    [sys.executable, __file__, "--viewer", url, mode, str(k), game, token],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                ))

    async def ready(self) -> None:
        for p in self.procs:
            assert p.stdout is not None
            line = await asyncio.to_thread(p.stdout.readline)
            if line.strip() != "ready":
                raise RuntimeError(f"a viewer process failed to connect (exit {p.poll()})")

    async def results(self) -> list[list[tuple[int, float]]]:
        out: list[list[tuple[int, float]]] = []
        for p in self.procs:
            assert p.stdin is not None
            p.stdin.write("done\n")
            p.stdin.flush()
        for p in self.procs:
            assert p.stdout is not None
            line = await asyncio.to_thread(p.stdout.readline)
            out.extend([[(int(s), float(t)) for s, t in v] for v in json.loads(line)])
            p.wait(timeout=30)
        return out


def _summary(lat_ms: list[float], last_ms: list[float]) -> dict[str, float]:
    return {
        "deliveries": len(lat_ms),
        "p50_ms": round(_pct(lat_ms, 50), 2), "p99_ms": round(_pct(lat_ms, 99), 2),
        "all_p50_ms": round(_pct(last_ms, 50), 2), "all_p99_ms": round(_pct(last_ms, 99), 2),
    }


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"sizes": {}, "fanout": args.fanout, "trials": args.trials}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        root = f"bench-{uuid.uuid4().hex[:8]}"
        store = CredentialStore(data / "credentials.json")
        db_url = f"sqlite+aiosqlite:///{data / 'quizhub.db'}"
        config = BrokerConfig(data_dir=data, host="127.0.0.1", port=0, ws_port=None, topic_root=root)
        async with contextlib.AsyncExitStack() as stack:
            broker = await stack.enter_async_context(EmbeddedBroker(config, store))
            hub_addr = BrokerAddress("127.0.0.1", broker.port).with_login("hub", store.add("hub", Role.SERVICE))
            hub = await stack.enter_async_context(Hub(db_url=db_url, address=hub_addr, topic_root=root))
            _, doc = demo_quiz()
            quiz_id = await import_quiz(hub.repo, doc)
            game = await hub.repo.create_game(quiz_id)
            await hub.service.open_game(game.id)
            _, token = await issue_display_token(hub.repo, game_id=game.id, name="bench")
            web_pw = store.add("web", Role.SERVICE)
            settings = Settings(data_dir=data, db_url=db_url, topic_root=root, fanout_url=args.fanout,
                                broker_url=f"mqtt://web:{web_pw}@127.0.0.1:{broker.port}")
            app = create_app(settings)
            web = await stack.enter_async_context(_Served(app))
            clients: set[Any] = set()
            bare = await stack.enter_async_context(_Served(_bare_app(clients)))
            hc = app.state.hub_client
            assert (await hc.command(game.id, {"cmd": "add_team", "team": "t1", "name": "Bench"})).ok

            # t0 of every scores publish: when the hub hands it to its MQTT transport.
            t0: dict[int, float] = {}
            last_payload: list[bytes] = [b""]
            scores_topic = hub.topics.game_scores(game.id)
            transport = hub.transport
            original = transport.publish

            async def stamped(topic: str, payload: bytes, *, qos: int = 0, retain: bool = False) -> None:
                if topic == scores_topic and payload:
                    t0[int(json.loads(payload)["seq"])] = time.monotonic()
                    last_payload[0] = payload
                await original(topic, payload, qos=qos, retain=retain)

            transport.publish = stamped  # type: ignore[method-assign]

            for n in args.sizes:
                row: dict[str, Any] = {}
                for mode in ("bare", "quizhub"):
                    url = f"ws://127.0.0.1:{(web if mode == 'quizhub' else bare).port}/ws"
                    viewers = _Viewers(url, mode, n, args.viewer_procs, game.id, token)
                    await viewers.ready()
                    pace = max(0.3, n / 2000)
                    sent: dict[int, float] = {}
                    trial_seqs: set[int] = set()
                    for i in range(args.trials):
                        if mode == "quizhub":
                            reply = await hc.command(game.id, {"cmd": "adjust", "team": "t1", "delta": 1,
                                                               "reason": "bench"})
                            assert reply.ok, reply
                            assert reply.result is not None
                            trial_seqs.add(int(reply.result["seq"]))
                        else:
                            seq = 10_000_000 + i
                            payload = f'{{"type":"scores","data":{{"seq":{seq},"teams":[]}}}}'
                            if last_payload[0]:
                                body = json.loads(last_payload[0])
                                body["seq"] = seq
                                payload = json.dumps({"type": "scores", "data": body}, separators=(",", ":"))
                            sent[seq] = time.monotonic()
                            for ws in list(clients):
                                with contextlib.suppress(Exception):
                                    await ws.send_text(payload)
                        await asyncio.sleep(pace)  # pacing between trials (a bench, not a test)
                    received = await viewers.results()
                    starts = {s: t0[s] for s in trial_seqs if s in t0} if mode == "quizhub" else sent
                    per_seq: dict[int, list[float]] = {}
                    for viewer in received:
                        for seq, t in viewer:
                            if seq in starts:
                                per_seq.setdefault(seq, []).append((t - starts[seq]) * 1000)
                    complete = [v for v in per_seq.values() if len(v) == n]
                    lat = [x for v in complete for x in v]
                    last = [max(v) for v in complete]
                    row[mode] = _summary(lat, last) | {"complete_trials": len(complete)}
                    print(f"N={n:5d} {mode:8s} {row[mode]}", file=sys.stderr, flush=True)
                q, b = row["quizhub"], row["bare"]
                row["p99_ratio"] = round(q["p99_ms"] / b["p99_ms"], 2) if b["p99_ms"] else None
                results["sizes"][str(n)] = row
            transport.publish = original  # type: ignore[method-assign]
    return results


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--viewer":
        url, mode, n, game, token = sys.argv[2:7]
        asyncio.run(_viewer_main(url, mode, int(n), game, token))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,2000", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--trials", default=30, type=int)
    parser.add_argument("--fanout", default="memory://")
    parser.add_argument("--viewer-procs", default=2, type=int)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "ws_fanout.json"))
    args = parser.parse_args()
    os.environ.setdefault("QUIZHUB_LOG_LEVEL", "WARNING")
    results = asyncio.run(_run(args))
    results["cpus"] = os.cpu_count()
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    print(f"{'N':>6} {'mode':8} {'p50 ms':>8} {'p99 ms':>8} {'all p50':>8} {'all p99':>8}")
    for n, row in results["sizes"].items():
        for mode in ("bare", "quizhub"):
            r = row[mode]
            figures = (r["p50_ms"], r["p99_ms"], r["all_p50_ms"], r["all_p99_ms"])
            print(f"{n:>6} {mode:8} " + " ".join(f"{x:8.2f}" for x in figures))
        print(f"{'':>6} p99 ratio quizhub/bare: {row['p99_ratio']}")


if __name__ == "__main__":
    main()
