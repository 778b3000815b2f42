"""The WebSocket bridge (``/ws``): a game's state, question, scores and events to browsers; remote teams buzz.

See docs/websocket.md for the protocol. Theory of operation:

- **One feed per game per process.** The first socket on a game starts a :class:`_Feed`: one fan-out
  subscription on the game's channel (what :class:`web.hubclient.HubClient` relays from the broker, through
  Redis when several web processes run). The feed builds each outgoing frame once and sends it to every local
  socket that is idle itself, in one synchronous step of the send (the bare broadcast loop, with no task woken per
  socket); an event waits briefly for the scores or state that follow it, so a change is one pass, and a socket
  that asked for batches gets it as one message. See docs/websocket.md, "Fan-out".
- **A slow client never slows the others.** A send that cannot complete at once (the client is not reading) is
  finished by that socket's writer task, and its later frames wait in its bounded queue. When the queue is full,
  or one send takes longer than :data:`SEND_TIMEOUT_S`, that socket alone is closed with 4408 and a reason; it
  reconnects and resumes.
- **Resume without gaps or duplicates.** Events carry the hub's per-game ``seq`` (the log's). Each socket keeps the
  last ``seq`` it sent: anything at or below it is dropped (a duplicate from another relay, or an event already
  replayed), anything beyond ``last + 1`` is first filled in from the database log, which the hub writes before
  it publishes. ``{"type":"subscribe","resume":N}`` starts that machinery at N.
- **Remote buzzers** speak as the team's virtual device ``web-<team id>`` (paired at connect): the hub's clock
  pings are relayed to the socket, the browser answers with ``performance.now()`` readings, and its buzzes go to
  the hub as ordinary device buzzes — one arbiter rules hardware and remote teams together.
- **No answer leaks.** The hub never puts an answer in the public question; the bridge also strips what other
  teams answered (``answer_received``) from team and display sockets.
- **Device presence for hosts.** A host socket (admin or quizmaster) that subscribes with ``"devices": true`` gets a
  ``device`` frame for every device status the process's hub client receives (a buzzer comes online, goes offline,
  reports new health), whatever game it is in, so the devices page sees unpaired buzzers as they connect. Other
  roles asking for it are refused; the REST device list stays the full picture (fetched on connect).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import json
import logging
import math
import secrets
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import redis.asyncio as aioredis
from fastapi import APIRouter, HTTPException, Request, WebSocket, WebSocketDisconnect
from pydantic import BaseModel
from starlette.websockets import WebSocketState

from hub import wire
from hub.codec import encode
from hub.core.events import event_from_dict
from hub.core.game import Game
from hub.messages import Buzz, DeviceStatus, SyncReply, SyncRequest
from hub.mqttclient import BrokerAddress, parse_broker_url
from hub.quizstore import load_quiz
from hub.topics import TopicKind, Topics, is_valid_id
from web.auth import CurrentPrincipal  # noqa: TC001 - FastAPI resolves annotations at runtime
from web.auth.csrf import origin_allowed
from web.auth.deps import authenticate_connection
from web.auth.principal import AuthMethod, Principal, PrincipalKind, Role
from web.fanout import SubscriberDroppedError, Subscription, create_broadcast
from web.hubclient import FeedMessage, HubClient, HubTimeoutError, HubUnavailableError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Coroutine, Generator, Sequence

    from fastapi import FastAPI

    from hub.core.model import Quiz
    from hub.db.repository import Repository
    from hub.settings import Settings
    from web.fanout import Broadcast

__all__ = [
    "QUEUE_SIZE",
    "RATE_BURST",
    "RATE_PER_S",
    "SEND_TIMEOUT_S",
    "TICKET_TTL_S",
    "Bridge",
    "CloseCode",
    "TicketOut",
    "open_bridge",
    "router",
]

log = logging.getLogger("quizhub.web.ws")

QUEUE_SIZE: Final = 256
"""Frames a socket may have waiting unsent before it is closed as too slow (4408)."""
SEND_TIMEOUT_S: Final = 10.0
"""Longest one frame may take to leave; a client that stops reading is closed after this."""
RATE_PER_S: Final = 20.0
"""Inbound messages per second a socket may send on average ..."""
RATE_BURST: Final = 40
"""... with bursts up to this many (a clock-sync burst answers about ten pings at once)."""
HOLD_MAX_S: Final = 0.01
"""Longest an event waits for the retained update that follows it, to go out with it (see ``_Feed._gather``)."""
HOLD_MIN_S: Final = 0.0005
"""Below this a wait is not worth its timer: few sockets, cheap to send twice."""
MAX_INBOUND_CHARS: Final = 4096
SUBSCRIBE_TIMEOUT_S: Final = 10.0
TICKET_TTL_S: Final = 30
TICKET_PREFIX: Final = "qhw_"
MAX_PENDING_PINGS: Final = 16
_US_PER_MS: Final = 1000


class CloseCode:
    """WebSocket close codes the bridge uses; the close reason is a short sentence."""

    NORMAL = 1000
    TOO_BIG = 1009
    SERVER_ERROR = 1011
    TRY_LATER = 1013
    BAD_MESSAGE = 4400
    UNAUTHENTICATED = 4401
    FORBIDDEN = 4403
    NOT_FOUND = 4404
    TOO_SLOW = 4408
    RATE_LIMITED = 4429


class _CloseError(Exception):
    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason
        super().__init__(reason)


def _frame(kind: str, payload: bytes) -> str:
    return f'{{"type":"{kind}","data":{payload.decode() or "null"}}}'


def _order_key(kind: str, payload: bytes) -> tuple[int, int] | None:
    """Retained payloads' age, so an older copy (another relay's, or one in flight) never replaces a newer one."""
    if kind not in {"state", "scores"} or not payload:
        return None
    try:
        doc = json.loads(payload)
        return int(doc.get("seq") or 0), int(doc.get("ts_us") or 0)
    except (ValueError, TypeError, AttributeError):
        return None


_ANSWER_FIELDS: Final = frozenset({"choice", "value", "text"})


def _answer_view(payload: bytes) -> tuple[object, str | None]:
    """An ``answer_received`` event's team, and the event without what was answered (for displays and other teams;
    None when the hub's payload cannot be read, and then nothing is sent to them)."""
    try:
        doc = json.loads(payload)
        data = doc.get("data", {})
        team = data.get("team")
        doc["data"] = {k: v for k, v in data.items() if k not in _ANSWER_FIELDS}
    except (ValueError, AttributeError):
        return None, None
    return team, json.dumps({"type": "event", "data": doc}, separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class _Out:
    """One hub message ready for sockets: its frames are built once per message, not once per socket."""

    kind: str
    seq: int
    type: str
    payload: bytes
    frame: str
    order: tuple[int, int] | None = None
    answer_team: object = None
    redacted: str | None = None
    """``answer_received`` only: the frame for sockets that may not see the answer (built once, shared by them)."""

    @classmethod
    def build(cls, kind: str, seq: int, etype: str, payload: bytes, order: tuple[int, int] | None = None) -> _Out:
        team, redacted = _answer_view(payload) if etype == "answer_received" else (None, None)
        return cls(kind, seq, etype, payload, _frame(kind, payload), order, team, redacted)


def _batch(texts: tuple[str, ...]) -> str:
    """Several frames as one message: ``{"type":"batch","frames":[…]}`` (each frame is already JSON text)."""
    return '{"type":"batch","frames":[' + ",".join(texts) + "]}"


# ---------------------------------------------------------------------------------------------- tickets


class _TicketStore:
    """Short-lived one-use WebSocket tickets: in this process (memory://) or in Redis (shared by web processes)."""

    def __init__(self, fanout_url: str) -> None:
        self._redis: aioredis.Redis | None = None
        if fanout_url.startswith(("redis://", "rediss://")):
            self._redis = aioredis.from_url(fanout_url)
        self._memory: dict[str, tuple[float, str]] = {}

    @staticmethod
    def _key(ticket: str) -> str:
        return "quizhub:wsticket:" + hashlib.sha256(ticket.encode()).hexdigest()

    async def issue(self, principal: Principal) -> str:
        ticket = TICKET_PREFIX + secrets.token_urlsafe(32)
        doc = json.dumps({
            "kind": principal.kind.value, "id": principal.id, "name": principal.name, "role": principal.role.value,
            "via": principal.via.value, "game_id": principal.game_id,
        })
        if self._redis is not None:
            await self._redis.set(self._key(ticket), doc, ex=TICKET_TTL_S)
        else:
            now = time.monotonic()
            self._memory = {k: v for k, v in self._memory.items() if v[0] > now}  # forget expired ones
            self._memory[self._key(ticket)] = (now + TICKET_TTL_S, doc)
        return ticket

    async def redeem(self, ticket: str) -> Principal | None:
        """The principal the ticket was issued to, once; None when unknown, expired or already used."""
        key = self._key(ticket)
        doc: str | bytes | None
        if self._redis is not None:
            doc = await self._redis.getdel(key)
        else:
            entry = self._memory.pop(key, None)
            doc = entry[1] if entry is not None and entry[0] > time.monotonic() else None
        if doc is None:
            return None
        d = json.loads(doc)
        return Principal(PrincipalKind(d["kind"]), d["id"], d["name"], Role(d["role"]), AuthMethod(d["via"]),
                         game_id=d["game_id"])

    async def aclose(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()


# ---------------------------------------------------------------------------------------------- the bridge


class Bridge:
    """Per-app state of the WebSocket bridge (``app.state.bridge``): fan-out, hub client, feeds and tickets."""

    def __init__(self, settings: Settings, repo: Repository, broadcast: Broadcast, hub: HubClient | None) -> None:
        self.settings = settings
        self.repo = repo
        self.broadcast = broadcast
        self.hub = hub
        self.topics = hub.topics if hub is not None else Topics(settings.topic_root)
        self.tickets = _TicketStore(settings.fanout_url)
        self._feeds: dict[str, _Feed] = {}
        self._quizzes: dict[str, Quiz] = {}
        self._holders: dict[str, _Conn] = {}  # virtual device -> the socket that buzzes with it here
        self.device_watchers: set[_Conn] = set()  # host sockets that subscribed with "devices": true
        if hub is not None:
            hub.watch_devices(self.on_device_status)
        self._boot = 0
        self.conns = 0

    def next_boot(self) -> int:
        """A fresh boot number for a virtual device: every connection is a new boot (its clock starts over)."""
        self._boot = max(self._boot + 1, int(time.time() * 1000) % 2**32)
        return self._boot

    async def channel_feed(self, game_id: str) -> _Feed:
        feed = self._feeds.get(game_id)
        if feed is None:
            feed = _Feed(self, game_id)
            self._feeds[game_id] = feed
            await feed.start()
        return feed

    async def leave(self, conn: _Conn) -> None:
        feed = self._feeds.get(conn.game_id)
        if feed is None:
            return
        feed.conns.discard(conn)
        if not feed.conns:
            del self._feeds[conn.game_id]
            await feed.stop()

    async def events_after(self, game_id: str, after_seq: int) -> list[_Out]:
        """The logged events after ``after_seq``, as the hub published them on ``events``."""
        stored = await self.repo.load_events(game_id, after_seq)
        if not stored:
            return []
        quiz = self._quizzes.get(game_id)
        if quiz is None:
            row = await self.repo.get_game(game_id)
            if row is None:
                return []
            quiz = self._quizzes[game_id] = await load_quiz(self.repo, row.quiz_id)
        game = Game(quiz)  # wire.event reads only the quiz (public question, reveal)
        out = []
        for e in stored:
            payload = wire.event(e.seq, event_from_dict(e.payload), game)
            etype = e.type.replace(".", "_")
            out.append(_Out.build("event", e.seq, etype, payload))
        return out

    def on_device_status(self, device: str, status: DeviceStatus) -> None:
        """A device's status from the broker (hub client's receive loop): one frame, offered to each device watcher."""
        if not self.device_watchers:
            return
        frame = f'{{"type":"device","id":{json.dumps(device)},"data":{encode(status).decode()}}}'
        for conn in list(self.device_watchers):
            conn.offer(frame)

    async def aclose(self) -> None:
        if self.hub is not None:
            self.hub.unwatch_devices(self.on_device_status)
        for feed in list(self._feeds.values()):
            await feed.stop()
        self._feeds.clear()
        await self.tickets.aclose()


class _Feed:
    """One game's fan-out subscription in this process, dispatching to its local sockets."""

    def __init__(self, bridge: Bridge, game_id: str) -> None:
        self.bridge = bridge
        self.game_id = game_id
        self.conns: set[_Conn] = set()
        self._task: asyncio.Task[None] | None = None
        self._max_seq = 0
        self._orders: dict[str, tuple[int, int]] = {}
        self._last_question: bytes | None = None
        self._cost_per_conn = 0.0  # seconds one dispatch took per socket, averaged

    async def start(self) -> None:
        ready = asyncio.get_running_loop().create_future()
        self._task = asyncio.create_task(self._run(ready), name=f"ws-feed {self.game_id}")
        await ready

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self, ready: asyncio.Future[None]) -> None:
        channel = self.bridge.hub.channel(self.game_id) if self.bridge.hub else f"quizhub:game:{self.game_id}"
        try:
            async with self.bridge.broadcast.subscribe(channel) as sub:
                ready.set_result(None)
                async for raw in sub:
                    self._dispatch(*await self._gather(raw, sub))
        except SubscriberDroppedError as exc:  # the feed never waits, so this is a stalled process
            for conn in list(self.conns):
                conn.kick(CloseCode.TOO_SLOW, f"the server fell behind ({exc.reason}); reconnect and resume")
        except Exception as exc:
            if not ready.done():
                ready.set_exception(exc)
                return
            log.exception("WebSocket feed failed", extra={"game": self.game_id})
            for conn in list(self.conns):
                conn.kick(CloseCode.TRY_LATER, "the server lost its event feed; reconnect and resume")

    async def _gather(self, first: bytes, sub: Subscription) -> list[bytes]:
        """``first`` and what belongs with it: a change reaches the hub's topics as events, then the retained
        state or scores they changed (the hub publishes them a broker round trip apart). Events wait for that
        follow-up at most :data:`HOLD_MAX_S`, and never longer than sending them alone would take (the last
        dispatch's cost per socket, times the sockets): each socket then gets the change in one send, not two."""
        raws = [first, *sub.drain()]
        hold = min(HOLD_MAX_S, self._cost_per_conn * len(self.conns))
        if hold < HOLD_MIN_S or not raws[-1].startswith(b"event "):
            return raws
        deadline = asyncio.get_running_loop().time() + hold
        while raws[-1].startswith(b"event "):
            try:
                async with asyncio.timeout_at(deadline):
                    raws.append(await anext(sub))
            except (TimeoutError, StopAsyncIteration):  # the end of the subscription: the next anext says so again
                break
            raws += sub.drain()
        return raws

    def _dispatch(self, *raws: bytes) -> None:
        outs = [out for raw in raws if (out := self._fresh(raw)) is not None]
        if not outs or not self.conns:
            return
        for out in outs:
            if out.kind == "event" and out.type == "team_removed":
                self._close_removed_team(out.payload)
        started = time.perf_counter()
        shared: dict[tuple[str, ...], str] = {}  # one batch text per distinct frame list, shared by its sockets
        for conn in self.conns:
            conn.deliver(outs, shared)
        cost = (time.perf_counter() - started) / len(self.conns)
        self._cost_per_conn += (cost - self._cost_per_conn) / 4  # a moving average: one slow pass is not the rule

    def _close_removed_team(self, payload: bytes) -> None:
        # The team's token is dead from now on, but an open socket was authenticated before: end it too, or the
        # removed team would go on watching and buzzing until its next reconnect.
        try:
            team = json.loads(payload)["data"]["team"]
        except (ValueError, KeyError, TypeError):
            return
        for conn in self.conns:
            if conn.principal.role is Role.TEAM and conn.principal.id == team:
                conn.kick(CloseCode.FORBIDDEN, "The host removed your team. Join again with the game code.")

    def _fresh(self, raw: bytes) -> _Out | None:
        """The message as frames, or None for a bad message, a duplicate (several relays) or a stale copy."""
        try:
            msg = FeedMessage.decode(raw)
        except ValueError:
            log.warning("bad fan-out message dropped", extra={"game": self.game_id})
            return None
        order = _order_key(msg.kind, msg.payload)
        # Duplicates and stale copies stop here, once for all sockets.
        if msg.kind == "event":
            if msg.seq <= self._max_seq:
                return None
            self._max_seq = msg.seq
        elif order is not None:
            if order <= self._orders.get(msg.kind, (-1, -1)):
                return None
            self._orders[msg.kind] = order
        elif msg.kind == "question":
            if msg.payload == self._last_question:
                return None
            self._last_question = msg.payload
        return _Out.build(msg.kind, msg.seq, msg.type, msg.payload, order)


_CLOSE: Final = object()


class _GapError(Exception):
    """An event beyond the next expected ``seq``: the missing ones must come from the log first (which waits)."""


@dataclass(frozen=True, slots=True)
class _Failed:
    """A send the feed started raised: the writer re-raises it, so the socket ends as if the writer had sent."""

    error: Exception


class _Resume:
    """Finish, in the socket's writer task, a send that the feed started and that suspended.

    The feed starts an idle socket's send itself and steps it once (``coro.send(None)``). With room in the
    socket's write buffer the whole ASGI send chain completes in that step (nothing in it waits), as in a bare
    broadcast loop, and no task is woken per socket. When the buffer is full the send suspends on its drain future;
    this awaitable then drives it on inside the writer task exactly as ``await`` would (``yield from`` by hand), and
    the feed goes on to the next socket without waiting.
    """

    __slots__ = ("_coro", "_yielded")

    def __init__(self, coro: Coroutine[Any, Any, None], yielded: object) -> None:
        self._coro = coro
        self._yielded = yielded

    def close(self) -> None:
        self._coro.close()

    def __await__(self) -> Generator[Any, Any, None]:
        coro, yielded = self._coro, self._yielded
        while True:
            try:
                sent = yield yielded
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # noqa: BLE001 - cancellation included: into the send, as await does
                try:
                    yielded = coro.throw(exc)
                except StopIteration:
                    return
            else:
                try:
                    yielded = coro.send(sent)
                except StopIteration:
                    return


_Item = _Out | str | _Resume | _Failed | object


@dataclass
class _Conn:
    """One socket: its principal, game, bounded outbound queue and what it has been sent.

    ``busy`` says who sends: while False the feed sends to the socket itself (``deliver``); while True (the snapshot
    and resume at connect, a send that suspended, a gap to fill from the log) frames queue for the writer task,
    which sets it back to False once the queue is empty. Frames therefore leave in the order they came.
    """

    ws: WebSocket
    bridge: Bridge
    principal: Principal
    game_id: str
    batch: bool = False
    queue: asyncio.Queue[_Item] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))
    busy: bool = True
    last_seq: int | None = None
    orders: dict[str, tuple[int, int]] = field(default_factory=dict)
    kicked: tuple[int, str] | None = None
    sending_since: float | None = None
    writer: asyncio.Task[None] | None = None
    # Remote buzzer state (teams only).
    device: str | None = None
    boot: int = 0
    buzz_seq: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    pings: dict[int, int] = field(default_factory=dict)
    last_dev_us: int = 0
    tokens: float = RATE_BURST
    refilled: float = field(default_factory=time.monotonic)

    def __hash__(self) -> int:
        return id(self)

    # ---------------------------------------------------------------- outbound

    def deliver(self, outs: Sequence[_Out], shared: dict[tuple[str, ...], str]) -> None:
        """The feed's frames: sent at once when this socket is idle, else queued for its writer; never waits."""
        if self.kicked is not None:
            return
        if self.busy:
            for out in outs:
                self._enqueue(out)
            return
        texts: list[str] = []
        for i, out in enumerate(outs):
            try:
                text = self.accept(out)
            except _GapError:  # the writer fills the gap from the log, then sends the rest in order
                self._send_now(texts, shared)
                for rest in outs[i:]:
                    self._enqueue(rest)
                return
            if text is not None:
                texts.append(text)
        self._send_now(texts, shared)

    def offer(self, item: str) -> None:
        """A frame for this socket alone (a reply, a clock ping, an error); never waits."""
        if self.kicked is not None:
            return
        if self.busy:
            self._enqueue(item)
        else:
            self._send_now([item], None)

    def _send_now(self, texts: list[str], shared: dict[tuple[str, ...], str] | None) -> None:
        if self.batch and len(texts) > 1:
            key = tuple(texts)
            text = shared.get(key) if shared is not None else None
            if text is None:
                text = _batch(key)
                if shared is not None:
                    shared[key] = text
            texts = [text]
        for text in texts:
            if self.busy:  # an earlier send suspended: the rest wait behind it
                self._enqueue(text)
            else:
                self._start_send(text)

    def _start_send(self, text: str) -> None:
        coro = self.ws.send_text(text)
        try:
            yielded = coro.send(None)
        except StopIteration:
            return
        except Exception as exc:  # noqa: BLE001 - a closed socket, say: the writer raises it, as if it had sent
            self._enqueue(_Failed(exc))
            return
        self.sending_since = time.monotonic()
        self._enqueue(_Resume(coro, yielded))

    def _enqueue(self, item: _Item) -> None:
        """Queue for the writer; a full queue closes this socket (only this one) as too slow."""
        self.busy = True
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            if isinstance(item, _Resume):
                item.close()
            self.kick(CloseCode.TOO_SLOW, f"too slow: {QUEUE_SIZE} messages were waiting unsent; reconnect and resume")
            return
        # A send stuck on a client that stopped reading is noticed here, at the next frame for it, rather than by a
        # timer per send (one timer per frame per socket costs more than the send itself at thousands of viewers).
        since = self.sending_since
        if since is not None and time.monotonic() - since > SEND_TIMEOUT_S:
            self.kick(CloseCode.TOO_SLOW, f"too slow: one message took over {SEND_TIMEOUT_S:g} s to send")

    def kick(self, code: int, reason: str) -> None:
        if self.kicked is not None:
            return
        self.kicked = (code, reason)
        while not self.queue.empty():
            item = self.queue.get_nowait()
            if isinstance(item, _Resume):
                item.close()
        self.queue.put_nowait(_CLOSE)
        if self.sending_since is not None and self.writer is not None:
            self.writer.cancel()  # stuck in a send: write_loop turns this into the close

    async def send(self, frame: str) -> None:
        self.sending_since = time.monotonic()
        await self.ws.send_text(frame)
        self.sending_since = None

    def sees_answers_of(self, team: object) -> bool:
        """Hosts and integrators see every team's answer; a team its own; a display none (before reveal or after)."""
        if self.principal.role in {Role.ADMIN, Role.QUIZMASTER, Role.INTEGRATOR}:
            return True
        return self.principal.role is Role.TEAM and team == self.principal.id

    def render(self, out: _Out) -> str | None:
        if out.type != "answer_received" or self.sees_answers_of(out.answer_team):
            return out.frame
        return out.redacted  # None (nothing sent) if the hub's event could not be read

    def accept(self, out: _Out, *, gap_ok: bool = False) -> str | None:
        """The frame this socket gets for ``out``; None for a duplicate or stale copy; ``_GapError`` when events were
        missed (unless ``gap_ok``: after the log had its say, a gap it could not fill is accepted)."""
        if out.kind == "event":
            if self.last_seq is not None:
                if out.seq <= self.last_seq:
                    return None
                if out.seq > self.last_seq + 1 and not gap_ok:
                    raise _GapError
            self.last_seq = out.seq
            return self.render(out)
        if out.order is not None:
            if out.order <= self.orders.get(out.kind, (-1, -1)):
                return None
            self.orders[out.kind] = out.order
        return out.frame

    async def replay(self, after: int) -> None:
        texts = []
        for out in await self.bridge.events_after(self.game_id, after):
            if self.last_seq is None or out.seq > self.last_seq:
                self.last_seq = out.seq
                if (text := self.render(out)) is not None:
                    texts.append(text)
        await self._flush(texts)

    async def send_snapshot(self) -> None:
        """The game's current retained state, question and scores, as this process last saw them."""
        hub = self.bridge.hub
        retained = hub.retained(self.game_id) if hub is not None else {}
        texts = []
        for kind in ("state", "question", "scores"):
            if kind in retained:
                payload = retained[kind]
                if (order := _order_key(kind, payload)) is not None:
                    self.orders[kind] = order
                texts.append(_frame(kind, payload))
        await self._flush(texts)

    async def _flush(self, texts: list[str]) -> None:
        """Send these frames: as one batch for a socket that asked for batches, else one by one."""
        if self.batch and len(texts) > 1:
            await self.send(_batch(tuple(texts)))
        else:
            for text in texts:
                await self.send(text)
        texts.clear()

    async def write_loop(self, resume: int | None) -> None:
        try:
            await self._write_loop(resume)
        except asyncio.CancelledError:
            if self.kicked is None:
                raise
            raise _CloseError(*self.kicked) from None

    async def _write_loop(self, resume: int | None) -> None:
        await self.send_snapshot()
        if resume is not None:
            self.last_seq = resume
            await self.replay(resume)
        while True:
            if self.queue.empty():
                self.busy = False  # idle: the feed sends to this socket itself until something must wait again
            items = [await self.queue.get()]
            while not self.queue.empty():  # everything that piled up goes out together
                items.append(self.queue.get_nowait())
            await self._write(items)

    async def _write(self, items: list[_Item]) -> None:
        texts: list[str] = []
        for item in items:
            if isinstance(item, str):
                texts.append(item)
            elif isinstance(item, _Out):
                try:
                    text = self.accept(item)
                except _GapError:  # missed some (fan-out is at most once): the log has them
                    await self._flush(texts)
                    assert self.last_seq is not None
                    await self.replay(self.last_seq)
                    text = self.accept(item, gap_ok=True)
                if text is not None:
                    texts.append(text)
            else:
                await self._flush(texts)
                await self._write_special(item)
        await self._flush(texts)

    async def _write_special(self, item: _Item) -> None:
        if isinstance(item, _Resume):
            await item
            self.sending_since = None
        elif isinstance(item, _Failed):
            raise item.error
        else:  # _CLOSE
            code, reason = self.kicked or (CloseCode.NORMAL, "closed")
            raise _CloseError(code, reason)

    # ---------------------------------------------------------------- inbound

    def take_token(self) -> bool:
        now = time.monotonic()
        self.tokens = min(RATE_BURST, self.tokens + (now - self.refilled) * RATE_PER_S)
        self.refilled = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    def on_ping(self, ping: SyncRequest) -> None:
        """The hub pings this socket's virtual device (called from the MQTT receive loop)."""
        if len(self.pings) >= MAX_PENDING_PINGS:
            del self.pings[min(self.pings)]
        self.pings[ping.n] = ping.t1
        self.offer(json.dumps({"type": "sync", "n": ping.n, "t1": ping.t1}, separators=(",", ":")))


