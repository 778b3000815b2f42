"""One client's network connection: framing, limits, keepalive and the QoS flows, on top of amqtt's handler type.

It replaces amqtt's reader loop, which (0.12.1) discards malformed packets and reads on, never acts on a keepalive
timeout, reads any packet size, and drops in-flight QoS 1 messages when the connection ends. Here:

- a whole packet is framed (`wire.Framer`) before parsing, and any violation closes this connection at once;
- a packet longer than the payload cap (plus header room) is refused before its body is read;
- a watchdog closes the connection after `keepalive_factor` x keepalive of silence (the broker then sends the Will);
- outgoing QoS 1/2 messages stay in the session until acknowledged, and are resent with DUP after a reconnect;
- packets are handled in arrival order, synchronously: over TCP straight from `data_received` (`receive()`),
  over WebSocket from one reader task (`run()`); no task per packet or per outgoing message.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from typing import TYPE_CHECKING, ClassVar, Protocol

from amqtt.adapters import ReaderAdapter, StreamWriterAdapter, WriterAdapter
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.session import OutgoingApplicationMessage, Session

from broker import wire

if TYPE_CHECKING:
    from collections.abc import Callable

    from broker.acl import Principal

__all__ = [
    "MAX_INFLIGHT",
    "MAX_QUEUED",
    "Connection",
    "NoReader",
    "PeerClosedError",
    "Router",
    "TransportWriter",
    "enqueue",
    "read_packet",
]

log = logging.getLogger("quizhub.broker.connection")

MAX_INFLIGHT = 100  # QoS>0 messages sent and not yet acknowledged, per client (Mosquitto: 20)
MAX_QUEUED = 1000  # QoS>0 messages waiting behind the in-flight window or for an offline session (Mosquitto: 1000)
_SLOW_CONSUMER_BYTES = 1 << 20  # QoS 0 messages to a client with this much unsent data are dropped
_HEADER_ROOM = 2 + 65535 + 2  # topic length, longest topic, packet id


class Router(Protocol):
    """What a connection asks of the broker."""

    def on_publish(self, conn: Connection, msg: wire.Publish) -> None: ...
    def on_subscribe(self, conn: Connection, packet_id: int, topics: list[tuple[str, int]]) -> None: ...
    def on_unsubscribe(self, conn: Connection, packet_id: int, filters: list[str]) -> None: ...


class PeerClosedError(Exception):
    """The peer closed the stream (EOF)."""


async def read_packet(reader: ReaderAdapter, max_length: int) -> tuple[int, int, bytes]:
    """Read one whole packet: (type, flags, body). Raises PeerClosedError at EOF, ProtocolViolation if too long."""
    first = await _read_exactly(reader, 1)
    length, multiplier = 0, 1
    for _ in range(4):
        byte = (await _read_exactly(reader, 1))[0]
        length += (byte & 0x7F) * multiplier
        if not byte & 0x80:
            break
        multiplier *= 128
    else:
        raise wire.ProtocolViolation("remaining length uses more than 4 bytes [MQTT-2.2.3]")
    if length > max_length:
        raise wire.ProtocolViolation(f"packet of {length} bytes exceeds the broker's limit of {max_length}")
    body = await _read_exactly(reader, length) if length else b""
    return first[0] >> 4, first[0] & 0x0F, body


async def _read_exactly(reader: ReaderAdapter, n: int) -> bytes:
    try:
        data: bytes = await reader.read(n)
    except (asyncio.IncompleteReadError, ConnectionError) as exc:
        raise PeerClosedError from exc
    if len(data) < n:
        raise PeerClosedError
    return data


class TransportWriter(WriterAdapter):  # type: ignore[misc]  # amqtt is untyped
    """amqtt's writer interface over a bare asyncio transport (the TCP listener uses a Protocol, not streams)."""

    def __init__(self, transport: asyncio.WriteTransport) -> None:
        self.transport = transport

    def write(self, data: bytes) -> None:
        """Queue bytes on the transport (it sends at once when it can)."""
        if not self.transport.is_closing():
            self.transport.write(data)

    async def drain(self) -> None:
        """Nothing to do: the transport buffers."""

    def get_peer_info(self) -> tuple[str, int] | None:
        """(address, port) of the peer."""
        peer = self.transport.get_extra_info("peername")
        return (str(peer[0]), int(peer[1])) if peer else None

    def get_ssl_info(self) -> object:
        """The TLS object, if any."""
        return self.transport.get_extra_info("ssl_object")

    async def close(self) -> None:
        """Close after sending what is queued."""
        self.transport.close()


