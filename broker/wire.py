"""MQTT 3.1.1 framing and the few packets the broker parses itself, as pure functions (no I/O).

The connection reads a whole packet (type, flags, body) before parsing it, so a malformed body can never leave the
stream out of step, and every rule of the spec that a peer can break raises `ProtocolViolation` with a sentence
naming the rule. The caller closes that connection; other connections are untouched.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "CONNACK_ACCEPTED",
    "CONNACK_BAD_PROTOCOL",
    "CONNACK_IDENTIFIER_REJECTED",
    "CONNACK_NOT_AUTHORIZED",
    "Connect",
    "Framer",
    "ProtocolViolation",
    "Publish",
    "UnsupportedProtocolError",
    "encode_connack",
    "encode_packet",
    "encode_publish",
    "encode_suback",
    "parse_connect",
    "parse_packet_id",
    "parse_publish",
    "parse_subscribe",
    "parse_unsubscribe",
    "publish_prefix",
    "remaining_length_bytes",
]

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 10, 11, 12, 13, 14

CONNACK_ACCEPTED = 0
CONNACK_BAD_PROTOCOL = 1
CONNACK_IDENTIFIER_REJECTED = 2
CONNACK_NOT_AUTHORIZED = 5


class ProtocolViolation(Exception):  # noqa: N818 - named after the spec's term
    """The peer's fault: its bytes break MQTT 3.1.1; the connection must be closed."""


class UnsupportedProtocolError(ProtocolViolation):
    """The peer speaks an MQTT version we do not (answered with CONNACK 1 before closing)."""


@dataclass(frozen=True)
class Connect:
    """A parsed CONNECT packet."""

    client_id: str
    clean_session: bool
    keepalive: int
    username: str | None
    password: bytes | None
    will_topic: str | None
    will_payload: bytes | None
    will_qos: int
    will_retain: bool


@dataclass(frozen=True)
class Publish:
    """A parsed PUBLISH packet."""

    topic: str
    payload: bytes
    qos: int
    retain: bool
    dup: bool
    packet_id: int | None


class _Cursor:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int, what: str) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise ProtocolViolation(f"packet ends inside its {what} (remaining length too short)")
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def u8(self, what: str) -> int:
        return self.take(1, what)[0]

    def u16(self, what: str) -> int:
        return int(struct.unpack("!H", self.take(2, what))[0])

    def binary(self, what: str) -> bytes:
        return self.take(self.u16(what), what)

    def string(self, what: str) -> str:
        raw = self.binary(what)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ProtocolViolation(f"{what} is not valid UTF-8 [MQTT-1.5.3-1]") from exc
        if "\0" in text:
            raise ProtocolViolation(f"{what} contains U+0000 [MQTT-1.5.3-2]")
        return text

    def rest(self) -> bytes:
        chunk = self.data[self.pos :]
        self.pos = len(self.data)
        return chunk

    def at_end(self) -> bool:
        return self.pos == len(self.data)


def remaining_length_bytes(length: int) -> bytes:
    """The variable-length encoding of a packet's remaining length."""
    out = bytearray()
    while True:
        byte, length = length % 128, length // 128
        out.append(byte | 0x80 if length else byte)
        if not length:
            return bytes(out)


def encode_packet(first_byte: int, body: bytes) -> bytes:
    """A whole packet from its first byte (type << 4 | flags) and body."""
    return bytes((first_byte,)) + remaining_length_bytes(len(body)) + body


def encode_connack(*, session_present: bool, code: int) -> bytes:
    """CONNACK; session present is only ever set on an accepted connection [MQTT-3.2.2-4]."""
    return encode_packet(CONNACK << 4, bytes((1 if session_present and code == 0 else 0, code)))


def encode_suback(packet_id: int, codes: list[int]) -> bytes:
    """SUBACK with one return code per requested filter."""
    return encode_packet(SUBACK << 4, struct.pack("!H", packet_id) + bytes(codes))


