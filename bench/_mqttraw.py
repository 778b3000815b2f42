"""A lean MQTT 3.1.1 client for benchmarks: just CONNECT, SUBSCRIBE, PUBLISH (QoS 0/1), PUBACK, PINGREQ.

Why not paho/aiomqtt: their per-message overhead (threads, callbacks, queues) is of the same order as the
broker latency we measure, and they do not set TCP_NODELAY. This client is an `asyncio.Protocol`: bytes in,
packets out, no tasks or queues per message. It trusts the broker (a benchmark, not a product): malformed
input raises.

`StampingEventLoop` records the time each `epoll_wait` returned. A subscriber stamps a PUBLISH with that
time rather than with the time its callback ran, so the client's own processing of a burst of ready sockets
does not count as broker latency. `time.monotonic_ns` is CLOCK_MONOTONIC, system-wide on Linux, so stamps
from several processes on one host compare directly.
"""

from __future__ import annotations

import asyncio
import selectors
import socket
import struct
import time
from collections.abc import Callable

__all__ = [
    "CONNACK",
    "PINGRESP",
    "PUBACK",
    "PUBLISH",
    "SUBACK",
    "MqttClient",
    "PacketReader",
    "StampingEventLoop",
    "connect",
    "encode_connect",
    "encode_puback",
    "encode_publish",
    "encode_subscribe",
    "new_event_loop",
    "parse_publish",
]

CONNECT, CONNACK, PUBLISH, PUBACK = 1, 2, 3, 4
SUBSCRIBE, SUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 12, 13, 14