def _dev_us(value: object, what: str) -> int:
    """A ``performance.now()`` reading (ms, float) as integer µs, the virtual device's clock."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} must be a performance.now() reading: a non-negative number of milliseconds")
    return round(value * _US_PER_MS)


class TicketOut(BaseModel):
    """A one-use ticket for ``/ws?ticket=…``: valid for ``expires_in_s`` seconds, for one connection."""

    ticket: str
    expires_in_s: int


router = APIRouter(tags=["websocket"])


def _bridge(conn: Request | WebSocket) -> Bridge:
    bridge = getattr(conn.app.state, "bridge", None)
    if bridge is None:
        raise RuntimeError("app.state.bridge is not set: the app's lifespan must run open_bridge first")
    return bridge  # type: ignore[no-any-return]


@router.post("/api/ws/ticket")
async def ws_ticket(request: Request, principal: CurrentPrincipal) -> TicketOut:
    """A short-lived one-use ticket to open ``/ws`` as the caller: browsers cannot set headers on a WebSocket,
    and a long-lived token must never be put in a URL. Any signed-in role; cookie callers need the CSRF header."""
    ticket = await _bridge(request).tickets.issue(principal)
    return TicketOut(ticket=ticket, expires_in_s=TICKET_TTL_S)


async def _authenticate(ws: WebSocket, bridge: Bridge) -> Principal:
    ticket = ws.query_params.get("ticket")
    if ticket is not None:
        principal = await bridge.tickets.redeem(ticket)
        if principal is None:
            raise _CloseError(
                CloseCode.UNAUTHENTICATED,
                "This ticket is unknown, expired or already used; get a new one from POST /api/ws/ticket.",
            )
        return principal
    try:
        principal = await authenticate_connection(ws)
    except HTTPException as exc:
        code = CloseCode.BAD_MESSAGE if exc.status_code == 400 else CloseCode.UNAUTHENTICATED
        raise _CloseError(code, str(exc.detail)) from None
    if principal is None:
        raise _CloseError(CloseCode.UNAUTHENTICATED,
                          "Sign in first: send the session cookie, or a ticket from POST /api/ws/ticket as ?ticket=.")
    return principal


_DEVICE_WATCHERS: Final = frozenset({Role.ADMIN, Role.QUIZMASTER})
"""Who may subscribe with ``"devices": true``: the hosts, who pair buzzers (never teams or displays)."""


@dataclass(frozen=True, slots=True)
class _Subscribe:
    game: str
    resume: int | None
    batch: bool
    devices: bool


async def _subscription(ws: WebSocket, principal: Principal) -> _Subscribe:
    try:
        async with asyncio.timeout(SUBSCRIBE_TIMEOUT_S):
            text = await ws.receive_text()
    except TimeoutError:
        raise _CloseError(CloseCode.BAD_MESSAGE, 'Send {"type":"subscribe","game":…} first.') from None
    try:
        msg = json.loads(text)
    except ValueError:
        msg = None
    if not isinstance(msg, dict) or msg.get("type") != "subscribe":
        raise _CloseError(CloseCode.BAD_MESSAGE, 'The first message must be {"type":"subscribe","game":…}.')
    game = msg.get("game", principal.game_id)
    resume = msg.get("resume")
    if not isinstance(game, str) or not is_valid_id(game):
        raise _CloseError(CloseCode.BAD_MESSAGE, "subscribe needs a game id.")
    if resume is not None and (isinstance(resume, bool) or not isinstance(resume, int) or resume < 0):
        raise _CloseError(CloseCode.BAD_MESSAGE, "resume must be the last event seq you saw (an integer >= 0).")
    batch = msg.get("batch", False)
    if not isinstance(batch, bool):
        raise _CloseError(CloseCode.BAD_MESSAGE, "batch must be true or false.")
    devices = msg.get("devices", False)
    if not isinstance(devices, bool):
        raise _CloseError(CloseCode.BAD_MESSAGE, "devices must be true or false.")
    if not principal.may_see_game(game):
        raise _CloseError(CloseCode.FORBIDDEN,
                          f"Your {principal.kind.value} token belongs to another game; it cannot watch game {game}.")
    if devices and principal.role not in _DEVICE_WATCHERS:
        raise _CloseError(CloseCode.FORBIDDEN,
                          f"Only an admin or quizmaster may watch the devices; a {principal.role.value} may not.")
    return _Subscribe(game, resume, batch, devices)


async def _check_game(bridge: Bridge, game_id: str) -> None:
    if await bridge.repo.get_game(game_id) is None:
        raise _CloseError(CloseCode.NOT_FOUND, f"There is no game {game_id}.")
    if bridge.hub is None:
        raise _CloseError(CloseCode.TRY_LATER, "This web process has no connection to the hub.")


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    if ws.application_state is not WebSocketState.CONNECTED or ws.client_state is not WebSocketState.CONNECTED:
        return
    with contextlib.suppress(Exception):
        async with asyncio.timeout(2):
            await ws.send_text(json.dumps({"type": "error", "code": code, "message": reason}))
            await ws.close(code, reason.encode()[:123].decode(errors="ignore"))


@router.websocket("/ws")
async def ws_endpoint(ws: WebSocket) -> None:
    """Roles: admin, quizmaster, integrator (any game), display and team (their own game only)."""
    bridge = _bridge(ws)
    if not origin_allowed(ws, bridge.settings):
        await ws.close(CloseCode.FORBIDDEN)  # before accept: the handshake fails with 403 (cross-site WebSocket)
        return
    await ws.accept()
    conn: _Conn | None = None
    try:
        principal = await _authenticate(ws, bridge)
        sub = await _subscription(ws, principal)
        await _check_game(bridge, sub.game)
        conn = _Conn(ws, bridge, principal, sub.game, sub.batch)
        feed = await bridge.channel_feed(sub.game)
        feed.conns.add(conn)
        bridge.conns += 1
        if sub.devices:  # from now on: a device change during the snapshot waits in the queue behind it
            bridge.device_watchers.add(conn)
        await _serve(conn, sub.resume)
    except _CloseError as exc:
        await _close(ws, exc.code, exc.reason)
    except WebSocketDisconnect:
        pass
    except Exception:
        log.exception("WebSocket failed")
        await _close(ws, CloseCode.SERVER_ERROR, "The server hit an error; reconnect and resume.")
    finally:
        if conn is not None:
            bridge.conns -= 1
            bridge.device_watchers.discard(conn)
            await _release_device(conn)
            await bridge.leave(conn)


async def _serve(conn: _Conn, resume: int | None) -> None:
    if conn.principal.role is Role.TEAM:
        await _claim_device(conn)
    await conn.ws.send_text(json.dumps({
        "type": "hello", "game": conn.game_id, "role": conn.principal.role.value, "device": conn.device,
    }, separators=(",", ":")))
    try:
        async with asyncio.TaskGroup() as tg:
            conn.writer = tg.create_task(conn.write_loop(resume))
            tg.create_task(_read_loop(conn, tg))
    except* _CloseError as group:
        first = group.exceptions[0]
        assert isinstance(first, _CloseError)
        raise first from None
    except* WebSocketDisconnect:
        pass


async def _read_loop(conn: _Conn, tg: asyncio.TaskGroup) -> None:
    while True:
        message = await conn.ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        if not conn.take_token():
            raise _CloseError(CloseCode.RATE_LIMITED,
                              f"Too many messages: at most {RATE_PER_S:g} per second (bursts of {RATE_BURST}).")
        text = message.get("text")
        if text is None:
            conn.offer(_error("bad_message", "send JSON text frames"))
            continue
        if len(text) > MAX_INBOUND_CHARS:
            raise _CloseError(CloseCode.TOO_BIG, f"Messages are at most {MAX_INBOUND_CHARS} characters.")
        try:
            msg = json.loads(text)
        except ValueError:
            msg = None
        if not isinstance(msg, dict):
            conn.offer(_error("bad_message", "each message is a JSON object with a type"))
            continue
        await _handle(conn, msg, tg)


def _error(code: str, message: str, ref: object = None) -> str:
    doc: dict[str, Any] = {"type": "error", "code": code, "message": message}
    if isinstance(ref, str | int) and not isinstance(ref, bool):
        doc["ref"] = ref
    return json.dumps(doc)


async def _handle(conn: _Conn, msg: dict[str, Any], tg: asyncio.TaskGroup) -> None:
    kind = msg.get("type")
    ref = msg.get("id")
    if kind == "ping":
        conn.offer(json.dumps({"type": "pong", "id": ref} if isinstance(ref, str | int) else {"type": "pong"}))
        return
    if kind not in {"buzz", "sync_reply", "answer"}:
        conn.offer(_error("bad_message", f"unknown message type {kind!r}", ref))
        return
    if conn.principal.role is not Role.TEAM:
        conn.offer(_error("forbidden", f"only a team's socket may send {kind!r}", ref))
        return
    if kind == "answer":
        tg.create_task(_answer(conn, msg.get("value"), ref))
        return
    hub = conn.bridge.hub
    assert hub is not None
    if conn.device is None or conn.bridge._holders.get(conn.device) is not conn:  # noqa: SLF001
        conn.offer(_error("not_buzzer", "another connection of your team holds the buzzer now", ref))
        return
    try:
        if kind == "sync_reply":
            await _sync_reply(conn, hub, msg)
        else:
            seq = await _buzz(conn, hub, msg)
            conn.offer(json.dumps({"type": "buzzed", "seq": seq, "id": ref}))
    except ValueError as exc:
        conn.offer(_error("bad_message", str(exc), ref))


async def _sync_reply(conn: _Conn, hub: HubClient, msg: dict[str, Any]) -> None:
    n = msg.get("n")
    t1 = conn.pings.pop(n, None) if isinstance(n, int) and not isinstance(n, bool) else None
    if t1 is None:
        raise ValueError("sync_reply answers a sync ping that is unknown or already answered")
    t2, t3 = _dev_us(msg.get("t2"), "t2"), _dev_us(msg.get("t3"), "t3")
    if not conn.last_dev_us <= t2 <= t3:
        raise ValueError("t2 <= t3 and both not before your last reading: performance.now() never goes back")
    conn.last_dev_us = t3
    reply = SyncReply(n=n, t1=t1, t2=t2, t3=t3, boot=conn.boot)
    assert conn.device is not None
    await hub.publish_device(TopicKind.DEVICE_SYNC_REPLY, conn.device, encode(reply))


async def _buzz(conn: _Conn, hub: HubClient, msg: dict[str, Any]) -> int:
    t_us = _dev_us(msg.get("t"), "t")
    seq = next(conn.buzz_seq)
    assert conn.device is not None
    await hub.publish_device(TopicKind.DEVICE_BUZZ, conn.device, encode(Buzz(seq=seq, boot=conn.boot, t_us=t_us)))
    return seq


async def _answer(conn: _Conn, value: object, ref: object) -> None:
    hub = conn.bridge.hub
    assert hub is not None
    body = {"cmd": "answer", "team": conn.principal.id, "value": value}
    try:
        reply = await hub.command(conn.game_id, body)
    except ValueError as exc:
        conn.offer(_error("bad_answer", str(exc), ref))
        return
    except (HubTimeoutError, HubUnavailableError) as exc:
        conn.offer(_error("hub_unavailable", str(exc), ref))
        return
    doc: dict[str, Any] = {"type": "reply", "id": ref, "ok": reply.ok}
    if reply.error is not None:
        doc["error"] = reply.error.model_dump()
    conn.offer(json.dumps(doc))


async def _hub_ok(hub: HubClient, game_id: str, body: dict[str, Any], accept: frozenset[str]) -> str | None:
    """Send a command; None when it worked (or failed with a code in ``accept``), else the error code."""
    reply = await hub.command(game_id, body)
    if reply.ok or (reply.error is not None and reply.error.code in accept):
        return None
    return reply.error.code if reply.error is not None else "error"


async def _claim_device(conn: _Conn) -> None:
    """Make this socket its team's buzzer: the virtual device, paired to the team, with a fresh boot."""
    hub, bridge = conn.bridge.hub, conn.bridge
    assert hub is not None
    team = conn.principal.id
    device = f"web-{team}"
    if not is_valid_id(device):
        conn.offer(_error("no_buzzer", "this team's id cannot name a buzzer; watch only"))
        return
    conn.device, conn.boot = device, bridge.next_boot()
    bridge._holders[device] = conn  # noqa: SLF001 - the bridge's own bookkeeping, kept here with its user
    hub.register_device(device, conn.on_ping)
    pair = {"cmd": "pair", "device": device, "team": team}
    try:
        code = await _hub_ok(hub, conn.game_id, pair, frozenset({"already_paired"}))
        if code == "unknown_team":  # the hub has not heard of the team yet: add it, as joining does
            name = conn.principal.name[:64] or team
            add = {"cmd": "add_team", "team": team, "name": name}
            await _hub_ok(hub, conn.game_id, add, frozenset({"team_exists"}))
            code = await _hub_ok(hub, conn.game_id, pair, frozenset({"already_paired"}))
        if code is not None:
            conn.offer(_error("no_buzzer", f"the hub would not pair your buzzer ({code}); watch only"))
        # "online" with a new boot: the hub starts this device's clock model afresh and sends a ping burst.
        status = encode(DeviceStatus(state="online", boot=conn.boot))
        await hub.publish_device(TopicKind.DEVICE_STATUS, device, status, retain=True)
    except (HubTimeoutError, HubUnavailableError) as exc:
        conn.offer(_error("hub_unavailable", str(exc)))