def publish_prefix(topic: bytes, payload_length: int, qos: int, *, retain: bool, dup: bool = False) -> bytes:
    """The bytes of a PUBLISH before its packet id (QoS>0) or payload (QoS 0).

    A fan-out builds this once per message; per subscriber only the two packet-id bytes differ.
    """
    first = (PUBLISH << 4) | (0x08 if dup else 0) | (qos << 1) | (1 if retain else 0)
    length = 2 + len(topic) + (2 if qos else 0) + payload_length
    return bytes((first,)) + remaining_length_bytes(length) + struct.pack("!H", len(topic)) + topic


def encode_publish(
    topic: bytes, payload: bytes, qos: int, *, retain: bool, dup: bool = False, packet_id: int | None = None
) -> bytes:
    """A whole PUBLISH from an already UTF-8 encoded topic."""
    prefix = publish_prefix(topic, len(payload), qos, retain=retain, dup=dup)
    if qos:
        return prefix + struct.pack("!H", packet_id or 0) + payload
    return prefix + payload


def parse_connect(flags: int, body: bytes) -> Connect:
    """Parse a CONNECT body; raise UnsupportedProtocolError for other versions, ProtocolViolation otherwise."""
    if flags:
        raise ProtocolViolation("CONNECT fixed-header flags must be 0 [MQTT-2.2.2-2]")
    cur = _Cursor(body)
    name = cur.string("protocol name")
    level = cur.u8("protocol level")
    if name == "MQIsdp" or (name == "MQTT" and level != 4):
        raise UnsupportedProtocolError(f"protocol {name} level {level} is not supported; use MQTT 3.1.1 (level 4)")
    if name != "MQTT":
        raise ProtocolViolation(f"protocol name {name!r} is not 'MQTT' [MQTT-3.1.2-1]")
    cflags = cur.u8("connect flags")
    if cflags & 0x01:
        raise ProtocolViolation("CONNECT reserved flag must be 0 [MQTT-3.1.2-3]")
    will = bool(cflags & 0x04)
    will_qos = (cflags >> 3) & 0x03
    will_retain = bool(cflags & 0x20)
    has_password, has_username = bool(cflags & 0x40), bool(cflags & 0x80)
    if not will and (will_qos or will_retain):
        raise ProtocolViolation("Will QoS and Will Retain must be 0 without a Will [MQTT-3.1.2-11, 3.1.2-15]")
    if will_qos == 3:
        raise ProtocolViolation("Will QoS 3 is not a QoS level [MQTT-3.1.2-14]")
    if has_password and not has_username:
        raise ProtocolViolation("a password without a user name is not allowed [MQTT-3.1.2-22]")
    keepalive = cur.u16("keep alive")
    client_id = cur.string("client identifier")
    will_topic = cur.string("will topic") if will else None
    will_payload = cur.binary("will message") if will else None
    username = cur.string("user name") if has_username else None
    password = cur.binary("password") if has_password else None
    if not cur.at_end():
        raise ProtocolViolation("CONNECT has bytes after its last field")
    if will_topic is not None and ("+" in will_topic or "#" in will_topic or not will_topic):
        raise ProtocolViolation("the Will topic must be a topic name without wildcards [MQTT-3.1.3-11]")
    return Connect(client_id, bool(cflags & 0x02), keepalive, username, password, will_topic, will_payload,
                   will_qos, will_retain)


def parse_publish(flags: int, body: bytes, max_payload: int) -> Publish:
    """Parse a PUBLISH; a payload over `max_payload` bytes is a violation (the connection is closed)."""
    qos = (flags >> 1) & 0x03
    dup = bool(flags & 0x08)
    if qos == 3:
        raise ProtocolViolation("PUBLISH with QoS 3 [MQTT-3.3.1-4]")
    if qos == 0 and dup:
        raise ProtocolViolation("DUP must be 0 on a QoS 0 PUBLISH [MQTT-3.3.1-2]")
    cur = _Cursor(body)
    topic = cur.string("topic name")
    if not topic or "+" in topic or "#" in topic:
        raise ProtocolViolation(f"PUBLISH topic {topic!r} is empty or has wildcards [MQTT-3.3.2-2, 4.7.3-1]")
    packet_id = None
    if qos:
        packet_id = cur.u16("packet identifier")
        if packet_id == 0:
            raise ProtocolViolation("packet identifier 0 is not allowed [MQTT-2.3.1-1]")
    payload = cur.rest()
    if len(payload) > max_payload:
        raise ProtocolViolation(f"PUBLISH payload of {len(payload)} bytes exceeds the broker's cap of {max_payload}")
    return Publish(topic, payload, qos, bool(flags & 0x01), dup, packet_id)


