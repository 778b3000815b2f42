"""The /ws bridge end to end: a real uvicorn server running the real app against the embedded broker, a real Hub
and its database, with real WebSocket clients (the `websockets` library) and a hardware VirtualBuzzer."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import uvicorn
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from broker.credentials import Role
from hub.db.models import UserRole
from hub.settings import Settings
from hub.simulator import VirtualBuzzer
from tests.hub.conftest import Arena
from tests.hub_arena import hub_marks
from web.app import create_app
from web.auth import create_user, issue_display_token, issue_team_token

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

pytestmark = hub_marks(timeout=60)

MC_QUESTION = 6  # demo quiz: "Which gas do plants absorb ...", choices a-d, answer b


@dataclass
class Web:
    base: str
    ws_url: str
    arena: Arena

    def headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def web(arena: Arena, db_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[Web]:
    """The real app under uvicorn on a free port, sharing the hub's broker and database."""
    fanout = "memory://" if request.param == "memory" else str(request.getfixturevalue("redis_url"))
    address = arena.env.address(f"web-{uuid.uuid4().hex[:6]}", Role.SERVICE)
    assert address.password is not None
    data = tmp_path / "webdata"
    data.mkdir()
    settings = Settings(
        data_dir=data,
        db_url=db_url,
        topic_root=arena.env.root,
        fanout_url=fanout,
        broker_url=f"mqtt://{address.username}:{address.password.get_secret_value()}@{address.host}:{address.port}",
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)  # TCP_NODELAY, as serve
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(settings), log_config=None, access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    config.load()
    server.lifespan = config.lifespan_class(config)
    await server.startup(sockets=[sock])  # returns once the lifespan (DB, fan-out, hub client) is up
    loop = asyncio.create_task(server.main_loop())
    try:
        yield Web(f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws", arena)
    finally:
        server.should_exit = True
        await loop
        await server.shutdown(sockets=[sock])
        sock.close()


@dataclass
class Client:
    """A browser-like socket: records every frame; answers the hub's clock pings with a monotonic ms clock."""

    ws: ClientConnection
    frames: list[dict[str, Any]] = field(default_factory=list)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)
    closed: ConnectionClosed | None = None
    answer_pings: bool = True
    _task: asyncio.Task[None] | None = None

    @staticmethod
    def now_ms() -> float:
        return time.perf_counter() * 1000  # what performance.now() is to a page

    async def pump(self) -> None:
        try:
            async for raw in self.ws:
                frame = json.loads(raw)
                if frame.get("type") == "sync" and self.answer_pings:
                    t2 = self.now_ms()
                    await self.ws.send(
                        json.dumps({"type": "sync_reply", "n": frame["n"], "t2": t2, "t3": self.now_ms()})
                    )
                async with self.arrived:
                    self.frames.append(frame)
                    self.arrived.notify_all()
        except ConnectionClosed as exc:
            self.closed = exc
        async with self.arrived:
            self.arrived.notify_all()

    async def wait(self, pred: Any, timeout: float = 10.0) -> dict[str, Any]:
        """The first recorded frame matching ``pred`` (waiting for it to arrive)."""
        async with asyncio.timeout(timeout), self.arrived:
            while True:
                for frame in self.frames:
                    if pred(frame):
                        return frame
                if self.closed is not None:
                    raise AssertionError(f"closed before the frame came: {self.closed}; got {self.frames}")
                await self.arrived.wait()

    async def wait_closed(self, timeout: float = 10.0) -> ConnectionClosed:
        async with asyncio.timeout(timeout), self.arrived:
            await self.arrived.wait_for(lambda: self.closed is not None)
        assert self.closed is not None
        return self.closed

    def events(self) -> list[dict[str, Any]]:
        return [f["data"] for f in self.frames if f["type"] == "event"]


