"""The web side's one MQTT connection to the hub: host commands out, game topics in, relayed into the fan-out.

Theory of operation
-------------------
A :class:`HubClient` keeps one session to the broker (:class:`hub.transport.MqttTransport`: reconnect with
jittered backoff, TCP_NODELAY) as a *service* principal and subscribes to every game's ``state``, ``question``,
``scores`` and ``events``, to its own ``replies/{client}``, to ``devices/+/sync`` (the hub's clock pings, of
which it keeps only those addressed to a virtual device a WebSocket registered) and to ``devices/+/status``.

- **Commands**: :meth:`HubClient.command` stamps a fresh correlation ``id`` and this client's id on the body,
  validates it as a :class:`hub.messages.GameCommand` (a bad body is the caller's bug: ``ValueError``), publishes
  it on ``games/{game}/commands`` and awaits the :class:`hub.messages.CommandReply` with that id, or raises
  :class:`HubTimeoutError` with a sentence.
- **Relay**: every game message is put into the fan-out on :meth:`HubClient.channel` ``(game)`` as a
  :class:`FeedMessage` (one header line, then the payload bytes exactly as the hub published them). The retained
  ones are also kept here (:meth:`HubClient.retained`) so a new WebSocket starts from the current picture.
- **Remote buzzers**: a WebSocket registers its team's virtual device (:meth:`HubClient.register_device`); the
  hub's sync pings for it are handed to the callback, and :meth:`HubClient.publish_device` sends its buzzes and
  sync replies on the device topics, exactly as a hardware buzzer would.
- **Device presence**: every device status (online, offline, health) is handed to the callbacks added with
  :meth:`HubClient.watch_devices`, in broker order and in this process only: every web process has its own
  subscription, so no fan-out copy (and no duplicate) is needed. The bridge pushes them to host sockets.

With several web processes on one ``redis://`` fan-out, each relays what it receives, so a message can reach a
channel more than once; the WebSocket bridge drops events it already sent (by ``seq``) and retained payloads
older than what it sent. Delivery through the fan-out is at most once: the bridge fills event gaps from the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Self

from pydantic import ValidationError

from hub.codec import CodecError, decode_for_topic
from hub.messages import CommandReply, DeviceStatus, GameCommand, SyncRequest
from hub.topics import TopicKind, Topics
from hub.transport import Incoming, MqttTransport

if TYPE_CHECKING:
    from collections.abc import Callable

    from hub.mqttclient import BrokerAddress
    from hub.topics import ParsedTopic
    from web.fanout import Broadcast

__all__ = [
    "COMMAND_TIMEOUT_S",
    "FEED_KINDS",
    "FeedMessage",
    "HubClient",
    "HubTimeoutError",
    "HubUnavailableError",
]

log = logging.getLogger("quizhub.web.hubclient")

COMMAND_TIMEOUT_S: Final = 10.0
"""How long :meth:`HubClient.command` waits for the hub's reply by default."""

FEED_KINDS: Final = ("state", "question", "scores", "event")
_KIND_OF: Final = {
    TopicKind.GAME_STATE: "state",
    TopicKind.GAME_QUESTION: "question",
    TopicKind.GAME_SCORES: "scores",
    TopicKind.GAME_EVENTS: "event",
}


class HubTimeoutError(TimeoutError):
    """The hub did not answer a command in time (an operations problem: is the hub running and connected?)."""


class HubUnavailableError(ConnectionError):
    """The web process has no broker connection to reach the hub through."""


@dataclass(frozen=True, slots=True)
class FeedMessage:
    """One hub message as it travels through the fan-out: ``b"<kind> <seq> <type>\\n" + payload``.

    ``seq`` and ``type`` are filled for events (0 and ``-`` otherwise), so the bridge can order, deduplicate and
    filter without parsing the JSON; ``payload`` is the hub's own bytes (empty: a cleared retained topic).
    """

    kind: str
    payload: bytes
    seq: int = 0
    type: str = "-"

    def encode(self) -> bytes:
        return f"{self.kind} {self.seq} {self.type}\n".encode() + self.payload

    @classmethod
    def decode(cls, raw: bytes) -> FeedMessage:
        """Parse a fan-out message; ``ValueError`` for anything this module did not write."""
        head, sep, payload = raw.partition(b"\n")
        parts = head.decode().split(" ")
        if not sep or len(parts) != 3 or parts[0] not in FEED_KINDS:
            raise ValueError(f"not a hub feed message: {head[:60]!r}")
        return cls(parts[0], payload, int(parts[1]), parts[2])