async def _release_device(conn: _Conn) -> None:
    bridge, hub, device = conn.bridge, conn.bridge.hub, conn.device
    if device is None or hub is None or bridge._holders.get(device) is not conn:  # noqa: SLF001
        return
    del bridge._holders[device]  # noqa: SLF001
    hub.unregister_device(device, conn.on_ping)
    with contextlib.suppress(Exception):
        async with asyncio.timeout(2):
            offline = encode(DeviceStatus(state="offline"))
            await hub.publish_device(TopicKind.DEVICE_STATUS, device, offline, retain=True)


# ---------------------------------------------------------------------------------------------- lifespan


def _broker_address(app: FastAPI, settings: Settings) -> BrokerAddress | None:
    """Where the web's hub client connects: --broker-url, else the in-process hub's own address (serve)."""
    explicit = getattr(app.state, "broker_address", None)
    if isinstance(explicit, BrokerAddress):
        return explicit
    if settings.broker_url:
        return parse_broker_url(settings.broker_url)
    hub = getattr(app.state, "hub", None)
    address = getattr(hub, "address", None)
    return address if isinstance(address, BrokerAddress) else None


@asynccontextmanager
async def open_bridge(app: FastAPI, settings: Settings) -> AsyncIterator[Bridge]:
    """The fan-out, the hub client and the bridge, for the app's lifespan (``app.state.broadcast/hub_client/bridge``).

    Without a broker address (no --broker-url and no in-process hub) there is no hub client, and ``/ws`` answers
    1013 after the handshake.
    """
    broadcast = create_broadcast(settings.fanout_url)
    await broadcast.connect()
    hub: HubClient | None = None
    try:
        address = _broker_address(app, settings)
        if address is not None:
            hub = HubClient(address, broadcast=broadcast, topics=Topics(settings.topic_root))
            await hub.start()
        bridge = Bridge(settings, app.state.repo, broadcast, hub)
        app.state.broadcast, app.state.bridge = broadcast, bridge
        if hub is not None or getattr(app.state, "hub_client", None) is None:  # keep a test's stand-in
            app.state.hub_client = hub
        try:
            yield bridge
        finally:
            await bridge.aclose()
    finally:
        if hub is not None:
            await hub.stop()
        await broadcast.disconnect()