@contextlib.asynccontextmanager
async def open_client(
    web: Web,
    *,
    token: str | None = None,
    subscribe: dict[str, Any] | None = None,
    ticket: str | None = None,
    cookie: str | None = None,
    answer_pings: bool = True,
) -> AsyncIterator[Client]:
    url = web.ws_url + (f"?ticket={ticket}" if ticket else "")
    headers = web.headers(token) if token else {}
    if cookie is not None:
        headers["Cookie"] = cookie
    async with connect(url, additional_headers=headers, origin=web.base) as ws:  # type: ignore[arg-type]
        client = Client(ws, answer_pings=answer_pings)
        if subscribe is not None:
            with contextlib.suppress(ConnectionClosed):  # a refused socket may be closed already
                await ws.send(json.dumps({"type": "subscribe", **subscribe}))
        client._task = asyncio.create_task(client.pump())
        try:
            yield client
        finally:
            await ws.close()
            await client._task


def is_event(etype: str, **data: Any) -> Any:
    def pred(frame: dict[str, Any]) -> bool:
        if frame.get("type") != "event" or frame["data"]["type"] != etype:
            return False
        return all(frame["data"]["data"].get(k) == v for k, v in data.items())

    return pred


async def test_team_buzzes_against_hardware_and_display_sees_ruling(web: Web) -> None:
    arena = web.arena
    team, team_token = await issue_team_token(arena.hub.repo, game_id=arena.game_id, name="Owls")
    _, display_token = await issue_display_token(arena.hub.repo, game_id=arena.game_id, name="screen")
    hw = await arena.buzzer("hw1")
    await arena.host.ok("add_team", team="hwteam", name="Wires")
    await arena.host.ok("pair", device="hw1", team="hwteam")
    # The team's browser opens the socket with a one-use ticket (never its token in the URL).
    async with httpx.AsyncClient(base_url=web.base) as http:
        reply = await http.post("/api/ws/ticket", headers=web.headers(team_token))
        assert reply.status_code == 200, reply.text
        ticket = reply.json()["ticket"]
    async with (
        open_client(web, token=display_token, subscribe={"game": arena.game_id}) as display,
        open_client(web, ticket=ticket, subscribe={}) as player,
    ):
        hello = await player.wait(lambda f: f["type"] == "hello")
        device = f"web-{team.id}"
        assert hello == {"type": "hello", "game": arena.game_id, "role": "team", "device": device}
        await display.wait(lambda f: f["type"] == "state")
        game = arena.hub.service.games[arena.game_id].game

        def synced() -> bool:
            rows = {row["device"]: row for row in game.devices_snapshot()}
            return all(rows.get(d, {}).get("synced") for d in (device, "hw1"))

        await arena.hub.service.wait_for(synced)  # both clocks synced: the browser's over the socket
        await arena.host.ok("show", q=0)
        await arena.host.ok("arm")
        await hw.wait_for("armed")
        # Presses come a human reaction time apart (scenario timing, not synchronisation): the team 100 ms after the
        # arm (earlier could map before the arm, a false start, by the browser's clock uncertainty), the hardware
        # team 100 ms after that, inside the 250 ms grace window.
        await asyncio.sleep(0.1)
        await player.ws.send(json.dumps({"type": "buzz", "t": Client.now_ms(), "id": "b1"}))
        assert (await player.wait(lambda f: f["type"] == "buzzed"))["id"] == "b1"
        await asyncio.sleep(0.1)
        await hw.press()
        ruled = await display.wait(is_event("buzz_ruled"))
        ruling = ruled["data"]["data"]
        assert ruling["winner_team"] == team.id, json.dumps(ruling, indent=1)
        assert ruling["winner_device"] == device
        assert [p["team"] for p in ruling["order"]] == [team.id, "hwteam"]
        state = await display.wait(lambda f: f["type"] == "state" and f["data"].get("phase") == "buzzed")
        assert state["data"]["answering"]["team"] == team.id
        await player.wait(is_event("buzz_ruled", winner_team=team.id))
        await hw.wait_for("locked")