def parse_packet_id(kind: str, flags: int, expected_flags: int, body: bytes) -> int:
    """The packet id of PUBACK/PUBREC/PUBREL/PUBCOMP (exactly two bytes of body)."""
    if flags != expected_flags:
        raise ProtocolViolation(f"{kind} fixed-header flags must be {expected_flags} [MQTT-2.2.2-2]")
    if len(body) != 2:
        raise ProtocolViolation(f"{kind} remaining length must be 2, got {len(body)}")
    return int(struct.unpack("!H", body)[0])


def parse_subscribe(flags: int, body: bytes) -> tuple[int, list[tuple[str, int]]]:
    """Packet id and (filter, requested QoS) pairs of a SUBSCRIBE."""
    if flags != 0x02:
        raise ProtocolViolation("SUBSCRIBE fixed-header flags must be 0010 [MQTT-3.8.1-1]")
    cur = _Cursor(body)
    packet_id = cur.u16("packet identifier")
    topics: list[tuple[str, int]] = []
    while not cur.at_end():
        topic_filter = cur.string("topic filter")
        options = cur.u8("requested QoS")
        if options > 2:
            raise ProtocolViolation(f"SUBSCRIBE requested QoS byte {options:#04x} is invalid [MQTT-3.8.3-4]")
        topics.append((topic_filter, options))
    if not topics:
        raise ProtocolViolation("SUBSCRIBE without a topic filter [MQTT-3.8.3-3]")
    return packet_id, topics


def parse_unsubscribe(flags: int, body: bytes) -> tuple[int, list[str]]:
    """Packet id and filters of an UNSUBSCRIBE."""
    if flags != 0x02:
        raise ProtocolViolation("UNSUBSCRIBE fixed-header flags must be 0010 [MQTT-3.10.1-1]")
    cur = _Cursor(body)
    packet_id = cur.u16("packet identifier")
    filters: list[str] = []
    while not cur.at_end():
        filters.append(cur.string("topic filter"))
    if not filters:
        raise ProtocolViolation("UNSUBSCRIBE without a topic filter [MQTT-3.10.3-2]")
    return packet_id, filters


class Framer:
    """Cuts a byte stream into whole packets. Feed it what the socket gave; take packets until it returns None.

    A declared length over `max_length` is a violation as soon as the length bytes arrive, so an oversized
    packet is refused before its body is buffered.
    """

    __slots__ = ("_buf", "_max", "_pos")

    def __init__(self, max_length: int) -> None:
        self._buf = bytearray()
        self._pos = 0
        self._max = max_length

    def feed(self, data: bytes) -> None:
        """Append bytes received from the peer."""
        if self._pos and self._pos >= len(self._buf) // 2:
            del self._buf[: self._pos]  # compact now and then, not on every packet
            self._pos = 0
        self._buf += data

    def next_packet(self) -> tuple[int, int, bytes] | None:
        """The next whole packet as (type, flags, body), or None until more bytes are fed."""
        buf, pos = self._buf, self._pos
        end = len(buf)
        if end - pos < 2:
            return None
        length, multiplier, i = 0, 1, pos + 1
        while True:
            if i >= end:
                return None
            byte = buf[i]
            length += (byte & 0x7F) * multiplier
            i += 1
            if not byte & 0x80:
                break
            if i - pos > 4:
                raise ProtocolViolation("remaining length uses more than 4 bytes [MQTT-2.2.3]")
            multiplier *= 128
        if length > self._max:
            raise ProtocolViolation(f"packet of {length} bytes exceeds the broker's limit of {self._max}")
        if end - i < length:
            return None
        first = buf[pos]
        body = bytes(buf[i : i + length])
        self._pos = i + length
        return first >> 4, first & 0x0F, body
