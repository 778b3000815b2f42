"""How every Quizhub process connects to a broker: one place for the URL format, TCP_NODELAY and login.

Measured on this machine type: paho/aiomqtt without TCP_NODELAY turn a 2 ms QoS 1 round trip into ~78 ms (Nagle
plus delayed ACK), so every client we make sets it.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

import aiomqtt
from pydantic import SecretStr

if TYPE_CHECKING:
    import paho.mqtt.client as mqtt

__all__ = [
    "BrokerAddress", "BrokerUrlError", "StampedClient", "ack", "arrival_us", "make_client", "parse_broker_url",
]

NODELAY = (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class BrokerUrlError(ValueError):
    """The broker URL given by the operator cannot be used; the message says what to write instead."""


@dataclass(frozen=True)
class BrokerAddress:
    """Where and as whom to connect. ``password`` is a SecretStr so it never lands in a repr or a log."""

    host: str
    port: int
    username: str | None = None
    password: SecretStr | None = None
    transport: str = "tcp"

    def with_login(self, username: str, password: str) -> BrokerAddress:
        return BrokerAddress(self.host, self.port, username, SecretStr(password), self.transport)

    def __str__(self) -> str:
        who = f"{self.username}@" if self.username else ""
        return f"mqtt://{who}{self.host}:{self.port}"


class StampedClient(aiomqtt.Client):
    """An aiomqtt client that stamps each message with the hub clock the moment paho hands it over.

    aiomqtt queues messages until the receive loop takes them; stamping at dequeue would add that queueing time
    (a busy hub: milliseconds) to every buzz's arrival and every sync reply's round-trip, which loosens the clock
    bounds and, through the no-time-travel clamp, can cost an honest press its place.
    """

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        stamp = time.monotonic_ns() // 1000
        before = self._queue.qsize()
        super()._on_message(client, userdata, message)
        if self._queue.qsize() > before:  # not dropped by a full queue: stamp the message just queued
            self._queue._queue[-1]._quizhub_arrival_us = stamp  # type: ignore[attr-defined]  # noqa: SLF001
        elif message.qos > 0:
            # Dropped: acknowledge it anyway (a no-op without manual ack). Unacknowledged, it would hold one of the
            # broker's in-flight slots for this session until the next reconnect, and enough of them stall delivery.
            client.ack(message.mid, message.qos)


def ack(client: aiomqtt.Client, message: aiomqtt.Message) -> None:
    """Send the PUBACK of a message taken with ``manual_ack`` (make_client); a no-op for QoS 0."""
    client._client.ack(message.mid, message.qos)  # noqa: SLF001 - aiomqtt has no public manual-ack API yet


def arrival_us(message: aiomqtt.Message) -> int:
    """When a message reached this process (StampedClient), else now."""
    stamp = getattr(message, "_quizhub_arrival_us", None)
    return int(stamp) if stamp is not None else time.monotonic_ns() // 1000


def parse_broker_url(url: str) -> BrokerAddress:
    """Parse ``mqtt://user:pass@host:port`` (also ``tcp://``, ``ws://``). Default port 1883 (ws: 9001)."""
    parts = urlsplit(url)
    schemes = {"mqtt": "tcp", "tcp": "tcp", "ws": "websockets"}
    if parts.scheme not in schemes:
        raise BrokerUrlError(f"broker URL must start with mqtt:// (got {parts.scheme or 'no'} scheme)")
    if not parts.hostname:
        raise BrokerUrlError("broker URL has no host; write mqtt://user:password@host:1883")
    transport = schemes[parts.scheme]
    try:
        port = parts.port or (9001 if transport == "websockets" else 1883)
    except ValueError as exc:
        raise BrokerUrlError(f"broker URL has a bad port: {exc}") from None
    password = SecretStr(unquote(parts.password)) if parts.password is not None else None
    username = unquote(parts.username) if parts.username else None
    return BrokerAddress(parts.hostname, port, username, password, transport)


def make_client(
    address: BrokerAddress,
    *,
    identifier: str | None = None,
    will: aiomqtt.Will | None = None,
    clean_session: bool | None = None,
    keepalive: int = 30,
    max_queued_incoming: int | None = 10_000,
    manual_ack: bool = False,
) -> aiomqtt.Client:
    """An aiomqtt client with TCP_NODELAY, the address's login, and arrival stamps (see StampedClient).

    ``manual_ack``: QoS 1 messages are acknowledged only when the caller says so (``ack``), so what a process took
    but did not finish is redelivered to its persistent session.
    """
    client = StampedClient(
        address.host,
        address.port,
        username=address.username,
        password=address.password.get_secret_value() if address.password else None,
        identifier=identifier,
        will=will,
        clean_session=clean_session,
        keepalive=keepalive,
        transport="websockets" if address.transport == "websockets" else "tcp",
        socket_options=[NODELAY],
        max_queued_incoming_messages=max_queued_incoming,
    )
    if manual_ack:
        client._client.manual_ack_set(on=True)  # noqa: SLF001 - before connect; aiomqtt does not expose it
    return client
