"""Scale-out: G games x B buzzers x V viewers across two `quizhub web` processes and one `quizhub hub`, against a
private Mosquitto, PostgreSQL and Redis, beside a 1-game baseline on the same processes in the same run.

    .venv/bin/python bench/scale.py [--games 20] [--buzzers 16] [--viewers 100] [--rounds 15] [--quick]

Processes: a private Mosquitto on a free port (a generated config and password file: 127.0.0.1:1883 is not ours),
`quizhub hub` and two `quizhub web` processes (real subprocesses, the scale-out shape of docs/scale.md) on a fresh
PostgreSQL database (created for the run, dropped after) and the machine's Redis (`--fanout-url redis://`, a topic
root of its own). Buzzers: bench/_e2edevices.py workers (lean raw-MQTT devices, one worker per game, clocks
answered at once). Viewers: WebSocket clients with a display token in --viewer-procs processes, half of each
game's viewers on web A, half on web B.

One round, in every active game at once: `arm` (REST, host session cookie; even games through A, odd through B),
wait until every buzzer has the arm; one random buzzer presses; **buzz->lock** = from just before that press is
sent until the game's LAST buzzer has the lock (CLOCK_MONOTONIC, shared by all processes); then `judge right`
(REST); **score->viewer** = from just before that REST request until each viewer of the game has the new
scoreboard (one sample per viewer); then `reveal` and `show` for the next round. Games use
{"grace_us": 0, "grace_from_clocks": false}: the figure is the pipeline, not the arbiter's grace window.

Phases: the baseline (game 0 only: its buzzers and viewers) and then the full size (all games), on the same hub,
web, broker, database and Redis processes. CPU per component = its CPU seconds during the phase / wall seconds
(1.0 = one core); PostgreSQL and Redis are shared with everything else on the machine. Output: a table on stdout,
bench/results/scale.json (or scale-quick.json). Ratios are full / baseline from the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import os
import random
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
from _stats import pct  # bench/_stats.py (the script's folder is on sys.path)
from sqlalchemy.engine import make_url
from websockets.asyncio.client import connect

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path.insert(0, str(ROOT))

from hub.db import Repository, create_engine, migrate, session_factory  # noqa: E402 - after the path set-up
from hub.quizfile import demo_quiz  # noqa: E402
from hub.quizstore import import_quiz  # noqa: E402
from web.auth import issue_display_token  # noqa: E402
from web.auth.users import create_user  # noqa: E402

PY = sys.executable
QUIZHUB = Path(PY).with_name("quizhub")
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
POSTGRES_URL = os.environ.get("QUIZHUB_TEST_POSTGRES", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("QUIZHUB_TEST_REDIS", "redis://127.0.0.1:6379/0")
GAME_SETTINGS = {"grace_us": 0, "grace_from_clocks": False, "answer_time_us": 600_000_000}
TEAMS = 4
STEP_TIMEOUT = 60.0
HOST_PASSWORD = secrets.token_urlsafe(16)
FRAME_TYPE = re.compile(r'^\{"type":\s?"(\w+)"')  # read the frame's type without parsing every frame


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ------------------------------------------------------------------------------------------------ viewer process


async def _viewer_main(spec_path: str) -> None:
    """Hold the sockets SPEC lists ([url, game, token, count], ...); print `ready`, then on `done` the receipts."""
    spec = json.loads(Path(spec_path).read_text())
    total = sum(int(count) for *_, count in spec)
    received: list[tuple[str, int, float]] = []
    ready = 0
    all_ready = asyncio.Event()

    async def one(url: str, game: str, token: str) -> None:
        nonlocal ready
        headers = {"Authorization": f"Bearer {token}"}
        async with connect(url, additional_headers=headers, max_queue=None, ping_interval=None) as ws:
            await ws.send(json.dumps({"type": "subscribe", "game": game}))
            async for raw in ws:
                now = time.monotonic()
                text = raw if isinstance(raw, str) else raw.decode()
                kind = FRAME_TYPE.match(text)
                if kind is None:
                    continue
                if kind.group(1) == "hello":
                    ready += 1
                    if ready == total:
                        all_ready.set()
                elif kind.group(1) == "scores":
                    received.append((game, int(json.loads(text)["data"].get("seq") or 0), now))

    tasks = []
    for url, game, token, count in spec:
        for _ in range(int(count)):
            tasks.append(asyncio.create_task(one(url, game, token)))
            if len(tasks) % 50 == 0:
                await asyncio.sleep(0.02)  # connect in waves: a handshake storm is not what this measures
    await all_ready.wait()
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # "done"
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    print(json.dumps(received), flush=True)


# ------------------------------------------------------------------------------------------------ processes


class Proc:
    """A subprocess whose stdout lines are read into a queue (and kept for error messages)."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process) -> None:
        self.name, self.proc = name, proc
        self.lines: asyncio.Queue[str] = asyncio.Queue()
        self.log: list[str] = []
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, name: str, *cmd: str, env: dict[str, str] | None = None, cwd: Path | None = None,
                    stderr: Any = None) -> Proc:
        proc = await asyncio.create_subprocess_exec(
            *cmd, env=env, cwd=cwd, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=stderr if stderr is not None else asyncio.subprocess.STDOUT, limit=64 * 1024 * 1024,
        )
        return cls(name, proc)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        async for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            self.log.append(line[:300])
            await self.lines.put(line)
        await self.lines.put("")

    async def expect(self, pattern: str, timeout: float = STEP_TIMEOUT) -> re.Match[str]:
        """The next line matching ``pattern`` (others are skipped); fails with the process's last lines."""
        regex = re.compile(pattern)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    line = await self.lines.get()
                    if line == "" and self.proc.returncode is not None:
                        raise RuntimeError(f"{self.name} exited ({self.proc.returncode}): " + "\n".join(self.log[-20:]))
                    match = regex.search(line)
                    if match:
                        return match
        except TimeoutError:
            raise RuntimeError(f"{self.name}: no line like {pattern!r}; last: " + "\n".join(self.log[-20:])) from None

    async def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()

    async def stop(self) -> None:
        if self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()
            try:
                async with asyncio.timeout(20):
                    await self.proc.wait()
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._reader


