"""WebSocket fan-out: a score update from the hub until every viewer has it, beside a bare Starlette loop, one run;
then the remote-buzz round trip beside an MQTT buzzer's.

    .venv/bin/python bench/ws_fanout.py [--sizes 100,1000,2000] [--trials 30] [--fanout memory://|redis://...]
                                        [--viewer-procs 2] [--no-batch] [--buzz-rounds 100] [--buzz-delay-ms 20]
                                        [--buzz-grace-us 0] [--out bench/results/ws_fanout.json]

Server side, one process (the `quizhub serve` shape): the embedded broker, the real Hub (SQLite in a tmp dir) with
the demo game, and the real web app (`web.app.create_app`) under uvicorn, its hub client logged in as a service.
Beside it, on another port of the same process, a bare Starlette app: a set of accepted sockets and, per trial,
`for ws in sockets: await ws.send_text(payload)` (sequential sends; the issue measured them faster than gather).
Both servers run uvicorn with the web's settings (`web.serve.uvicorn_config`: permessage-deflate off).

Viewers: N WebSocket clients (the `websockets` library) per server, spread over --viewer-procs separate processes
each. Quizhub viewers authenticate with a display token (Authorization header; the token reaches the viewer
processes through the environment) and subscribe to the game, asking for batch frames unless --no-batch; bare
viewers just connect. Each records CLOCK_MONOTONIC (shared by all processes) when a scores frame arrives.

Both viewer sets are connected at once and trials alternate (bare then quizhub, quizhub then bare, ...), so load
from the rest of a shared machine falls on both alike: quote the ratio. One trial (quizhub): a host `adjust`
command through the web's hub client; t0 = when the hub hands the new scores to its MQTT transport (a wrapper on
`Hub.transport.publish`); latency per viewer = its receipt - t0. One trial (bare): t0 = just before the loop
starts, with the same scores payload. Trials are paced (max(0.3 s, N/2000 s) apart). Reported per N: p50/p99 over
every viewer's receipt, and p50/p99 of the time until the LAST viewer had it.

Remote buzz (bench/_wsbuzz.py): on a game of its own (grace window --buzz-grace-us, default 0, so the figure is
the path, not the arbiter's wait), --buzz-rounds presses alternate between a team socket and a simulated MQTT
buzzer, each timed by the presser from the press until its ruling is back. Results: stdout tables and
bench/results/ws_fanout.json.
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
from _stats import pct  # bench/_stats.py
from _wsbuzz import buzz_rounds  # bench/_wsbuzz.py: the remote-buzz round trip
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
from web.auth import issue_display_token, issue_team_token  # noqa: E402
from web.ws import _Feed  # noqa: E402 - the bench stamps when the feed starts a fan-out

# ------------------------------------------------------------------------------------------------ viewer process


async def _viewer_main(url: str, mode: str, n: int, game: str, token: str, batch: bool) -> None:
    received: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    ready = 0
    progress = asyncio.Condition()

    async def one(i: int) -> None:
        try:
            await watch(i)
        finally:
            async with progress:
                progress.notify_all()  # a viewer that failed wakes the waves' waiter too

    async def watch(i: int) -> None:
        nonlocal ready
        headers = {"Authorization": f"Bearer {token}"} if mode == "quizhub" else {}
        async with connect(url, additional_headers=headers, max_queue=None, ping_interval=None) as ws:
            if mode == "quizhub":
                await ws.send(json.dumps({"type": "subscribe", "game": game, "batch": batch}))
            else:
                await ws.send("hi")
            first = True
            async for raw in ws:
                now = time.monotonic()
                if first and (mode == "bare" or json.loads(raw).get("type") == "hello"):
                    first = False
                    async with progress:
                        ready += 1
                        progress.notify_all()
                    if mode == "bare":
                        continue
                if '"type":"scores"' in raw:
                    doc = json.loads(raw)
                    for frame in doc["frames"] if doc["type"] == "batch" else [doc]:
                        if frame["type"] == "scores":
                            received[i].append((int(frame["data"].get("seq") or 0), now))

    tasks: list[asyncio.Task[None]] = []

    async def connected(target: int) -> None:
        async with progress:
            await progress.wait_for(lambda: ready >= target or any(t.done() for t in tasks))
        for t in tasks:
            if t.done():
                t.result()  # a viewer that could not connect: its error, not a hang

    for i in range(n):
        tasks.append(asyncio.create_task(one(i)))
        if i % 50 == 49:  # connect in waves (half of one in flight): a handshake storm is not what this measures
            await connected(i - 25)
    await connected(n)
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)  # "done"
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    print(json.dumps(received), flush=True)


# ------------------------------------------------------------------------------------------------ server side


def _bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP_NODELAY, as serve
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(4096)
    return sock


class _Served:
    def __init__(self, app: Any) -> None:
        self.sock = _bound_socket()
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on", ws_ping_interval=None,
                                backlog=4096, ws_per_message_deflate=False)
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

    def __init__(self, url: str, mode: str, n: int, procs: int, game: str, token: str, *, batch: bool) -> None:
        self.procs: list[subprocess.Popen[str]] = []
        share = [n // procs + (1 if i < n % procs else 0) for i in range(procs)]
        for k in share:
            if k:
                self.procs.append(subprocess.Popen(
                    [sys.executable, __file__, "--viewer", url, mode, str(k), game, "1" if batch else "0"],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                    env=os.environ | {"QH_BENCH_TOKEN": token},  # a secret: never on the command line
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
        "p50_ms": round(pct(lat_ms, 50), 2), "p99_ms": round(pct(lat_ms, 99), 2),
        "all_p50_ms": round(pct(last_ms, 50), 2), "all_p99_ms": round(pct(last_ms, 99), 2),
    }


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"sizes": {}, "fanout": args.fanout, "trials": args.trials,
                               "batch": not args.no_batch, "load_before": os.getloadavg()[0]}
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
            urls = {"quizhub": f"ws://127.0.0.1:{web.port}/ws", "bare": f"ws://127.0.0.1:{bare.port}/ws"}
            rig = _Rig(hub, hc, game.id, clients)
            for n in args.sizes:
                row = await rig.fanout(n, urls, token, args)
                results["sizes"][str(n)] = row
            if args.buzz_rounds:
                results["buzz"] = await _buzz(hub, hc, quiz_id, urls["quizhub"], store, broker.port, args)
            rig.close()
    results["load_after"] = os.getloadavg()[0]
    return results


class _Rig:
    """Fan-out trials: the hub's scores publishes stamped (t0), and the bare loop beside it."""

    def __init__(self, hub: Hub, hc: Any, game_id: str, clients: set[Any]) -> None:
        self.hub, self.hc, self.game_id, self.clients = hub, hc, game_id, clients
        # t0 of every scores publish: when the hub hands it to its MQTT transport.
        self.t0: dict[int, float] = {}
        self.last_payload = b""
        scores_topic = hub.topics.game_scores(game_id)
        transport = hub.transport
        self._original = original = transport.publish

        async def stamped(topic: str, payload: bytes, *, qos: int = 0, retain: bool = False) -> None:
            if topic == scores_topic and payload:
                self.t0[int(json.loads(payload)["seq"])] = time.monotonic()
                self.last_payload = payload
            await original(topic, payload, qos=qos, retain=retain)

        transport.publish = stamped  # type: ignore[method-assign]
        # When the web's feed starts handing those scores to its sockets: splits the figure into the relay (hub ->
        # broker -> web -> fan-out channel) and the fan-out itself. Bench-only wrapper, as the one above.
        self.dispatched: dict[int, float] = {}
        self._dispatch = dispatch = _Feed._dispatch  # noqa: SLF001

        def stamped_dispatch(feed: _Feed, *raws: bytes) -> None:
            now = time.monotonic()
            for raw in raws:
                if raw.startswith(b"scores "):
                    with contextlib.suppress(ValueError, KeyError, TypeError):
                        self.dispatched.setdefault(int(json.loads(raw.partition(b"\n")[2])["seq"]), now)
            dispatch(feed, *raws)

        _Feed._dispatch = stamped_dispatch  # type: ignore[method-assign]  # noqa: SLF001

    def close(self) -> None:
        self.hub.transport.publish = self._original  # type: ignore[method-assign]
        _Feed._dispatch = self._dispatch  # type: ignore[method-assign]  # noqa: SLF001

    async def quizhub_trial(self) -> int:
        reply = await self.hc.command(self.game_id, {"cmd": "adjust", "team": "t1", "delta": 1, "reason": "bench"})
        assert reply.ok, reply
        assert reply.result is not None
        return int(reply.result["seq"])

    async def bare_trial(self, seq: int) -> float:
        payload = f'{{"type":"scores","data":{{"seq":{seq},"teams":[]}}}}'
        if self.last_payload:
            body = json.loads(self.last_payload)
            body["seq"] = seq
            payload = json.dumps({"type": "scores", "data": body}, separators=(",", ":"))
        sent = time.monotonic()
        for ws in list(self.clients):
            with contextlib.suppress(Exception):
                await ws.send_text(payload)
        return sent

    async def fanout(self, n: int, urls: dict[str, str], token: str, args: argparse.Namespace) -> dict[str, Any]:
        """Both viewer sets connected at once; trials alternate bare/quizhub (order flipped every trial), so load
        from the rest of the machine falls on both alike."""
        viewers = {mode: _Viewers(urls[mode], mode, n, args.viewer_procs, self.game_id, token,
                                  batch=not args.no_batch) for mode in ("bare", "quizhub")}
        for v in viewers.values():
            await v.ready()
        pace = max(0.3, n / 2000)
        starts: dict[str, dict[int, float]] = {"bare": {}, "quizhub": {}}
        for i in range(args.trials):
            for mode in ("bare", "quizhub") if i % 2 == 0 else ("quizhub", "bare"):
                if mode == "quizhub":
                    seq = await self.quizhub_trial()
                    starts[mode][seq] = -1.0  # filled from the hub's stamp below
                else:
                    seq = 10_000_000 + i
                    starts[mode][seq] = await self.bare_trial(seq)
                await asyncio.sleep(pace)  # pacing between trials (a bench, not a test)
        starts["quizhub"] = {s: self.t0[s] for s in starts["quizhub"] if s in self.t0}
        row: dict[str, Any] = {}
        for mode, v in viewers.items():
            received = await v.results()
            per_seq: dict[int, list[float]] = {}
            for viewer in received:
                for seq, t in viewer:
                    if seq in starts[mode]:
                        per_seq.setdefault(seq, []).append((t - starts[mode][seq]) * 1000)
            complete = {seq: lat for seq, lat in per_seq.items() if len(lat) == n}
            row[mode] = _summary([x for lat in complete.values() for x in lat],
                                 [max(lat) for lat in complete.values()]) | {"complete_trials": len(complete)}
            if mode == "quizhub":  # where the time went: before the feed had it, and from then on
                relay_ms = {s: (self.dispatched[s] - starts[mode][s]) * 1000 for s in complete if s in self.dispatched}
                relay = list(relay_ms.values())
                fan = [x - r for s, r in relay_ms.items() for x in complete[s]]
                row[mode] |= {"relay_p50_ms": round(pct(relay, 50), 2), "relay_p99_ms": round(pct(relay, 99), 2),
                              "fanout_p50_ms": round(pct(fan, 50), 2), "fanout_p99_ms": round(pct(fan, 99), 2)}
            print(f"N={n:5d} {mode:8s} {row[mode]}", file=sys.stderr, flush=True)
        q, b = row["quizhub"], row["bare"]
        row["p99_ratio"] = round(q["p99_ms"] / b["p99_ms"], 2) if b["p99_ms"] else None
        row["all_p99_ratio"] = round(q["all_p99_ms"] / b["all_p99_ms"], 2) if b["all_p99_ms"] else None
        row["fanout_p99_ratio"] = round(q["fanout_p99_ms"] / b["p99_ms"], 2) if b["p99_ms"] else None
        return row