def _remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _str(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("!H", len(b)) + b


def _packet(first_byte: int, body: bytes) -> bytes:
    return bytes([first_byte]) + _remaining_length(len(body)) + body


def encode_connect(client_id: str, username: str | None = None, password: str | None = None,
                   keepalive: int = 60, clean: bool = True) -> bytes:
    flags = 0x02 if clean else 0
    flags |= (0x80 if username is not None else 0) | (0x40 if password is not None else 0)
    body = _str("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive) + _str(client_id)
    if username is not None:
        body += _str(username)
    if password is not None:
        body += _str(password)
    return _packet(CONNECT << 4, body)


def encode_subscribe(packet_id: int, topic: str, qos: int) -> bytes:
    return _packet((SUBSCRIBE << 4) | 0x02, struct.pack("!H", packet_id) + _str(topic) + bytes([qos]))


def encode_publish(topic: str, payload: bytes, qos: int = 0, packet_id: int = 0,
                   retain: bool = False) -> bytes:
    body = _str(topic) + (struct.pack("!H", packet_id) if qos else b"") + payload
    return _packet((PUBLISH << 4) | (qos << 1) | int(retain), body)


def encode_puback(packet_id: int) -> bytes:
    return bytes([PUBACK << 4, 2]) + struct.pack("!H", packet_id)


PINGREQ_BYTES = bytes([PINGREQ << 4, 0])
DISCONNECT_BYTES = bytes([DISCONNECT << 4, 0])


class PacketReader:
    """Sans-IO framing: bytes in, complete (type, flags, body) packets out."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, int, bytes]]:
        buf = self._buf
        buf += data
        out = []
        pos, end = 0, len(buf)
        while end - pos >= 2:
            first = buf[pos]
            # Remaining length: one to four bytes, seven bits each, low first.
            length, shift, i, header_done = 0, 0, pos + 1, False
            while i < end and shift < 28:
                byte = buf[i]
                i += 1
                length |= (byte & 0x7F) << shift
                shift += 7
                if not byte & 0x80:
                    header_done = True
                    break
            if not header_done:
                if shift >= 28:
                    raise ValueError(f"{self.name}: malformed remaining length")
                break
            if end - i < length:
                break
            out.append((first >> 4, first & 0x0F, bytes(buf[i : i + length])))
            pos = i + length
        del buf[:pos]
        return out


def parse_publish(flags: int, body: bytes) -> tuple[bytes, int, bytes]:
    """(topic, packet id or 0 for QoS 0, payload) of a PUBLISH body."""
    tlen = (body[0] << 8) | body[1]
    off = 2 + tlen
    packet_id = 0
    if (flags >> 1) & 0x03:
        packet_id = (body[off] << 8) | body[off + 1]
        off += 2
    return body[2 : 2 + tlen], packet_id, body[off:]


class StampingEventLoop(asyncio.SelectorEventLoop):
    """An event loop that remembers when the selector last returned (`stamp`, monotonic ns)."""

    def __init__(self) -> None:
        selector = selectors.DefaultSelector()
        inner_select = selector.select

        def select(timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
            ready = inner_select(timeout)
            self.stamp = time.monotonic_ns()
            return ready

        selector.select = select  # type: ignore[method-assign]
        self.stamp = time.monotonic_ns()
        super().__init__(selector)


def new_event_loop() -> StampingEventLoop:
    return StampingEventLoop()


# Called with (client, topic, payload, stamp in monotonic ns).
PublishHandler = Callable[["MqttClient", bytes, bytes, int], None]


class MqttClient(asyncio.Protocol):
    """One MQTT connection. QoS 1 publishes it receives are acknowledged at once."""

    def __init__(self, client_id: str, on_publish: PublishHandler | None = None) -> None:
        self.client_id = client_id
        self.on_publish = on_publish
        self.transport: asyncio.Transport | None = None
        self._reader = PacketReader(client_id)
        self._next_id = 0
        self._waiters: dict[tuple[int, int], asyncio.Future[bytes]] = {}
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        loop = asyncio.get_running_loop()
        self._loop_stamp: Callable[[], int] = (
            (lambda: loop.stamp) if isinstance(loop, StampingEventLoop) else time.monotonic_ns
        )

    # --- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        # Nagle would hold a PUBACK/PUBLISH behind an unacknowledged segment for up to 40 ms.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        for waiter in self._waiters.values():
            if not waiter.done():
                waiter.set_exception(ConnectionError(f"{self.client_id}: connection lost ({exc})"))
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        stamp = self._loop_stamp()
        for ptype, flags, body in self._reader.feed(data):
            self._packet(ptype, flags, body, stamp)

    # --- packets
    def _packet(self, ptype: int, flags: int, body: bytes, stamp: int) -> None:
        if ptype == PUBLISH:
            topic, packet_id, payload = parse_publish(flags, body)
            if packet_id:
                assert self.transport is not None
                self.transport.write(encode_puback(packet_id))
            if self.on_publish is not None:
                self.on_publish(self, topic, payload, stamp)
        elif ptype == CONNACK:
            self._resolve((CONNACK, 0), body)
        elif ptype in (PUBACK, SUBACK):
            self._resolve((ptype, (body[0] << 8) | body[1]), body)
        elif ptype == PINGRESP:
            self._resolve((PINGRESP, 0), body)

    def _resolve(self, key: tuple[int, int], body: bytes) -> None:
        waiter = self._waiters.pop(key, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(body)

    def _expect(self, key: tuple[int, int]) -> asyncio.Future[bytes]:
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiters[key] = fut
        return fut

    def _packet_id(self) -> int:
        self._next_id = self._next_id % 65535 + 1
        return self._next_id

    # --- API
    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    async def handshake(self, username: str | None, password: str | None, keepalive: int = 60) -> None:
        fut = self._expect((CONNACK, 0))
        self.write(encode_connect(self.client_id, username, password, keepalive))
        body = await fut
        if body[1] != 0:
            raise ConnectionRefusedError(f"{self.client_id}: CONNACK return code {body[1]}")

    async def subscribe(self, topic: str, qos: int) -> None:
        packet_id = self._packet_id()
        fut = self._expect((SUBACK, packet_id))
        self.write(encode_subscribe(packet_id, topic, qos))
        body = await fut
        if body[2] == 0x80:
            raise PermissionError(f"{self.client_id}: SUBSCRIBE {topic} refused (0x80)")

    def publish_nowait(self, topic: str, payload: bytes, qos: int = 0) -> asyncio.Future[bytes] | None:
        """Send a PUBLISH now; for QoS 1 return the future of its PUBACK."""
        if not qos:
            self.write(encode_publish(topic, payload))
            return None
        packet_id = self._packet_id()
        fut = self._expect((PUBACK, packet_id))
        self.write(encode_publish(topic, payload, qos, packet_id))
        return fut

    async def ping(self) -> None:
        fut = self._expect((PINGRESP, 0))
        self.write(PINGREQ_BYTES)
        await fut

    def disconnect(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(DISCONNECT_BYTES)
            self.transport.close()


async def connect(host: str, port: int, client_id: str, username: str | None = None,
                  password: str | None = None, on_publish: PublishHandler | None = None,
                  keepalive: int = 60) -> MqttClient:
    loop = asyncio.get_running_loop()
    _, client = await loop.create_connection(lambda: MqttClient(client_id, on_publish), host, port)
    await client.handshake(username, password, keepalive)
    return client
