"""A tiny MQTT 3.1.1 client over a raw asyncio socket, written independently of `broker.wire`.

Tests need what real clients hide: not acking a QoS 1 message, sending malformed bytes, reading CONNACK codes and
DUP flags, seeing exactly when the server closes the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from dataclasses import dataclass

from tests.services import free_port, tcp_reachable  # noqa: F401 - re-exported for the broker tests

TIMEOUT = 5.0
CAP = 4096  # payload cap of the parity tests (Mosquitto: max_packet_size = CAP + 256)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b, n = n % 128, n // 128
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


def _s(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("!H", len(raw)) + raw


def packet(first: int, body: bytes) -> bytes:
    return bytes((first,)) + _varint(len(body)) + body


def connect_packet(client_id: str, username: str | None = None, password: str | None = None, *,
                   clean: bool = True, keepalive: int = 60,
                   will: tuple[str, bytes, int, bool] | None = None) -> bytes:
    flags = 0x02 if clean else 0
    payload = _s(client_id)
    if will is not None:
        topic, message, qos, retain = will
        flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
        payload += _s(topic) + _s(message)
    if username is not None:
        flags |= 0x80
        payload += _s(username)
    if password is not None:
        flags |= 0x40
        payload += _s(password)
    return packet(0x10, _s("MQTT") + bytes((4, flags)) + struct.pack("!H", keepalive) + payload)


def publish_packet(topic: str, payload: bytes, qos: int = 0, retain: bool = False, pid: int | None = None,
                   dup: bool = False) -> bytes:
    first = 0x30 | (0x08 if dup else 0) | (qos << 1) | (1 if retain else 0)
    body = _s(topic) + (struct.pack("!H", pid or 1) if qos else b"") + payload
    return packet(first, body)


@dataclass(frozen=True)
class Msg:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    dup: bool
    pid: int | None


class Closed(Exception):  # noqa: N818 - reads well in `except Closed`
    """The server closed the connection."""


class RawClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self._pid = 0
        self.unread: list[tuple[int, int, bytes]] = []

    @classmethod
    async def open(cls, port: int, host: str = "127.0.0.1") -> RawClient:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    def next_pid(self) -> int:
        self._pid = self._pid % 65535 + 1
        return self._pid

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def read_packet(self, timeout: float = TIMEOUT) -> tuple[int, int, bytes]:
        """The next packet: one stashed while waiting for an ack, else one from the socket."""
        if self.unread:
            return self.unread.pop(0)
        return await self._read_socket(timeout)

    async def _read_socket(self, timeout: float = TIMEOUT) -> tuple[int, int, bytes]:
        async with asyncio.timeout(timeout):
            try:
                first = await self.reader.readexactly(1)
                length, mult = 0, 1
                while True:
                    b = (await self.reader.readexactly(1))[0]
                    length += (b & 0x7F) * mult
                    mult *= 128
                    if not b & 0x80:
                        break
                body = await self.reader.readexactly(length)
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                raise Closed from exc
        return first[0] >> 4, first[0] & 0x0F, body

    async def connect(self, client_id: str, username: str | None = None, password: str | None = None,
                      **kw: object) -> tuple[int, int]:
        """Send CONNECT, return (session_present, return_code)."""
        self.send(connect_packet(client_id, username, password, **kw))  # type: ignore[arg-type]
        ptype, _, body = await self.read_packet()
        assert ptype == 2, f"expected CONNACK, got packet type {ptype}"
        return body[0], body[1]

    async def subscribe(self, *filters: tuple[str, int]) -> list[int]:
        pid = self.next_pid()
        body = struct.pack("!H", pid) + b"".join(_s(f) + bytes((q,)) for f, q in filters)
        self.send(packet(0x82, body))
        while True:
            ptype, _, data = await self._read_socket()
            if ptype == 9:
                assert struct.unpack("!H", data[:2])[0] == pid
                return list(data[2:])
            self.unread.append((ptype, _, data))

    async def publish(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> None:
        pid = self.next_pid() if qos else None
        self.send(publish_packet(topic, payload, qos, retain, pid))
        if qos == 1:
            await self._await_ack(4, pid)
        elif qos == 2:
            await self._await_ack(5, pid)
            self.send(packet(0x62, struct.pack("!H", pid or 0)))
            await self._await_ack(7, pid)
        else:
            await self.writer.drain()

    async def _await_ack(self, want: int, pid: int | None) -> None:
        while True:
            ptype, flags, data = await self._read_socket()
            if ptype == want and struct.unpack("!H", data[:2])[0] == pid:
                return
            self.unread.append((ptype, flags, data))

    async def next_message(self, timeout: float = TIMEOUT, *, ack: bool = True) -> Msg:
        while True:
            ptype, flags, body = await self.read_packet(timeout)
            if ptype != 3:
                continue
            qos = (flags >> 1) & 3
            tlen = struct.unpack("!H", body[:2])[0]
            topic = body[2 : 2 + tlen].decode()
            pos = 2 + tlen
            pid = None
            if qos:
                pid = struct.unpack("!H", body[pos : pos + 2])[0]
                pos += 2
            msg = Msg(topic, body[pos:], qos, bool(flags & 1), bool(flags & 8), pid)
            if ack and qos == 1:
                self.send(packet(0x40, struct.pack("!H", pid)))
            elif ack and qos == 2:
                self.send(packet(0x50, struct.pack("!H", pid)))
            return msg

    async def messages_until(self, sentinel_topic: str, timeout: float = TIMEOUT) -> list[Msg]:
        """Every message before the one on `sentinel_topic` (which ends the list and is not in it)."""
        out = []
        async with asyncio.timeout(timeout):
            while True:
                msg = await self.next_message()
                if msg.topic == sentinel_topic:
                    return out
                out.append(msg)

    async def wait_closed(self, timeout: float = TIMEOUT) -> None:
        """Wait until the server closes the socket (any packets before are skipped)."""
        async with asyncio.timeout(timeout):
            while True:
                try:
                    await self.read_packet(timeout)
                except Closed:
                    return

    async def ping(self) -> None:
        self.send(bytes((0xC0, 0)))
        await self._await_kind(13)

    async def _await_kind(self, want: int) -> None:
        while True:
            ptype, flags, data = await self._read_socket()
            if ptype == want:
                return
            self.unread.append((ptype, flags, data))

    async def disconnect(self) -> None:
        self.send(bytes((0xE0, 0)))
        await self.close()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self.writer.wait_closed()