async def test_resume_gets_exactly_the_missed_events(web: Web) -> None:
    arena = web.arena
    _, token = await issue_display_token(arena.hub.repo, game_id=arena.game_id, name="screen")
    first = await arena.host.ok("add_team", team="t1", name="Owls")
    async with open_client(web, token=token, subscribe={"game": arena.game_id}) as watcher:
        # A socket resuming from 0 gets the whole log, then live events.
        async with open_client(web, token=token, subscribe={"game": arena.game_id, "resume": 0}) as screen:
            await screen.wait(lambda f: f["type"] == "event" and f["data"]["seq"] == first["result"]["seq"])
            assert [e["seq"] for e in screen.events()] == list(range(1, first["result"]["seq"] + 1))
            last_seen = screen.events()[-1]["seq"]
        # While it is away: a few changes.
        await arena.host.ok("add_team", team="t2", name="Bats")
        await arena.host.ok("adjust", team="t1", delta=5, reason="bonus")
        missed = await arena.host.ok("adjust", team="t2", delta=-2, reason="noise")
        async with open_client(web, token=token, subscribe={"game": arena.game_id, "resume": last_seen}) as again:
            await again.wait(lambda f: f["type"] == "event" and f["data"]["seq"] == missed["result"]["seq"])
            live = await arena.host.ok("adjust", team="t1", delta=1, reason="live")
            await again.wait(lambda f: f["type"] == "event" and f["data"]["seq"] == live["result"]["seq"])
            got = again.events()
            assert [e["seq"] for e in got] == list(range(last_seen + 1, live["result"]["seq"] + 1))
            # What the log replay sent is exactly what a socket connected all along saw live.
            await watcher.wait(lambda f: f["type"] == "event" and f["data"]["seq"] == live["result"]["seq"])
            seen_live = {e["seq"]: e for e in watcher.events()}
            assert got == [seen_live[e["seq"]] for e in got]
            # The snapshot came first: the current state and scores.
            assert [f["type"] for f in again.frames[:2]] == ["hello", "state"]


def _keys(doc: Any) -> set[str]:
    if isinstance(doc, dict):
        return set(doc) | {k for v in doc.values() for k in _keys(v)}
    if isinstance(doc, list):
        return {k for v in doc for k in _keys(v)}
    return set()


async def test_no_answer_reaches_players_or_displays_before_reveal(web: Web) -> None:
    arena = web.arena
    owls, owls_token = await issue_team_token(arena.hub.repo, game_id=arena.game_id, name="Owls")
    bats, bats_token = await issue_team_token(arena.hub.repo, game_id=arena.game_id, name="Bats")
    _, display_token = await issue_display_token(arena.hub.repo, game_id=arena.game_id, name="screen")
    async with (
        open_client(web, token=display_token, subscribe={"game": arena.game_id, "resume": 0}) as display,
        open_client(web, token=owls_token, subscribe={"resume": 0}) as owl,
        open_client(web, token=bats_token, subscribe={"resume": 0}) as bat,
    ):
        await owl.wait(lambda f: f["type"] == "hello")
        await bat.wait(lambda f: f["type"] == "hello")
        await arena.host.ok("show", q=MC_QUESTION)
        await arena.host.ok("arm")
        await owl.wait(lambda f: f["type"] == "state" and f["data"].get("phase") == "armed")
        await owl.ws.send(json.dumps({"type": "answer", "value": ["b"], "id": "a1"}))
        assert (await owl.wait(lambda f: f["type"] == "reply"))["ok"] is True
        await arena.host.ok("reveal")
        for sock in (display, owl, bat):
            reveal = await sock.wait(is_event("question_revealed"))
            assert reveal["data"]["data"]["correct"] == ["b"]
            # The reveal reaches a socket as this event and as the state in phase "revealed", in either order.
            cut = next(i for i, f in enumerate(sock.frames)
                       if f is reveal or (f["type"] == "state" and f["data"].get("phase") == "revealed"))
            before = sock.frames[:cut]
            leaked = {"answer", "correct", "reveal"} & _keys(before)
            assert not leaked, f"answer fields before reveal: {leaked} {[f for f in before if _keys(f) & leaked]}"
            answered = next(
                f["data"] for f in before if f["type"] == "event" and f["data"]["type"] == "answer_received"
            )
            assert answered["data"]["team"] == owls.id
            # Only the team itself sees what it answered; the screen and other teams see that it answered.
            assert ("choice" in answered["data"]) is (sock is owl)
        assert bats.id != owls.id