class NoReader(ReaderAdapter):  # type: ignore[misc]  # amqtt is untyped
    """The reader of a TCP connection: bytes are pushed to `Connection.receive`, never pulled."""

    async def read(self, n: int = -1) -> bytes:  # noqa: ARG002
        """Never called for a pushed connection; behaves as EOF."""
        return b""

    def feed_eof(self) -> None:
        """Nothing to do."""


class Connection(BrokerProtocolHandler):  # type: ignore[misc]  # amqtt is untyped
    """A connected client. `run()` returns True when the client ended with DISCONNECT, False otherwise."""

    def __init__(
        self,
        router: Router,
        plugins_manager: object,
        session: Session,
        principal: Principal,
        *,
        reader: ReaderAdapter,
        writer: WriterAdapter,
        max_payload: int,
        keepalive_factor: float,
    ) -> None:
        # Not BrokerProtocolHandler.__init__: its queues, events, lock and waiter dicts serve amqtt's reader loop,
        # which this class replaces, and would add ~30 GC-tracked objects to every connection.
        self.plugins_manager = plugins_manager
        self.logger = log
        self.session = session
        self.reader = reader
        self.writer = writer
        self.principal = principal
        self.client_id: str = session.client_id or ""
        self.will_on_close = True
        self.close_reason: str | None = None
        self._router = router
        self._max_payload = max_payload
        self._max_packet = max_payload + _HEADER_ROOM
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.WriteTransport | None = None
        if isinstance(writer, TransportWriter):
            self._transport = writer.transport
        elif isinstance(writer, StreamWriterAdapter):
            self._transport = writer._writer.transport  # noqa: SLF001 - the adapter hides its transport
        self._framer = wire.Framer(self._max_packet)
        self._ended: asyncio.Future[bool] = self._loop.create_future()
        self._close_task: asyncio.Future[None] | None = None
        self._flush_task: asyncio.Task[None] | None = None
        self._run_task: asyncio.Task[object] | None = None
        self._finished = asyncio.Event()
        self._reading = False
        self.open = True
        self._timeout = session.keep_alive * keepalive_factor if session.keep_alive > 0 else None
        self._last_rx = self._loop.time()
        self._watchdog: asyncio.TimerHandle | None = None
        self._drop_warned = False
        # QoS 2 packet ids received and routed, waiting for PUBREL (amqtt's inflight_in holds richer objects).
        self._qos2_in: set[int] = session.attributes.setdefault("quizhub.qos2_in", set())

    # -- lifecycle -----------------------------------------------------------------------------------------------
    #
    # Two ways in: over TCP the broker's `TcpProtocol` calls `receive()` from `data_received` (no task per
    # packet, no task wake-up per PUBACK); over WebSocket (any amqtt reader adapter) `run()` reads in a task.
    # Either way `end()` closes the socket once and resolves `wait_ended()`.

    @property
    def session_(self) -> Session:
        assert self.session is not None
        return self.session

    def begin(self) -> None:
        """After CONNACK: arm the keepalive watchdog and send what the session is owed (in flight, then queued)."""
        if self._timeout is not None:
            self._watchdog = self._loop.call_later(self._timeout, self._check_keepalive)
        self._resend_inflight()
        self._pump_queue()

    def adopt(self, framer: wire.Framer) -> None:
        """Take over the bytes that arrived behind CONNECT, before this connection existed."""
        self._framer = framer

    def receive(self, data: bytes) -> None:
        """TCP: bytes from the socket. Handles every whole packet now; a violation ends the connection."""
        if self._ended.done():
            return
        self._last_rx = self._loop.time()
        framer = self._framer
        if data:
            framer.feed(data)
        try:
            while (packet := framer.next_packet()) is not None:
                if self.handle_packet(*packet):
                    self.end(clean=True, reason="disconnect")
                    return
        except wire.ProtocolViolation as exc:
            self._violation(exc)
        except Exception:
            # Our bug, not the client's: close this connection only, keep the broker serving everyone else.
            log.exception("closing connection: broker error while handling a packet",
                          extra={"client_id": self.client_id})
            self.end(clean=False, reason="broker error")

    def _violation(self, exc: wire.ProtocolViolation) -> None:
        log.warning("closing connection: protocol violation", extra={"client_id": self.client_id,
                    "reason": str(exc), "peer": self._peer()})
        self.end(clean=False, reason="protocol violation")

    def handle_packet(self, ptype: int, flags: int, body: bytes) -> bool:
        """Handle one packet; True when it was the client's DISCONNECT. Raises ProtocolViolation."""
        if ptype == wire.DISCONNECT and not flags and not body:
            return True
        handler = self._HANDLERS.get(ptype)
        if handler is None:
            raise wire.ProtocolViolation(f"packet type {ptype} may not be sent to a broker here [MQTT-2.2.1]")
        handler(self, flags, body)
        return False

    def end(self, *, clean: bool, reason: str) -> None:
        """The connection is over: stop the watchdog, close the socket (abort unless clean), resolve `ended`."""
        if self._ended.done():
            return
        if self.close_reason is None:
            self.close_reason = reason
        self.open = False
        if self._watchdog is not None:
            self._watchdog.cancel()
        if self._flush_task is not None:
            self._flush_task.cancel()
        if self._transport is not None:
            if clean:
                self._transport.close()
            else:
                self._transport.abort()
        elif self.writer is not None:
            self._close_task = asyncio.ensure_future(self._close_adapter())
        self._ended.set_result(clean)

    async def _close_adapter(self) -> None:
        assert self.writer is not None
        try:
            await asyncio.wait_for(self.writer.close(), 2)
        except (OSError, TimeoutError, asyncio.CancelledError):
            log.debug("websocket close did not finish", extra={"client_id": self.client_id})
        except Exception:  # noqa: BLE001 - websockets raises its own errors on a dead peer
            log.debug("websocket close failed", extra={"client_id": self.client_id})

    async def wait_ended(self) -> bool:
        """Wait for the end of the connection; True if the client ended it with DISCONNECT."""
        return await asyncio.shield(self._ended)

    async def run(self) -> bool:
        """Reader-task mode (WebSocket): read and handle packets until the connection ends."""
        self._run_task = asyncio.current_task()
        self._reading = True
        try:
            clean = await self._read_loop()
        finally:
            self._reading = False
        self.end(clean=clean, reason="disconnect" if clean else "peer closed")
        return await self.wait_ended()

    async def _read_loop(self) -> bool:
        assert self.reader is not None
        try:
            while True:
                ptype, flags, body = await read_packet(self.reader, self._max_packet)
                self._last_rx = self._loop.time()
                if self.handle_packet(ptype, flags, body):
                    return True
        except wire.ProtocolViolation as exc:
            self._violation(exc)
        except (PeerClosedError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if self.close_reason is None or task is None:
                raise  # not ours: someone else is cancelling the task
            task.uncancel()
        except OSError as exc:
            self.close_reason = self.close_reason or f"network error: {exc.strerror or exc}"
        except Exception:
            log.exception("closing connection: broker error while handling a packet",
                          extra={"client_id": self.client_id})
            self.end(clean=False, reason="broker error")
        return False

    def abort(self, reason: str, *, send_will: bool = True) -> None:
        """Close this connection now (keepalive expiry, takeover, shutdown); its end counts as unclean."""
        self.will_on_close = self.will_on_close and send_will
        if self._reading and self._run_task is not None and not self._run_task.done():
            if self.close_reason is None:
                self.close_reason = reason
            self._run_task.cancel()
        else:
            self.end(clean=False, reason=reason)

    def mark_finished(self) -> None:
        """Called by the broker once the closed connection is fully cleaned up (Will sent, session saved)."""
        self._finished.set()

    @property
    def finished(self) -> bool:
        """Whether the connection has closed and the broker has cleaned up after it."""
        return self._finished.is_set()

    async def wait_finished(self) -> None:
        """Wait until the connection has closed and the broker has cleaned up after it."""
        await self._finished.wait()

    def _check_keepalive(self) -> None:
        assert self._timeout is not None
        silent = self._loop.time() - self._last_rx
        if silent >= self._timeout:
            log.info("closing connection: keepalive expired", extra={"client_id": self.client_id,
                     "silent_s": round(silent, 3), "keepalive_s": self.session_.keep_alive})
            self.abort("keepalive expired")
        else:
            self._watchdog = self._loop.call_later(self._timeout - silent, self._check_keepalive)

    def _peer(self) -> str:
        return f"{self.session_.remote_address}:{self.session_.remote_port}"

    # amqtt's own start/stop would run its reader loop; the broker drives this connection instead.
    async def start(self) -> None:
        """Not used: the broker calls `begin()` and feeds or runs the connection itself."""

    async def stop(self) -> None:
        """Close the connection and wait for the broker's cleanup (amqtt's API)."""
        self.abort("broker stopping")
        await self._finished.wait()

    # -- incoming ------------------------------------------------------------------------------------------------

    def _on_publish(self, flags: int, body: bytes) -> None:
        msg = wire.parse_publish(flags, body, self._max_payload)
        if msg.qos == 2 and msg.packet_id in self._qos2_in:
            self._write(wire.encode_packet(wire.PUBREC << 4, struct.pack("!H", msg.packet_id)))
            return  # a resend of a QoS 2 message already routed: exactly once
        self._router.on_publish(self, msg)
        if msg.qos == 1:
            self._write(wire.encode_packet(wire.PUBACK << 4, struct.pack("!H", msg.packet_id)))
        elif msg.qos == 2:
            assert msg.packet_id is not None
            self._qos2_in.add(msg.packet_id)
            self._write(wire.encode_packet(wire.PUBREC << 4, struct.pack("!H", msg.packet_id)))

    def _on_puback(self, flags: int, body: bytes) -> None:
        packet_id = wire.parse_packet_id("PUBACK", flags, 0, body)
        msg = self.session_.inflight_out.get(packet_id)
        if msg is not None and msg.qos == 1:
            del self.session_.inflight_out[packet_id]
            self._pump_queue()

    def _on_pubrec(self, flags: int, body: bytes) -> None:
        packet_id = wire.parse_packet_id("PUBREC", flags, 0, body)
        msg = self.session_.inflight_out.get(packet_id)
        if msg is not None and msg.qos == 2:
            msg.pubrec_packet = True
        self._write(wire.encode_packet((wire.PUBREL << 4) | 0x02, struct.pack("!H", packet_id)))

    def _on_pubrel(self, flags: int, body: bytes) -> None:
        packet_id = wire.parse_packet_id("PUBREL", flags, 0x02, body)
        self._qos2_in.discard(packet_id)
        self._write(wire.encode_packet(wire.PUBCOMP << 4, struct.pack("!H", packet_id)))

    def _on_pubcomp(self, flags: int, body: bytes) -> None:
        packet_id = wire.parse_packet_id("PUBCOMP", flags, 0, body)
        msg = self.session_.inflight_out.get(packet_id)
        if msg is not None and msg.qos == 2:
            del self.session_.inflight_out[packet_id]
            self._pump_queue()

    def _on_subscribe(self, flags: int, body: bytes) -> None:
        packet_id, topics = wire.parse_subscribe(flags, body)
        self._router.on_subscribe(self, packet_id, topics)

    def _on_unsubscribe(self, flags: int, body: bytes) -> None:
        packet_id, filters = wire.parse_unsubscribe(flags, body)
        self._router.on_unsubscribe(self, packet_id, filters)

    def _on_pingreq(self, flags: int, body: bytes) -> None:
        if flags or body:
            raise wire.ProtocolViolation("PINGREQ must have no flags and no body [MQTT-2.2.2-2]")
        self._write(bytes((wire.PINGRESP << 4, 0)))

    def _on_connect(self, flags: int, body: bytes) -> None:  # noqa: ARG002
        raise wire.ProtocolViolation("a second CONNECT on one connection [MQTT-3.1.0-2]")

    def _on_disconnect(self, flags: int, body: bytes) -> None:  # noqa: ARG002
        # A well-formed DISCONNECT never gets here (`handle_packet` ends on it).
        raise wire.ProtocolViolation("DISCONNECT must have no flags and no body [MQTT-3.14.1-1]")

    _HANDLERS: ClassVar[dict[int, Callable[[Connection, int, bytes], None]]] = {
        wire.CONNECT: _on_connect,
        wire.DISCONNECT: _on_disconnect,
        wire.PUBLISH: _on_publish,
        wire.PUBACK: _on_puback,
        wire.PUBREC: _on_pubrec,
        wire.PUBREL: _on_pubrel,
        wire.PUBCOMP: _on_pubcomp,
        wire.SUBSCRIBE: _on_subscribe,
        wire.UNSUBSCRIBE: _on_unsubscribe,
        wire.PINGREQ: _on_pingreq,
    }

    # -- outgoing ------------------------------------------------------------------------------------------------

    def write_raw(self, data: bytes) -> None:
        """Send bytes already encoded (CONNACK, SUBACK, UNSUBACK)."""
        self._write(data)

    def deliver(self, topic: str, topic_bytes: bytes, payload: bytes, qos: int, retain: bool,  # noqa: PLR0917
                qos0_frame: bytes | None = None, prefix: bytes | None = None) -> None:
        """Send an application message at `qos` (already the minimum of publish and subscription QoS).

        A fan-out passes the frame pieces it built once: `qos0_frame` (the whole QoS 0 PUBLISH) or `prefix`
        (`wire.publish_prefix` for this `qos` and `retain`), so per subscriber only the packet id is new.
        """
        if qos == 0:
            if self._backlog() > _SLOW_CONSUMER_BYTES:
                if not self._drop_warned:
                    log.warning("dropping QoS 0 messages to a slow client", extra={"client_id": self.client_id})
                    self._drop_warned = True
                return
            self._drop_warned = False
            self._write(qos0_frame or wire.encode_publish(topic_bytes, payload, 0, retain=retain))
            return
        session = self.session_
        if len(session.inflight_out) >= MAX_INFLIGHT:
            enqueue(session, OutgoingApplicationMessage(None, topic, qos, payload, retain=retain))
            return
        packet_id = _next_packet_id(session)
        session.inflight_out[packet_id] = OutgoingApplicationMessage(packet_id, topic, qos, payload, retain=retain)
        if prefix is None:
            prefix = wire.publish_prefix(topic_bytes, len(payload), qos, retain=retain)
        self._write(prefix + packet_id.to_bytes(2, "big") + payload)

    def _resend_inflight(self) -> None:
        # [MQTT-4.4.0-1]: on a resumed session, resend unacknowledged PUBLISH (DUP) and PUBREL, in their order.
        for packet_id, msg in self.session_.inflight_out.items():
            if msg.qos == 2 and msg.pubrec_packet:
                self._write(wire.encode_packet((wire.PUBREL << 4) | 0x02, struct.pack("!H", packet_id)))
            else:
                self._write(wire.encode_publish(msg.topic.encode(), bytes(msg.data), msg.qos or 0,
                                                retain=msg.retain, dup=True, packet_id=packet_id))

    def _pump_queue(self) -> None:
        session = self.session_
        queue = session.retained_messages  # amqtt's name for messages queued while the session was offline
        while not queue.empty() and len(session.inflight_out) < MAX_INFLIGHT:
            msg = queue.get_nowait()
            self.deliver(msg.topic, msg.topic.encode(), bytes(msg.data), msg.qos or 0, retain=msg.retain)

    def _backlog(self) -> int:
        if self._transport is not None:
            return int(self._transport.get_write_buffer_size())
        return 0

    def _write(self, data: bytes) -> None:
        if self._transport is not None:
            if not self._transport.is_closing():
                self._transport.write(data)
            return
        if self.writer is None:
            return
        self.writer.write(data)
        if self._flush_task is None or self._flush_task.done():
            self._flush_task = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        assert self.writer is not None
        try:
            await self.writer.drain()
        except Exception as exc:  # noqa: BLE001 - a dead websocket must end this connection only
            self.abort(f"websocket send failed: {exc!r}")

    async def mqtt_publish(self, topic: str, data: bytes | bytearray, qos: int | None, retain: bool,
                           ack_timeout: int | None = None) -> OutgoingApplicationMessage:  # noqa: ARG002
        """amqtt's API, for BrokerContext users: send one message to this client without waiting for its ack."""
        self.deliver(topic, topic.encode(), bytes(data), qos or 0, retain=retain)
        return OutgoingApplicationMessage(None, topic, qos, data, retain=retain)


def _next_packet_id(session: Session) -> int:
    # Server-to-client ids only need to avoid the session's own unacknowledged outgoing messages (amqtt's
    # `next_packet_id` also scans the client's incoming ids, a separate namespace [MQTT-2.3.1]).
    inflight = session.inflight_out
    packet_id: int = session._packet_id  # noqa: SLF001 - amqtt's field, so the counter stays with the session
    for _ in range(len(inflight) + 1):
        packet_id = packet_id % 65535 + 1
        if packet_id not in inflight:
            break
    session._packet_id = packet_id  # noqa: SLF001
    return packet_id


def enqueue(session: Session, msg: OutgoingApplicationMessage) -> bool:
    """Queue a QoS>0 message for a session (offline, or its in-flight window is full); False if the queue is full."""
    if session.retained_messages.qsize() >= MAX_QUEUED:
        log.warning("session queue full, message dropped", extra={"client_id": session.client_id,
                    "topic": msg.topic})
        return False
    session.retained_messages.put_nowait(msg)
    return True