async def _buzz(hub: Hub, hc: Any, quiz_id: str, ws_url: str, store: CredentialStore, broker_port: int,
                args: argparse.Namespace) -> dict[str, Any]:
    """The remote-buzz round trip beside a simulated MQTT buzzer's, on a game of its own."""
    settings = {"grace_us": args.buzz_grace_us, "grace_from_clocks": False}
    game = await hub.repo.create_game(quiz_id, settings=settings)
    await hub.service.open_game(game.id)
    _, team_token = await issue_team_token(hub.repo, game_id=game.id, name="Remote")
    reply = await hc.command(game.id, {"cmd": "show", "q": 0})
    assert reply.ok, reply
    device = "benchdev1"
    rtts, failed = await buzz_rounds(
        hc, hub, game.id, ws_url, team_token=team_token, broker_port=broker_port, device=device,
        device_password=store.add(device, Role.DEVICE), rounds=args.buzz_rounds, delay_ms=args.buzz_delay_ms,
    )
    out: dict[str, Any] = {"rounds": args.buzz_rounds, "failed": failed, "grace_us": args.buzz_grace_us,
                           "reaction_ms": args.buzz_delay_ms}
    for who, values in rtts.items():
        out[who] = {"n": len(values), "p50_ms": round(pct(values, 50), 2), "p99_ms": round(pct(values, 99), 2)}
    ws, mqtt = out["ws"], out["mqtt"]
    out["p50_ratio"] = round(ws["p50_ms"] / mqtt["p50_ms"], 2) if mqtt["p50_ms"] else None
    out["p99_ratio"] = round(ws["p99_ms"] / mqtt["p99_ms"], 2) if mqtt["p99_ms"] else None
    print(f"buzz {out}", file=sys.stderr, flush=True)
    return out