async def test_refusals(web: Web) -> None:
    arena = web.arena
    _, display_token = await issue_display_token(arena.hub.repo, game_id=arena.game_id, name="screen")
    # No credential: told to sign in.
    async with open_client(web, subscribe={"game": arena.game_id}) as anon:
        closed = await anon.wait_closed()
        assert closed.rcvd is not None
        assert closed.rcvd.code == 4401
    # A page from another site cannot open a socket with the browser's cookie.
    with pytest.raises(InvalidStatus) as refused:
        async with connect(web.ws_url, origin="https://evil.example"):  # type: ignore[arg-type]
            pass
    assert refused.value.response.status_code == 403
    # A display may only watch its own game.
    async with open_client(web, token=display_token, subscribe={"game": "othergame"}) as other:
        closed = await other.wait_closed()
        assert closed.rcvd is not None
        assert closed.rcvd.code == 4403
    # A ticket works once.
    async with httpx.AsyncClient(base_url=web.base) as http:
        ticket = (await http.post("/api/ws/ticket", headers=web.headers(display_token))).json()["ticket"]
    async with open_client(web, ticket=ticket, subscribe={"game": arena.game_id}) as once:
        await once.wait(lambda f: f["type"] == "hello")
    async with open_client(web, ticket=ticket, subscribe={"game": arena.game_id}) as twice:
        closed = await twice.wait_closed()
        assert closed.rcvd is not None
        assert closed.rcvd.code == 4401
    # A display cannot buzz; a flood is cut off with a reason.
    async with open_client(web, token=display_token, subscribe={"game": arena.game_id}) as flood:
        await flood.wait(lambda f: f["type"] == "hello")
        await flood.ws.send(json.dumps({"type": "buzz", "t": 1.0}))
        assert (await flood.wait(lambda f: f["type"] == "error"))["code"] == "forbidden"
        with contextlib.suppress(ConnectionClosed):
            for _ in range(200):
                await flood.ws.send(json.dumps({"type": "ping"}))
        closed = await flood.wait_closed()
        assert closed.rcvd is not None
        assert closed.rcvd.code == 4429
        assert "Too many messages" in closed.rcvd.reason


async def test_a_batch_subscriber_gets_frames_together(web: Web) -> None:
    arena = web.arena
    _, token = await issue_display_token(arena.hub.repo, game_id=arena.game_id, name="screen")
    await arena.host.ok("add_team", team="t1", name="Owls")
    async with open_client(web, token=token, subscribe={"game": arena.game_id, "batch": True}) as screen:
        # The snapshot (state, scores; no question in the lobby) comes as one message; later frames one or batched.
        snapshot = await screen.wait(lambda f: f["type"] == "batch")
        assert [f["type"] for f in snapshot["frames"]] == ["state", "scores"]
        live = await arena.host.ok("adjust", team="t1", delta=1, reason="live")

        def frames() -> list[dict[str, Any]]:
            return [g for f in screen.frames for g in (f["frames"] if f["type"] == "batch" else [f])]

        await screen.wait(lambda _: any(f["type"] == "event" and f["data"]["seq"] == live["result"]["seq"]
                                        for f in frames()))
    async with open_client(web, token=token, subscribe={"game": arena.game_id, "batch": "yes"}) as bad:
        closed = await bad.wait_closed()
        assert closed.rcvd is not None
        assert closed.rcvd.code == 4400