async def _admin_sql(sql: str) -> None:
    url = make_url(POSTGRES_URL)
    conn = await asyncpg.connect(host=url.host, port=url.port or 5432, user=url.username, password=url.password,
                                 database=url.database)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _mosquitto(work: Path, port: int, logins: dict[str, str]) -> Proc:
    pwfile = work / "passwd"
    pwfile.write_text("".join(f"{n}:{p}\n" for n, p in logins.items()))
    subprocess.run(["/usr/bin/mosquitto_passwd", "-U", str(pwfile)], check=True)  # hashes the file in place
    conf = work / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {pwfile}\npersistence false\n"
        # Started as root, Mosquitto would switch to user `mosquitto`, who cannot read our private tmp dir.
        f"user {getpass.getuser()}\nset_tcp_nodelay true\nmax_queued_messages 10000\n"
        "log_dest stderr\nlog_type error\n"
    )
    proc = await Proc.start("mosquitto", MOSQUITTO, "-c", str(conf), stderr=(work / "mosquitto.log").open("wb"))
    deadline = time.monotonic() + 10
    while True:  # Mosquitto prints nothing when it listens: try to connect
        with contextlib.suppress(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return proc
        if proc.proc.returncode is not None or time.monotonic() > deadline:
            raise RuntimeError(f"private mosquitto did not start, see {work / 'mosquitto.log'}")
        await asyncio.sleep(0.05)


@dataclass
class Rig:
    """Everything the phases share: the service processes, the games, the host's REST session."""

    work: Path
    root: str
    mqtt_port: int
    db_url: str
    logins: dict[str, str]
    games: list[str] = field(default_factory=list)
    display_tokens: dict[str, str] = field(default_factory=dict)
    devices: dict[str, list[str]] = field(default_factory=dict)
    procs: dict[str, Proc] = field(default_factory=dict)
    web_urls: list[str] = field(default_factory=list)
    http: httpx.AsyncClient | None = None

    def broker_url(self, login: str) -> str:
        return f"mqtt://{login}:{self.logins[login]}@127.0.0.1:{self.mqtt_port}"

    def web_for(self, index: int) -> str:
        return self.web_urls[index % 2]

    async def command(self, game_index: int, body: dict[str, Any]) -> dict[str, Any]:
        assert self.http is not None
        game = self.games[game_index]
        reply = await self.http.post(f"{self.web_for(game_index)}/api/games/{game}/commands", json=body)
        if reply.status_code != 200:
            raise RuntimeError(f"{body['cmd']} in game {game_index}: {reply.status_code} {reply.text}")
        return dict(reply.json()["result"])


async def _prepare_db(rig: Rig, games: int, buzzers: int) -> None:
    engine = create_engine(rig.db_url)
    try:
        await migrate(engine)
        repo = Repository(session_factory(engine))
        _, doc = demo_quiz()
        quiz_id = await import_quiz(repo, doc)
        for _ in range(games):
            game = await repo.create_game(quiz_id, settings=GAME_SETTINGS)
            rig.games.append(game.id)
            rig.display_tokens[game.id] = (await issue_display_token(repo, game_id=game.id, name="bench"))[1]
            rig.devices[game.id] = [f"g{len(rig.games):02d}d{i:02d}" for i in range(buzzers)]
        await create_user(repo, "bench-host", "quizmaster", HOST_PASSWORD)
    finally:
        await engine.dispose()


async def _setup_games(rig: Rig) -> None:
    """Teams and pairings over MQTT as a host login (REST has no add_team/pair-by-game for a bench), first show."""
    from hub.mqttclient import BrokerAddress, make_client  # noqa: PLC0415

    address = BrokerAddress("127.0.0.1", rig.mqtt_port).with_login("host", rig.logins["host"])
    replies: dict[str, asyncio.Future[dict[str, Any]]] = {}
    async with make_client(address, identifier="bench-host") as client:
        await client.subscribe(f"{rig.root}/games/+/replies/bench-host", qos=1)

        async def pump() -> None:
            async for msg in client.messages:
                doc = json.loads(bytes(msg.payload))  # type: ignore[arg-type]
                fut = replies.get(doc.get("id", ""))
                if fut is not None and not fut.done():
                    fut.set_result(doc)

        pumping = asyncio.create_task(pump())

        async def send(game: str, cmd: str, **fields: Any) -> None:
            cid = uuid.uuid4().hex[:12]
            replies[cid] = asyncio.get_running_loop().create_future()
            body = {"id": cid, "client": "bench-host", "cmd": cmd, **fields}
            await client.publish(f"{rig.root}/games/{game}/commands", json.dumps(body), qos=1)
            async with asyncio.timeout(STEP_TIMEOUT):
                reply = await replies[cid]
            if not reply.get("ok"):
                raise RuntimeError(f"{cmd} in {game}: {reply}")

        async def one(game: str) -> None:
            for t in range(TEAMS):
                await send(game, "add_team", team=f"t{t}", name=f"Team {t}")
            for i, dev in enumerate(rig.devices[game]):
                await send(game, "pair", device=dev, team=f"t{i % TEAMS}")
            await send(game, "show", q=0)

        try:
            await asyncio.gather(*(one(g) for g in rig.games))
        finally:
            pumping.cancel()


@contextlib.asynccontextmanager
async def rig_for(games: int, buzzers: int) -> Any:
    with tempfile.TemporaryDirectory(prefix="quizhub-scale-") as tmp:
        work = Path(tmp)
        logins = {name: secrets.token_urlsafe(18) for name in ("hub", "web-a", "web-b", "host", "dev")}
        db_name = f"quizhub_scale_{uuid.uuid4().hex[:8]}"
        db_url = make_url(POSTGRES_URL).set(database=db_name).render_as_string(hide_password=False)
        rig = Rig(work, f"scale-{uuid.uuid4().hex[:8]}", _free_port(), db_url, logins)
        await _admin_sql(f'CREATE DATABASE "{db_name}" TEMPLATE template0')
        try:
            rig.procs["mosquitto"] = await _mosquitto(work, rig.mqtt_port, logins)
            await _prepare_db(rig, games, buzzers)
            env = {**os.environ, "QUIZHUB_DATA_DIR": str(work / "data"), "QUIZHUB_LOG_LEVEL": "WARNING",
                   "QUIZHUB_SECRET_KEY": secrets.token_urlsafe(32), "QUIZHUB_TOPIC_ROOT": rig.root,
                   "QUIZHUB_DB_URL": db_url}
            hub = await Proc.start("hub", str(QUIZHUB), "hub", "--broker-url", rig.broker_url("hub"), env=env)
            rig.procs["hub"] = hub
            await hub.expect("Quizhub hub running")
            for name in ("web-a", "web-b"):
                web = await Proc.start(name, str(QUIZHUB), "web", "--host", "127.0.0.1", "--port", "0",
                                       "--broker-url", rig.broker_url(name), "--fanout-url", REDIS_URL, env=env)
                rig.procs[name] = web
                port = (await web.expect(r"Quizhub web running: http://127\.0\.0\.1:(\d+)/")).group(1)
                rig.web_urls.append(f"http://127.0.0.1:{port}")
            await _setup_games(rig)
            async with httpx.AsyncClient(timeout=STEP_TIMEOUT) as http:
                login = await http.post(f"{rig.web_urls[0]}/api/auth/login",
                                        json={"name": "bench-host", "password": HOST_PASSWORD})
                login.raise_for_status()
                http.headers["X-CSRF-Token"] = login.json()["csrf_token"]
                rig.http = http
                yield rig
        finally:
            for proc in reversed(list(rig.procs.values())):
                await proc.stop()
            await _admin_sql(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')


# ------------------------------------------------------------------------------------------------ one phase


def _cpu_seconds(pid: int) -> float:
    try:
        proc = psutil.Process(pid)
        times = proc.cpu_times()
        return float(times.user + times.system)
    except psutil.Error:
        return 0.0


def _shared_pids(name: str) -> list[int]:
    return [p.pid for p in psutil.process_iter(["name"]) if (p.info.get("name") or "").startswith(name)]


def _cpu_snapshot(groups: dict[str, list[int]]) -> dict[str, float]:
    return {name: sum(_cpu_seconds(pid) for pid in pids) for name, pids in groups.items()}


async def _devices(rig: Rig, index: int, boot: int) -> Proc:
    """Game ``index``'s buzzers; ``boot`` must be new for each phase (the hub drops a (boot, seq) it has seen)."""
    game = rig.games[index]
    spec = {"host": "127.0.0.1", "port": rig.mqtt_port, "root": rig.root, "game": game, "boot": boot,
            "clients": [[dev, "dev", rig.logins["dev"]] for dev in rig.devices[game]]}
    path = rig.work / f"devices-{index}.json"
    path.write_text(json.dumps(spec))
    proc = await Proc.start(f"devices-{index}", PY, str(BENCH_DIR / "_e2edevices.py"), str(path), cwd=BENCH_DIR)
    await proc.expect(r"^ready \d+")
    return proc


async def _viewers(rig: Rig, active: list[int], per_game: int, procs: int) -> list[Proc]:
    plan: list[list[list[Any]]] = [[] for _ in range(procs)]
    for n, index in enumerate(active):
        game = rig.games[index]
        for side in (0, 1):  # half the game's viewers on web A, half on web B
            count = per_game // 2 + (per_game % 2 if side == 0 else 0)
            url = rig.web_urls[side].replace("http://", "ws://") + "/ws"
            plan[(n * 2 + side) % procs].append([url, game, rig.display_tokens[game], count])
    out = []
    for k, spec in enumerate(plan):
        if not spec:
            continue
        path = rig.work / f"viewers-{k}.json"
        path.write_text(json.dumps(spec))
        out.append(await Proc.start(f"viewers-{k}", PY, __file__, "--viewer", str(path)))
    for proc in out:
        await proc.expect("^ready$", timeout=180)
    return out


async def _round(rig: Rig, k: int, active: list[int], devices: dict[int, Proc], rng: random.Random,
                 lock_ms: list[float], score_t0: dict[tuple[str, int], float]) -> None:
    trial = f"r{k}"
    await asyncio.gather(*(devices[i].send(f"expect {trial}") for i in active))
    await asyncio.gather(*(devices[i].expect(f"^expecting {trial}$") for i in active))
    await asyncio.gather(*(rig.command(i, {"cmd": "arm"}) for i in active))
    await asyncio.gather(*(devices[i].expect(f"^armed {trial}$") for i in active))

    async def press(i: int) -> None:
        dev = rng.choice(rig.devices[rig.games[i]])
        await devices[i].send(f"press {trial} {dev}")
        t0 = int((await devices[i].expect(rf"^pressed {trial} (\d+)")).group(1))
        last_rx = int((await devices[i].expect(rf"^done {trial} (\d+)")).group(1))
        lock_ms.append((last_rx - t0) / 1e6)

    await asyncio.gather(*(press(i) for i in active))

    async def judge(i: int) -> None:
        t0 = time.monotonic()
        result = await rig.command(i, {"cmd": "judge", "verdict": "right"})
        score_t0[(rig.games[i], int(result["seq"]))] = t0

    await asyncio.gather(*(judge(i) for i in active))
    await asyncio.gather(*(rig.command(i, {"cmd": "reveal"}) for i in active))
    await asyncio.gather(*(rig.command(i, {"cmd": "show", "q": 0}) for i in active))


def _score_latencies(score_t0: dict[tuple[str, int], float], receipts: list[tuple[str, int, float]],
                     viewers_per_game: int) -> tuple[list[float], int]:
    """Per judge: each viewer's first scoreboard with a seq at or after the judge's event (one sample per viewer)."""
    by_game: dict[str, list[int]] = {}
    for game, seq in score_t0:
        by_game.setdefault(game, []).append(seq)
    for seqs in by_game.values():
        seqs.sort()
    samples: dict[tuple[str, int], list[float]] = {}
    for game, seq, t in receipts:
        judged = [s for s in by_game.get(game, []) if s <= seq]
        if not judged:
            continue
        key = (game, judged[-1])
        samples.setdefault(key, []).append((t - score_t0[key]) * 1000)
    # A viewer may see more than one scoreboard per judge (a later publish): count per judge at most V samples.
    lat = [x for v in samples.values() for x in sorted(v)[:viewers_per_game]]
    complete = sum(1 for v in samples.values() if len(v) >= viewers_per_game)
    return lat, complete


async def _phase(rig: Rig, name: str, boot: int, active: list[int], args: argparse.Namespace) -> dict[str, Any]:
    print(f"[{name}] {len(active)} game(s) x {args.buzzers} buzzers x {args.viewers} viewers: starting clients",
          file=sys.stderr, flush=True)
    devices = dict(zip(active, await asyncio.gather(*(_devices(rig, i, boot) for i in active)), strict=True))
    viewers = await _viewers(rig, active, args.viewers, args.viewer_procs)
    rng = random.Random(args.seed)
    lock_ms: list[float] = []
    score_t0: dict[tuple[str, int], float] = {}
    try:
        await _round(rig, -1, active, devices, rng, [], {})  # warm-up: clock sync bursts, first connections
        groups = {name: [p.proc.pid] for name, p in rig.procs.items()}
        groups["buzzers (bench)"] = [p.proc.pid for p in devices.values()]
        groups["viewers (bench)"] = [p.proc.pid for p in viewers]
        groups["postgres (shared)"] = _shared_pids("postgres")
        groups["redis (shared)"] = _shared_pids("redis-server")
        cpu0, wall0 = _cpu_snapshot(groups), time.monotonic()
        for k in range(args.rounds):
            await _round(rig, k, active, devices, rng, lock_ms, score_t0)
        wall = time.monotonic() - wall0
        cpu1 = _cpu_snapshot(groups)
        receipts: list[tuple[str, int, float]] = []
        for proc in viewers:
            await proc.send("done")
        for proc in viewers:
            line = (await proc.expect(r"^\[", timeout=120)).string
            receipts.extend((g, int(s), float(t)) for g, s, t in json.loads(line))
    finally:
        for proc in [*viewers, *devices.values()]:
            await proc.stop()
    score_ms, complete = _score_latencies(score_t0, receipts, args.viewers)
    out = {
        "games": len(active), "buzzers_per_game": args.buzzers, "viewers_per_game": args.viewers,
        "rounds": args.rounds, "wall_s": round(wall, 2),
        "buzz_to_lock_ms": {"samples": len(lock_ms), "p50": round(pct(lock_ms, 50), 2),
                            "p99": round(pct(lock_ms, 99), 2)},
        "score_to_viewer_ms": {"samples": len(score_ms), "judges": len(score_t0), "complete_judges": complete,
                               "p50": round(pct(score_ms, 50), 2), "p99": round(pct(score_ms, 99), 2)},
        "cpu_cores": {g: round((cpu1[g] - cpu0[g]) / wall, 3) for g in groups},
    }
    print(f"[{name}] {json.dumps(out)}", file=sys.stderr, flush=True)
    return out


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    async with rig_for(args.games, args.buzzers) as rig:
        baseline = await _phase(rig, "baseline", 1, [0], args)
        full = await _phase(rig, "full", 2, list(range(args.games)), args)
    ratios = {
        metric: {q: round(full[metric][q] / baseline[metric][q], 2) if baseline[metric][q] else None
                 for q in ("p50", "p99")}
        for metric in ("buzz_to_lock_ms", "score_to_viewer_ms")
    }
    return {"baseline": baseline, "full": full, "ratio_full_vs_baseline": ratios, "cpus": os.cpu_count(),
            "fanout": "redis://", "broker": "mosquitto (private)", "db": "postgresql"}


def _print(results: dict[str, Any]) -> None:
    heads = ("lock p50", "lock p99", "score p50", "score p99")
    print(f"{'phase':9} {'games':>5} {'viewers':>7} " + " ".join(f"{h:>10}" for h in heads))
    for phase in ("baseline", "full"):
        r = results[phase]
        lock, score = r["buzz_to_lock_ms"], r["score_to_viewer_ms"]
        figures = (lock["p50"], lock["p99"], score["p50"], score["p99"])
        print(f"{phase:9} {r['games']:>5} {r['games'] * r['viewers_per_game']:>7} "
              + " ".join(f"{x:>10.2f}" for x in figures))
    ratio = results["ratio_full_vs_baseline"]
    print(f"ratio full/baseline: buzz->lock p50 {ratio['buzz_to_lock_ms']['p50']}, p99 "
          f"{ratio['buzz_to_lock_ms']['p99']}; score->viewer p50 {ratio['score_to_viewer_ms']['p50']}, p99 "
          f"{ratio['score_to_viewer_ms']['p99']}")
    print("\nCPU (cores busy during the measured rounds)")
    names = list(results["full"]["cpu_cores"])
    print(f"{'component':20} {'baseline':>9} {'full':>9}")
    for name in names:
        base, full = results["baseline"]["cpu_cores"].get(name, 0), results["full"]["cpu_cores"][name]
        print(f"{name:20} {base:>9.3f} {full:>9.3f}")


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--viewer":
        asyncio.run(_viewer_main(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--games", type=int, default=20)
    parser.add_argument("--buzzers", type=int, default=16, help="per game")
    parser.add_argument("--viewers", type=int, default=100, help="per game, half on each web process")
    parser.add_argument("--rounds", type=int, default=15, help="measured rounds per phase (after one warm-up)")
    parser.add_argument("--viewer-procs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="4 games x 16 buzzers x 20 viewers, 5 rounds")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.quick:
        args.games, args.viewers, args.rounds = 4, 20, 5
    results = asyncio.run(_run(args))
    results["args"] = {k: v for k, v in vars(args).items() if k != "out"}
    out = Path(args.out or BENCH_DIR / "results" / ("scale-quick.json" if args.quick else "scale.json"))
    out.write_text(json.dumps(results, indent=1) + "\n")
    _print(results)
    print(f"\nwritten: {out}")


if __name__ == "__main__":
    main()
