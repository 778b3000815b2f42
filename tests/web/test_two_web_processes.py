"""Two real `quizhub web` processes on one Redis, one broker and one PostgreSQL database (issue 5 item 4).

The broker (embedded amqtt) and the hub run in the test process (the hub fixtures, unchanged); the two web
processes are subprocesses, as a proxy would balance between them. What the test shows, as a browser would see it:

- a host command sent through process A (REST, session cookie) reaches a socket on process B as the hub's event;
- a socket opened at B with a ticket issued by A (the ticket lives in Redis), and the other way round;
- a socket that leaves B and reconnects to A with ``resume`` gets every missed event once, in order, then live
  ones (each process relays the hub's messages into the shared Redis channel, so copies arrive twice and the
  bridge must drop them).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from broker.credentials import Role
from tests.hub_arena import hub_marks
from web.auth import issue_display_token
from web.auth.users import create_user

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from tests.hub.conftest import Arena

pytestmark = [pytest.mark.redis, pytest.mark.postgres, *hub_marks(db="postgres", timeout=120)]

QUIZHUB = Path(sys.executable).with_name("quizhub")
START_TIMEOUT = 60.0  # two processes migrating and connecting at once on a loaded 2-core box
HOST_PASSWORD = "correct horse battery staple"
READY = re.compile(r"Quizhub web running: http://127\.0\.0\.1:(\d+)/")


class WebProcess:
    """One `quizhub web` subprocess on a port of its own choosing (``--port 0``); output kept for failures."""

    def __init__(self, name: str, args: list[str], env: dict[str, str]) -> None:
        self.name, self.args, self.env = name, args, env
        self.proc: asyncio.subprocess.Process | None = None
        self.lines: list[str] = []
        self.base = ""
        self._drain: asyncio.Task[None] | None = None

    @property
    def ws_url(self) -> str:
        return self.base.replace("http://", "ws://") + "/ws"

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            str(QUIZHUB), "web", *self.args, env=self.env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )
        ready: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._drain = asyncio.create_task(self._read(self.proc, ready))
        try:
            async with asyncio.timeout(START_TIMEOUT):
                port = await ready
        except TimeoutError:
            pytest.fail(f"web process {self.name} did not start:\n" + "\n".join(self.lines[-40:]))
        self.base = f"http://127.0.0.1:{port}"

    async def _read(self, proc: asyncio.subprocess.Process, ready: asyncio.Future[int]) -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            self.lines.append(line)
            match = READY.search(line)
            if match and not ready.done():
                ready.set_result(int(match.group(1)))
        if not ready.done():
            ready.set_exception(AssertionError(f"web {self.name} exited:\n" + "\n".join(self.lines[-40:])))

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            async with asyncio.timeout(20):
                await self.proc.wait()
        if self._drain is not None:
            await self._drain


@pytest.fixture
async def webs(arena: Arena, db_url: str, redis_url: str, tmp_path: Path) -> AsyncIterator[tuple[WebProcess, ...]]:
    """Processes A and B: same broker, database, Redis and session key; each with its own broker login."""
    data = tmp_path / "webdata"
    data.mkdir()
    env = {**os.environ, "QUIZHUB_DATA_DIR": str(data), "QUIZHUB_SECRET_KEY": secrets.token_urlsafe(32)}
    procs = []
    for name in ("a", "b"):
        address = arena.env.address(f"web-{name}-{uuid.uuid4().hex[:6]}", Role.SERVICE)
        assert address.password is not None
        broker_url = f"mqtt://{address.username}:{address.password.get_secret_value()}@{address.host}:{address.port}"
        procs.append(WebProcess(name, [
            "--host", "127.0.0.1", "--port", "0", "--broker-url", broker_url, "--db-url", db_url,
            "--fanout-url", redis_url, "--topic-root", arena.env.root,
        ], env))
    try:
        await asyncio.gather(*(p.start() for p in procs))
        yield tuple(procs)
    finally:
        await asyncio.gather(*(p.stop() for p in procs))


@dataclass
class Socket:
    """A screen's WebSocket: records every frame."""

    ws: ClientConnection
    frames: list[dict[str, Any]] = field(default_factory=list)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)
    closed: ConnectionClosed | None = None

    async def pump(self) -> None:
        try:
            async for raw in self.ws:
                async with self.arrived:
                    self.frames.append(json.loads(raw))
                    self.arrived.notify_all()
        except ConnectionClosed as exc:
            self.closed = exc
        async with self.arrived:
            self.arrived.notify_all()

    async def wait(self, pred: Callable[[dict[str, Any]], bool], what: str) -> None:
        try:
            async with asyncio.timeout(15), self.arrived:
                while not any(pred(f) for f in self.frames):
                    if self.closed is not None:
                        pytest.fail(f"socket closed ({self.closed}) before {what}; frames: {self.frames}")
                    await self.arrived.wait()
        except TimeoutError:
            pytest.fail(f"timed out waiting for {what}; frames: {self.frames}")

    async def wait_seq(self, seq: int) -> None:
        await self.wait(lambda f: f["type"] == "event" and f["data"]["seq"] == seq, f"event #{seq}")

    def events(self) -> list[dict[str, Any]]:
        return [f["data"] for f in self.frames if f["type"] == "event"]