def _table(results: dict[str, Any]) -> None:
    print(f"{'N':>6} {'mode':8} {'p50 ms':>8} {'p99 ms':>8} {'all p50':>8} {'all p99':>8}")
    for n, row in results["sizes"].items():
        for mode in ("bare", "quizhub"):
            r = row[mode]
            figures = (r["p50_ms"], r["p99_ms"], r["all_p50_ms"], r["all_p99_ms"])
            print(f"{n:>6} {mode:8} " + " ".join(f"{x:8.2f}" for x in figures))
        q = row["quizhub"]
        print(f"{'':>6} quizhub/bare: p99 {row['p99_ratio']}, all-viewers p99 {row['all_p99_ratio']}; "
              f"quizhub relay p50/p99 {q['relay_p50_ms']}/{q['relay_p99_ms']} ms, fan-out alone p50/p99 "
              f"{q['fanout_p50_ms']}/{q['fanout_p99_ms']} ms (p99 {row['fanout_p99_ratio']} x bare)")
    buzz = results.get("buzz")
    if buzz:
        print(f"\nbuzz round trip (press -> ruling back to the presser), {buzz['rounds']} rounds, "
              f"grace {buzz['grace_us']} us, {buzz['failed']} without a ruling")
        print(f"{'path':18} {'n':>4} {'p50 ms':>8} {'p99 ms':>8}")
        for who, label in (("ws", "team WebSocket"), ("mqtt", "MQTT buzzer")):
            r = buzz[who]
            print(f"{label:18} {r['n']:>4} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f}")
        print(f"WebSocket/MQTT: p50 {buzz['p50_ratio']}, p99 {buzz['p99_ratio']}")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--viewer":
        url, mode, n, game, batch = sys.argv[2:7]
        asyncio.run(_viewer_main(url, mode, int(n), game, os.environ["QH_BENCH_TOKEN"], batch == "1"))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100,1000,2000", type=lambda s: [int(x) for x in s.split(",") if x])
    parser.add_argument("--trials", default=30, type=int)
    parser.add_argument("--fanout", default="memory://")
    parser.add_argument("--viewer-procs", default=2, type=int)
    parser.add_argument("--no-batch", action="store_true",
                        help="quizhub viewers do not ask for batches (one WebSocket message per frame)")
    parser.add_argument("--buzz-rounds", default=100, type=int, help="remote-buzz round trips (0: skip)")
    parser.add_argument("--buzz-delay-ms", default=20.0, type=float, help="reaction time after seeing the arm")
    parser.add_argument("--buzz-grace-us", default=0, type=int, help="the buzz game's grace window")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "ws_fanout.json"))
    args = parser.parse_args()
    os.environ.setdefault("QUIZHUB_LOG_LEVEL", "WARNING")
    started = time.monotonic()
    results = asyncio.run(_run(args))
    results["cpus"] = os.cpu_count()
    results["seconds"] = round(time.monotonic() - started)
    results["git"] = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                    cwd=ROOT, check=False).stdout.strip()
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    _table(results)


if __name__ == "__main__":
    main()