def _event_head(payload: bytes) -> tuple[int, str]:
    """``seq`` and ``type`` of an events-topic envelope; (0, "-") when it is not one."""
    try:
        doc = json.loads(payload)
    except ValueError:
        return 0, "-"
    seq, etype = (doc.get("seq"), doc.get("type")) if isinstance(doc, dict) else (None, None)
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1 or not isinstance(etype, str) or not etype:
        return 0, "-"
    return seq, etype


class HubClient:
    """The web process's MQTT client for the hub; see the module docstring. Use ``async with`` or start/stop."""

    def __init__(
        self,
        address: BrokerAddress,
        *,
        broadcast: Broadcast,
        topics: Topics | None = None,
        client_id: str | None = None,
        command_timeout_s: float = COMMAND_TIMEOUT_S,
        connect_timeout_s: float = 30.0,
    ) -> None:
        self.address = address
        self.topics = topics or Topics()
        self.client_id = client_id or f"web-{uuid.uuid4().hex[:12]}"
        self.broadcast = broadcast
        self.command_timeout_s = command_timeout_s
        self.connect_timeout_s = connect_timeout_s
        self._replies: dict[str, asyncio.Future[CommandReply]] = {}
        self._retained: dict[str, dict[str, bytes]] = {}
        self._devices: dict[str, Callable[[SyncRequest], None]] = {}
        self._watchers: list[Callable[[str, DeviceStatus], None]] = []
        self._ids = itertools.count(1)
        self._task: asyncio.Task[None] | None = None
        t = self.topics
        self._transport = MqttTransport(
            address,
            client_id=self.client_id,
            subscriptions=[
                (t.filter(TopicKind.GAME_STATE), 1),
                (t.filter(TopicKind.GAME_QUESTION), 1),
                (t.filter(TopicKind.GAME_SCORES), 1),
                (t.filter(TopicKind.GAME_EVENTS), 1),
                (f"{t.root}/games/+/replies/{self.client_id}", 1),
                (t.filter(TopicKind.DEVICE_SYNC), 0),
                (t.filter(TopicKind.DEVICE_STATUS), 1),
            ],
            handler=self._on_message,
            clean_session=True,
        )

    # ------------------------------------------------------------------ lifecycle

    @property
    def connected(self) -> bool:
        return self._transport.connected.is_set()

    async def start(self) -> None:
        """Connect; returns once subscribed, or raises :class:`HubUnavailableError` after ``connect_timeout_s``."""
        if self._task is not None:
            return
        self._task = asyncio.create_task(self._transport.run(), name=f"hubclient {self.client_id}")
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                await self._transport.connected.wait()
        except TimeoutError:
            await self.stop()
            raise HubUnavailableError(
                f"the web could not reach the broker at {self.address} within {self.connect_timeout_s:.0f} s; "
                "check --broker-url and the web's credentials"
            ) from None

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for future in self._replies.values():
            future.cancel()
        self._replies.clear()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ what the bridge uses

    def channel(self, game_id: str) -> str:
        """The fan-out channel carrying ``game_id``'s hub messages (prefixed by the topic root)."""
        return f"quizhub:{self.topics.root}:game:{game_id}"

    def retained(self, game_id: str) -> dict[str, bytes]:
        """The latest ``state``/``question``/``scores`` payloads of a game seen on the broker (kind → bytes)."""
        return dict(self._retained.get(game_id, {}))

    async def command(self, game_id: str, body: dict[str, Any], *, timeout: float | None = None) -> CommandReply:  # noqa: ASYNC109
        """Send one host command (``{"cmd": ..., fields}``) to the hub and return its reply.

        ``id`` and ``client`` are set here. Raises ``ValueError`` for a body that is not a valid command,
        :class:`HubTimeoutError` when no reply comes in time, :class:`HubUnavailableError` with no broker.
        """
        cid = f"w{next(self._ids)}"
        try:
            command = GameCommand.model_validate({**body, "id": cid, "client": self.client_id})
        except ValidationError as exc:
            raise ValueError(f"not a valid hub command: {exc.errors()[0]['msg']}") from None
        payload = command.model_dump_json(exclude_none=True).encode()
        future: asyncio.Future[CommandReply] = asyncio.get_running_loop().create_future()
        self._replies[cid] = future
        wait = self.command_timeout_s if timeout is None else timeout
        try:
            async with asyncio.timeout(wait):
                try:
                    await self._transport.publish(self.topics.game_commands(game_id), payload, qos=1)
                except ConnectionError as exc:
                    raise HubUnavailableError(str(exc)) from None
                return await future
        except TimeoutError:
            raise HubTimeoutError(
                f"the hub did not answer command {body.get('cmd')!r} for game {game_id} within {wait:g} s; "
                "is the hub running and connected to the broker?"
            ) from None
        finally:
            self._replies.pop(cid, None)

    def register_device(self, device: str, on_sync: Callable[[SyncRequest], None]) -> None:
        """Hand the hub's sync pings for virtual ``device`` to ``on_sync`` (replacing an earlier registration)."""
        self._devices[device] = on_sync

    def unregister_device(self, device: str, on_sync: Callable[[SyncRequest], None] | None = None) -> None:
        """Stop relaying ``device``'s pings (only if ``on_sync`` is still the registered callback, when given)."""
        if on_sync is None or self._devices.get(device) is on_sync:
            self._devices.pop(device, None)

    def watch_devices(self, callback: Callable[[str, DeviceStatus], None]) -> None:
        """Call ``callback(device, status)`` for every device status this client receives (retained ones too: at
        connect and after each reconnect the broker resends every device's last status)."""
        self._watchers.append(callback)

    def unwatch_devices(self, callback: Callable[[str, DeviceStatus], None]) -> None:
        with contextlib.suppress(ValueError):
            self._watchers.remove(callback)

    async def publish_device(self, kind: TopicKind, device: str, payload: bytes, *, retain: bool = False) -> None:
        """Publish a virtual device's message on its own topic (buzz, sync reply, status) with the topic's QoS."""
        await self._transport.publish(self.topics.build(kind, device=device), payload, qos=kind.rule.qos, retain=retain)

    # ------------------------------------------------------------------ receive loop

    async def _on_message(self, msg: Incoming) -> None:
        parsed = self.topics.parse(msg.topic)
        if parsed is None:
            return
        if parsed.kind is TopicKind.DEVICE_SYNC:
            self._on_ping(parsed.device or "", msg)
        elif parsed.kind is TopicKind.DEVICE_STATUS:
            self._on_status(parsed.device or "", parsed, msg)
        elif parsed.kind is TopicKind.GAME_REPLIES:
            self._on_reply(msg)
        elif (kind := _KIND_OF.get(parsed.kind)) is not None and parsed.game is not None:
            await self._relay(parsed.game, kind, msg)

    def _on_ping(self, device: str, msg: Incoming) -> None:
        callback = self._devices.get(device)
        if callback is None:
            return
        try:
            ping = SyncRequest.model_validate_json(msg.payload)
        except ValidationError:
            log.warning("bad sync ping from the hub", extra={"topic": msg.topic})
            return
        callback(ping)

    def _on_status(self, device: str, parsed: ParsedTopic, msg: Incoming) -> None:
        if not self._watchers:
            return
        try:
            status = decode_for_topic(parsed, msg.payload)  # JSON or msgpack, as the device sent it
        except CodecError:
            log.warning("bad device status", extra={"topic": msg.topic})
            return
        if not isinstance(status, DeviceStatus):  # None: a cleared retained status, nothing to announce
            return
        for callback in list(self._watchers):
            try:
                callback(device, status)
            except Exception:  # one watcher's bug must not stop the receive loop
                log.exception("a device status watcher failed", extra={"device": device})

    def _on_reply(self, msg: Incoming) -> None:
        try:
            reply = CommandReply.model_validate_json(msg.payload)
        except ValidationError:
            log.warning("bad command reply from the hub", extra={"topic": msg.topic})
            return
        future = self._replies.get(reply.id)
        if future is not None and not future.done():
            future.set_result(reply)

    async def _relay(self, game: str, kind: str, msg: Incoming) -> None:
        if kind == "event":
            seq, etype = _event_head(msg.payload)
            if seq == 0:
                log.warning("bad event envelope from the hub", extra={"topic": msg.topic})
                return
            feed = FeedMessage(kind, msg.payload, seq, etype)
        else:
            self._retained.setdefault(game, {})[kind] = msg.payload
            feed = FeedMessage(kind, msg.payload)
        try:
            await self.broadcast.publish(self.channel(game), feed.encode())
        except Exception:  # the fan-out being away must not stop replies and pings
            log.exception("could not relay a hub message into the fan-out", extra={"topic": msg.topic})