@contextlib.asynccontextmanager
async def screen_at(web: WebProcess, ticket: str, subscribe: dict[str, Any]) -> AsyncIterator[Socket]:
    async with connect(f"{web.ws_url}?ticket={ticket}", origin=web.base) as ws:  # type: ignore[arg-type]
        sock = Socket(ws)
        await ws.send(json.dumps({"type": "subscribe", **subscribe}))
        task = asyncio.create_task(sock.pump())
        try:
            yield sock
        finally:
            await ws.close()
            await task


async def _ticket(http: httpx.AsyncClient, web: WebProcess, token: str) -> str:
    reply = await http.post(f"{web.base}/api/ws/ticket", headers={"Authorization": f"Bearer {token}"})
    assert reply.status_code == 200, reply.text
    return str(reply.json()["ticket"])


async def _command(http: httpx.AsyncClient, web: WebProcess, game_id: str, body: dict[str, Any]) -> int:
    """A host command through ``web``'s REST API; the new event's seq."""
    reply = await http.post(f"{web.base}/api/games/{game_id}/commands", json=body)
    assert reply.status_code == 200, reply.text
    return int(reply.json()["result"]["seq"])


async def test_an_event_caused_at_a_reaches_b_and_resume_moves_across_processes(
    arena: Arena, webs: tuple[WebProcess, WebProcess]
) -> None:
    a, b = webs
    game = arena.game_id
    await create_user(arena.hub.repo, "host-two", "quizmaster", HOST_PASSWORD)
    _, display_token = await issue_display_token(arena.hub.repo, game_id=game, name="screen")
    await arena.host.ok("add_team", team="t1", name="Owls")
    async with httpx.AsyncClient(timeout=30) as http:
        login = await http.post(f"{a.base}/api/auth/login", json={"name": "host-two", "password": HOST_PASSWORD})
        assert login.status_code == 200, login.text
        http.headers["X-CSRF-Token"] = login.json()["csrf_token"]

        # A ticket issued by A opens a socket at B (a proxy may send the two requests to different processes).
        async with screen_at(b, await _ticket(http, a, display_token), {"game": game}) as on_b:
            await on_b.wait(lambda f: f["type"] == "hello", "hello")
            first = await _command(http, a, game, {"cmd": "adjust", "team": "t1", "delta": 3, "reason": "via A"})
            await on_b.wait_seq(first)
        last_seen = on_b.events()[-1]["seq"]
        assert last_seen == first

        # While the screen is away, changes through both processes (B with A's session cookie).
        await _command(http, a, game, {"cmd": "adjust", "team": "t1", "delta": 1, "reason": "away 1"})
        await _command(http, b, game, {"cmd": "adjust", "team": "t1", "delta": 2, "reason": "away 2"})
        missed = await _command(http, a, game, {"cmd": "adjust", "team": "t1", "delta": -1, "reason": "away 3"})

        # It comes back at A (ticket from B) and resumes: the missed events once each, in order, then live ones.
        async with screen_at(a, await _ticket(http, b, display_token), {"game": game, "resume": last_seen}) as on_a:
            await on_a.wait_seq(missed)
            live = await _command(http, b, game, {"cmd": "adjust", "team": "t1", "delta": 5, "reason": "live"})
            await on_a.wait_seq(live)
            after = await _command(http, a, game, {"cmd": "adjust", "team": "t1", "delta": 1, "reason": "last"})
            await on_a.wait_seq(after)
            got = on_a.events()
    assert [e["seq"] for e in got] == list(range(last_seen + 1, after + 1))
    assert [e["seq"] for e in got] == [e.seq for e in await arena.hub.repo.load_events(game, after_seq=last_seen)]
    assert [e["data"].get("reason") for e in got] == ["away 1", "away 2", "away 3", "live", "last"]
