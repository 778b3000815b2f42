"""The hub's one MQTT connection: reconnect with jittered backoff, a persistent session, a Will, one receive loop.

The transport knows nothing about games. It hands every incoming message to a handler, in arrival order, and
publishes what it is given. A handler that raises is a bug in our code: it is logged with the topic and counted, and
the loop goes on, because one bad message must never take a bar's quiz night down.

A handler may finish a message later than it returns: it returns a future, and the message counts as handled when
that future completes (the hub queues each game's messages to the game's own worker, hub/service.py).

QoS 1 acknowledgements are ours to send (paho's manual ack). For the topics ``ack_late`` names (buzzes) the PUBACK
goes out only once the message is handled, that is after the press is in the log: a hub killed in between has not
acknowledged it, and the broker hands it to the hub's persistent session again at the next connect. A future that
is cancelled (the hub shutting down mid-append) leaves its message unacknowledged for the same reason. Every other
message is acknowledged as soon as it is taken off the queue, as paho would have done (docs/failover.md says why
commands are not redelivered).

PUBACKs therefore leave in the order messages are *handled*, not received: a buzz of one game can be acknowledged
before an earlier buzz of a game whose append is slow. MQTT 3.1.1 and 5 say a client MUST send PUBACKs in receipt
order [MQTT-4.6.0-2]; we knowingly do not. The brokers we run match a PUBACK by its packet identifier (amqtt: one
waiter per packet id in ``ProtocolHandler``; Mosquitto's ``handle__pubackcomp`` deletes the in-flight message with
that id; EMQX and VerneMQ do not require the order either, emqx/emqx#4631), and holding
acks back in receipt order would cost more than it protects: a blocked game would hold every other game's acks,
fill the broker's in-flight window for this session (Mosquitto: 20 messages) and so stall every game's buzzes, and
a hub killed then would have other games' commands, already run, redelivered and run twice. Within one game, acks
do go out in receipt order (one worker per game).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

import aiomqtt

from hub.cancellation import reraise_swallowed_cancel
from hub.mqttclient import ack, arrival_us, make_client

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from hub.mqttclient import BrokerAddress

__all__ = ["Handler", "Incoming", "MqttTransport", "Publisher"]

log = logging.getLogger("quizhub.transport")


@dataclass(frozen=True)
class Incoming:
    """A message as the hub sees it: topic, raw payload, and the hub-clock µs at which it was read off the socket."""

    topic: str
    payload: bytes
    arrival_us: int
    retain: bool = False


class Publisher(Protocol):
    """Where effects go. The MQTT transport is one; tests may record into a list."""

    async def publish(self, topic: str, payload: bytes, *, qos: int = 0, retain: bool = False) -> None: ...


def hub_now_us() -> int:
    """The hub clock: monotonic microseconds. Never wall time, which jumps under NTP."""
    return time.monotonic_ns() // 1000


# What a handler returns: None once the message is handled, or a future that completes when it is (a cancelled
# one: it never will be, in this process).
Handler: TypeAlias = "Callable[[Incoming], Awaitable[asyncio.Future[Any] | None]]"


class MqttTransport:
    """Keeps one session to the broker alive and runs ``handler`` for each message, in arrival order."""

    def __init__(
        self,
        address: BrokerAddress,
        *,
        client_id: str,
        subscriptions: Sequence[tuple[str, int]],
        handler: Handler,
        will: tuple[str, bytes] | None = None,
        online: tuple[str, bytes] | None = None,
        on_connect: Callable[[], Awaitable[None]] | None = None,
        clean_session: bool = False,
        ack_late: Callable[[str], bool] | None = None,
    ) -> None:
        self.address = address
        self.client_id = client_id
        self.subscriptions = list(subscriptions)
        self.handler = handler
        self.will = will
        self.online = online
        self.on_connect = on_connect
        self.clean_session = clean_session
        self.ack_late = ack_late
        self.connected = asyncio.Event()
        self.counters: Counter[str] = Counter()
        self._client: aiomqtt.Client | None = None
        self._rng = random.Random()  # noqa: S311 - backoff jitter

    async def publish(self, topic: str, payload: bytes, *, qos: int = 0, retain: bool = False) -> None:
        """Publish now; if the broker is away, wait for the reconnect (a bounded wait) and publish then."""
        for _ in range(3):
            client = self._client
            if client is None:
                async with asyncio.timeout(30):
                    await self.connected.wait()
                continue
            try:
                await client.publish(topic, payload, qos=qos, retain=retain)
            except aiomqtt.MqttError:
                self.counters["publish_retry"] += 1
                self.connected.clear()
                async with asyncio.timeout(30):
                    await self.connected.wait()
            else:
                self.counters["published"] += 1
                return
        raise ConnectionError(f"could not publish to {topic}: broker {self.address} unreachable")

    async def run(self) -> None:
        """Run until cancelled, reconnecting with jittered exponential backoff (0.1 s … 5 s)."""
        backoff = 0.1
        will = aiomqtt.Will(self.will[0], self.will[1], qos=1, retain=True) if self.will else None
        while True:
            client = make_client(
                self.address, identifier=self.client_id, will=will, clean_session=self.clean_session,
                manual_ack=self.ack_late is not None,
            )
            try:
                async with client:
                    await self._session(client)
                    backoff = 0.1
            except aiomqtt.MqttError as exc:
                self._client = None
                self.connected.clear()
                self.counters["reconnect"] += 1
                delay = backoff * self._rng.uniform(0.5, 1.5)
                log.warning(
                    "broker connection lost; reconnecting",
                    extra={"broker": str(self.address), "error": str(exc), "retry_in_s": round(delay, 2)},
                )
                await asyncio.sleep(delay)
                backoff = min(backoff * 2, 5.0)

    async def _session(self, client: aiomqtt.Client) -> None:
        for topic, qos in self.subscriptions:
            await client.subscribe(topic, qos=qos)
        if self.online:
            await client.publish(self.online[0], self.online[1], qos=1, retain=True)
        self._client = client
        self.connected.set()
        log.info("connected to broker", extra={"broker": str(self.address), "client_id": self.client_id})
        if self.on_connect is not None:
            await self.on_connect()
        async for message in client.messages:
            payload = message.payload
            raw = payload if isinstance(payload, bytes) else str(payload).encode()
            incoming = Incoming(str(message.topic), raw, arrival_us(message), bool(message.retain))
            self.counters["received"] += 1
            late = self.ack_late is not None and message.qos > 0 and self.ack_late(incoming.topic)
            if self.ack_late is not None and not late:
                ack(client, message)
            pending: asyncio.Future[Any] | None = None
            try:
                pending = await self.handler(incoming)
            except Exception:
                self.counters["handler_error"] += 1
                log.exception("message handler failed; message dropped", extra={"topic": incoming.topic})
            reraise_swallowed_cancel()
            if not late:
                continue
            if pending is None:
                ack(client, message)  # a handler that raised dropped the message for good: redelivery would too
            else:
                pending.add_done_callback(functools.partial(_ack_when_handled, client, message))


def _ack_when_handled(client: aiomqtt.Client, message: aiomqtt.Message, handled: asyncio.Future[Any]) -> None:
    """Acknowledge a message whose handling finished later. A cancelled handling is not acknowledged: the broker
    redelivers it to the next session. The client may be a closed session's by now; its ack then goes nowhere,
    which is right, because the broker redelivers to the new session whatever the old one left unacknowledged."""
    if not handled.cancelled():
        ack(client, message)