async def test_a_removed_teams_open_socket_is_closed(web: Web) -> None:
    arena = web.arena
    team, team_token = await issue_team_token(arena.hub.repo, game_id=arena.game_id, name="Leaving")
    _, display_token = await issue_display_token(arena.hub.repo, game_id=arena.game_id, name="screen")
    async with (
        open_client(web, token=team_token, subscribe={}) as player,
        open_client(web, token=display_token, subscribe={"game": arena.game_id}) as display,
    ):
        await player.wait(lambda f: f["type"] == "hello")
        await display.wait(lambda f: f["type"] == "hello")
        # The socket's buzzer claim adds the team on the hub; removing it must end the socket (its token is dead).
        await arena.hub.service.wait_for(lambda: team.id in arena.hub.service.games[arena.game_id].game.teams)
        await arena.host.ok("remove_team", team=team.id)
        closed = await player.wait_closed()
        assert closed.rcvd is not None
        assert closed.rcvd.code == 4403
        assert "removed your team" in closed.rcvd.reason
        await display.wait(is_event("team_removed", team=team.id))
        assert display.closed is None  # only the removed team's sockets end


async def session_cookie(web: Web, role: UserRole, name: str) -> str:
    """A signed-in user's session cookie (what a host's browser sends on /ws)."""
    await create_user(web.arena.hub.repo, name, role, "correct horse battery")
    async with httpx.AsyncClient(base_url=web.base, headers={"Origin": web.base}) as http:
        reply = await http.post("/api/auth/login", json={"name": name, "password": "correct horse battery"})
        assert reply.status_code == 200, reply.text
        return "; ".join(f"{k}={v}" for k, v in http.cookies.items())


def is_device(device: str, state: str) -> Any:
    return lambda f: f["type"] == "device" and f["id"] == device and f["data"]["state"] == state


async def test_hosts_watching_devices_see_buzzers_come_and_go_and_no_one_else_does(web: Web) -> None:
    arena = web.arena
    cookie = await session_cookie(web, UserRole.QUIZMASTER, "qm-devices")
    _, team_token = await issue_team_token(arena.hub.repo, game_id=arena.game_id, name="Owls")
    _, display_token = await issue_display_token(arena.hub.repo, game_id=arena.game_id, name="screen")
    async with (
        open_client(web, cookie=cookie, subscribe={"game": arena.game_id, "devices": True}) as watcher,
        open_client(web, cookie=cookie, subscribe={"game": arena.game_id}) as host,
        open_client(web, token=display_token, subscribe={"game": arena.game_id}) as display,
        open_client(web, token=team_token, subscribe={}) as player,
    ):
        for sock in (watcher, host, display, player):
            await sock.wait(lambda f: f["type"] == "hello")
        # A buzzer that is in no game connects after the page opened: the watching host hears it at once, health
        # included, then hears it go.
        device = f"hw-{uuid.uuid4().hex[:6]}"
        buzzer = VirtualBuzzer(device, arena.env.address(device, Role.DEVICE), root=arena.env.root)
        task = asyncio.create_task(buzzer.run())
        try:
            online = await watcher.wait(is_device(device, "online"))
            assert online["data"]["battery_mv"] == 3900
            assert online["data"]["boot"] == 1
            assert online["data"]["fw"]
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert (await watcher.wait(is_device(device, "offline")))["data"] == {"state": "offline"}
        # The bridge offers a status to every watcher in one pass, so anything the others were offered would come
        # before their answer to a ping sent now.
        for sock in (host, display, player):
            await sock.ws.send(json.dumps({"type": "ping", "id": "after"}))
            await sock.wait(lambda f: f["type"] == "pong" and f.get("id") == "after")
            assert [f for f in sock.frames if f["type"] == "device"] == [], "device info reached a non-watcher"
    # Teams and displays may not ask for it.
    for token in (team_token, display_token):
        async with open_client(web, token=token, subscribe={"game": arena.game_id, "devices": True}) as refused:
            closed = await refused.wait_closed()
            assert closed.rcvd is not None
            assert closed.rcvd.code == 4403
            assert "Only an admin or quizmaster" in closed.rcvd.reason
    async with open_client(web, cookie=cookie, subscribe={"game": arena.game_id, "devices": "yes"}) as bad:
        closed = await bad.wait_closed()
        assert closed.rcvd is not None
        assert closed.rcvd.code == 4400
