"""The hub's one MQTT connection: reconnect with jittered backoff, a persistent session, a Will, one receive loop.

The transport knows nothing about games. It hands every incoming message to a handler and publishes what it is
given. A handler that raises is a bug in our code: it is logged with the topic and counted, and the loop goes on,
because one bad message must never take a bar's quiz night down.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import aiomqtt

from hub.mqttclient import arrival_us, make_client

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence

    from hub.mqttclient import BrokerAddress

__all__ = ["Incoming", "MqttTransport", "Publisher"]

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


class MqttTransport:
    """Keeps one session to the broker alive and runs ``handler`` for each message, in arrival order."""

    def __init__(
        self,
        address: BrokerAddress,
        *,
        client_id: str,
        subscriptions: Sequence[tuple[str, int]],
        handler: Callable[[Incoming], Awaitable[None]],
        will: tuple[str, bytes] | None = None,
        online: tuple[str, bytes] | None = None,
        on_connect: Callable[[], Awaitable[None]] | None = None,
        clean_session: bool = False,
    ) -> None:
        self.address = address
        self.client_id = client_id
        self.subscriptions = list(subscriptions)
        self.handler = handler
        self.will = will
        self.online = online
        self.on_connect = on_connect
        self.clean_session = clean_session
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
                self.address, identifier=self.client_id, will=will, clean_session=self.clean_session
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
            try:
                await self.handler(incoming)
            except Exception:
                self.counters["handler_error"] += 1
                log.exception("message handler failed; message dropped", extra={"topic": incoming.topic})
