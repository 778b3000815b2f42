"""The hardened embedded broker: amqtt's `Broker` with its connection, routing and retained paths replaced.

`EmbeddedBroker` is the public face (an async context manager). `HardenedBroker` subclasses amqtt's `Broker` and
overrides, rather than monkeypatches, the parts that amqtt 0.12.1 gets wrong (docs/broker.md lists each defect,
its fix and its test):

- CONNECT is parsed and the login checked *before* any session state changes, so a refused client cannot take
  over or wipe another client's session; a refusal is a CONNACK with a return code, then close;
- logins are checked against `CredentialStore` (a fast keyed hash, never a slow hash on the loop);
- the ACL (`broker.acl`) is applied to PUBLISH, SUBSCRIBE and the Will topic;
- a second connection with a client id takes over: the first is closed;
- routing delivers at min(publish QoS, subscription QoS), queues QoS>0 for offline persistent sessions, and never
  formats broker state per SUBSCRIBE (amqtt logged repr() of every subscription, making a connect storm quadratic);
- retained messages are sent only on SUBSCRIBE, only for that filter (amqtt also sent every retained message
  matching *anyone's* subscription to each new connection);
- retained messages and persistent sessions are kept in `data_dir/broker.sqlite3`.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import importlib
import logging
import secrets
import socket
import sqlite3
from typing import TYPE_CHECKING, Any, Self

import websockets
from amqtt.adapters import (
    ReaderAdapter,
    StreamReaderAdapter,
    StreamWriterAdapter,
    WebSocketsReader,
    WebSocketsWriter,
    WriterAdapter,
)
from amqtt.broker import Broker, RetainedApplicationMessage
from amqtt.events import BrokerEvents
from amqtt.session import OutgoingApplicationMessage, Session

from broker import wire
from broker.acl import Acl, Principal
from broker.connection import Connection, NoReader, PeerClosedError, TransportWriter, enqueue, read_packet
from broker.credentials import CredentialStore, Role
from broker.errors import BrokerStartError, PortInUseError
from broker.session import LightSession
from broker.store import BrokerStore, StoredMessage, StoredSession
from broker.topics import is_valid_filter, matches

if TYPE_CHECKING:
    from types import TracebackType

    from websockets.asyncio.server import Server as WsServer
    from websockets.asyncio.server import ServerConnection

    from broker.config import BrokerConfig

__all__ = ["CONNECT_TIMEOUT", "EmbeddedBroker", "HardenedBroker"]

log = logging.getLogger("quizhub.broker")

CONNECT_TIMEOUT = 10.0  # seconds a new socket may take to send CONNECT
_VERSION = "quizhub-embedded (amqtt 0.12.1 core)"
_OWNER = "quizhub.owner"
_FILTERS = "quizhub.filters"


def _owner(session: Session) -> tuple[str | None, Role] | None:
    owner: tuple[str | None, Role] | None = session.attributes.get(_OWNER)
    return owner


def _filters(session: Session) -> dict[str, int]:
    filters: dict[str, int] = session.attributes.setdefault(_FILTERS, {})
    return filters


class HardenedBroker(Broker):  # type: ignore[misc]  # amqtt is untyped
    """amqtt's Broker with the hardened connection, ACL, routing and persistence of Quizhub."""

    def __init__(self, config: BrokerConfig, credentials: CredentialStore) -> None:
        # No amqtt plugins: auth, ACL, $SYS and persistence are done here (amqtt's fail to load or leak).
        super().__init__({"listeners": {"default": {"type": "tcp", "bind": f"{config.host}:{config.port}"}},
                          "plugins": {}})
        self.settings = config
        self.credentials = credentials
        self.acl = Acl(config.topic_root)
        self.port = 0
        self.ws_port: int | None = None
        self._store: BrokerStore | None = None
        self._subs: dict[str, dict[str, tuple[Session, int]]] = {}
        self._wildcards: dict[str, None] = {}  # insertion-ordered set of filters with '+' or '#'
        self._connections: set[Connection] = set()
        self._connected = 0
        self._cid_locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._tcp_server: asyncio.Server | None = None
        self._ws_server: WsServer | None = None
        self.max_packet = config.max_payload + 2 + 65535 + 2

    # -- lifecycle -----------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Load persisted state, open the listeners (PortInUseError if busy), publish $SYS basics."""
        self.transitions.start()
        await self.plugins_manager.fire_event(BrokerEvents.PRE_START, wait=True)
        try:
            self._store = self._open_store()
            self._load_state()
            await self._open_listeners()
        except BaseException:
            self.transitions.starting_fail()
            await self._close_listeners()
            if self._store is not None:
                self._store.close()
            raise
        self.transitions.starting_success()
        self._set_retained("$SYS/broker/version", _VERSION.encode(), 0)
        self._publish_client_count()
        await self.plugins_manager.fire_event(BrokerEvents.POST_START, wait=True)

    def _open_store(self) -> BrokerStore:
        path = self.settings.data_dir / "broker.sqlite3"
        try:
            return BrokerStore(path)
        except (sqlite3.Error, OSError) as exc:
            raise BrokerStartError(
                f"cannot open the broker's state file {path}: {exc}; check that --data-dir exists and is writable"
            ) from exc

    async def _open_listeners(self) -> None:
        host, cfg = self.settings.host, self.settings
        try:
            loop = asyncio.get_running_loop()
            self._tcp_server = await loop.create_server(lambda: TcpProtocol(self), host, cfg.port, reuse_address=True)
        except OSError as exc:
            raise self._listen_error(exc, cfg.port, "--mqtt-port") from exc
        self.port = int(self._tcp_server.sockets[0].getsockname()[1])
        if cfg.ws_port is not None:
            try:
                self._ws_server = await websockets.serve(
                    self.ws_connected, host, cfg.ws_port, subprotocols=[websockets.Subprotocol("mqtt")],
                    max_size=self.max_packet + 5, compression=None, logger=_WebSocketLog(),
                )
            except OSError as exc:
                raise self._listen_error(exc, cfg.ws_port, "--mqtt-ws-port") from exc
            self.ws_port = int(next(iter(self._ws_server.sockets)).getsockname()[1])

    def _listen_error(self, exc: OSError, port: int, flag: str) -> Exception:
        if exc.errno == errno.EADDRINUSE:
            return PortInUseError(port, flag)
        return BrokerStartError(
            f"cannot listen on {self.settings.host}:{port}: {exc.strerror or exc}; check --host and {flag}"
        )

    async def _close_listeners(self) -> None:
        for server in (self._tcp_server, self._ws_server):
            if server is not None:
                server.close()
        if self._tcp_server is not None:
            await self._tcp_server.wait_closed()
        if self._ws_server is not None:
            await self._ws_server.wait_closed()

    async def shutdown(self) -> None:
        """Close every connection (Wills are sent), save persistent sessions, close the store."""
        self.transitions.shutdown()
        await self.plugins_manager.fire_event(BrokerEvents.PRE_SHUTDOWN, wait=True)
        for server in (self._tcp_server, self._ws_server):
            if server is not None:
                server.close()
        conns = list(self._connections)
        for conn in conns:
            conn.abort("broker shutting down")
        if conns:
            await asyncio.wait([asyncio.ensure_future(c.wait_finished()) for c in conns], timeout=5)
        for session, _ in self._sessions.values():
            if not session.clean_session:
                self._save_session(session)
        if self._store is not None:
            self._store.close()
            self._store = None
        await self._close_listeners()
        self._sessions.clear()
        self._subs.clear()
        self._wildcards.clear()
        self._retained_messages.clear()
        await self.plugins_manager.fire_event(BrokerEvents.POST_SHUTDOWN, wait=True)
        await self.plugins_manager.close()
        self.transitions.stopping_success()

    # -- persistence ---------------------------------------------------------------------------------------------

    def _load_state(self) -> None:
        assert self._store is not None
        for topic, payload, qos in self._store.load_retained():
            self._retained_messages[topic] = RetainedApplicationMessage(None, topic, payload, qos)
        for stored in self._store.load_sessions():
            session = LightSession()
            session.client_id = stored.client_id
            session.clean_session = False
            session.attributes[_OWNER] = (stored.owner, Role(stored.role))
            for msg in stored.inflight:
                out = OutgoingApplicationMessage(msg.packet_id, msg.topic, msg.qos, msg.payload, retain=False)
                out.pubrec_packet = msg.pubrec_received or None
                session.inflight_out[msg.packet_id or 0] = out
            for msg in stored.queued:
                session.retained_messages.put_nowait(
                    OutgoingApplicationMessage(None, msg.topic, msg.qos, msg.payload, retain=False))
            session.transitions.disconnect()
            self._sessions[stored.client_id] = (session, None)
            for topic_filter, qos in stored.subscriptions.items():
                self._add_sub(session, topic_filter, qos)
        log.info("broker state loaded", extra={"retained": len(self._retained_messages),
                                               "sessions": len(self._sessions)})

    def _save_session(self, session: Session) -> None:
        owner = _owner(session)
        if self._store is None or owner is None or not session.client_id:
            return
        queued = list(session.retained_messages._queue)  # noqa: SLF001 - asyncio.Queue has no peek
        self._store.save_session(StoredSession(
            session.client_id, owner[0], owner[1].value, dict(_filters(session)),
            [StoredMessage(m.topic, bytes(m.data), m.qos or 0, pid, bool(m.pubrec_packet))
             for pid, m in session.inflight_out.items()],
            [StoredMessage(m.topic, bytes(m.data), m.qos or 0) for m in queued],
        ))

    # -- connections ---------------------------------------------------------------------------------------------

    async def stream_connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                               listener_name: str = "tcp") -> None:
        """A TCP client: Nagle off (a QoS 1 round trip is 2 ms, not 40+ ms), then serve it."""
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        await self._serve(listener_name, StreamReaderAdapter(reader), StreamWriterAdapter(writer))

    async def ws_connected(self, websocket: ServerConnection, listener_name: str = "ws") -> None:
        """A client over WebSocket (subprotocol `mqtt`)."""
        await self._serve(listener_name, WebSocketsReader(websocket), WebSocketsWriter(websocket))

    async def _client_connected(self, listener_name: str, reader: ReaderAdapter, writer: WriterAdapter) -> None:
        await self._serve(listener_name, reader, writer)

    async def _serve(self, listener: str, reader: ReaderAdapter, writer: WriterAdapter) -> None:
        peer = writer.get_peer_info() or ("?", 0)
        where = {"peer": f"{peer[0]}:{peer[1]}", "listener": listener}
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                connect = await self._read_connect(reader)
        except TimeoutError:
            log.info("closing connection: no CONNECT in time", extra={**where, "timeout_s": CONNECT_TIMEOUT})
            await _close(writer)
            return
        except PeerClosedError:
            # Health checks and port scanners open and close sockets; that is not an error.
            log.debug("connection closed before CONNECT", extra=where)
            await _close(writer)
            return
        except wire.UnsupportedProtocolError as exc:
            log.info("refusing connection: unsupported protocol", extra={**where, "reason": str(exc)})
            await _refuse(writer, wire.CONNACK_BAD_PROTOCOL)
            return
        except wire.ProtocolViolation as exc:
            log.warning("closing connection: malformed CONNECT", extra={**where, "reason": str(exc)})
            await _close(writer)
            return
        conn = await self._accept(connect, (reader, writer), peer, where)
        if conn is None:
            return
        self._connections.add(conn)
        clean = False
        try:
            clean = await conn.run()
        finally:
            self._connections.discard(conn)
            await self._closed(conn, clean)

    async def serve_tcp(self, proto: TcpProtocol, connect: wire.Connect) -> None:
        """A TCP client whose CONNECT `TcpProtocol` has read: log it in, then let its packets flow inline."""
        writer = TransportWriter(proto.transport)
        peer = writer.get_peer_info() or ("?", 0)
        where = {"peer": f"{peer[0]}:{peer[1]}", "listener": "tcp"}
        try:
            conn = await self._accept(connect, (NoReader(), writer), peer, where)
        except Exception:
            # Our bug, not the client's: drop this client, keep serving the others.
            log.exception("closing connection: broker error while accepting CONNECT", extra=where)
            proto.transport.abort()
            return
        if conn is None:
            return
        self._connections.add(conn)
        clean = False
        try:
            conn.adopt(proto.framer)  # packets that arrived behind CONNECT
            proto.conn = conn
            if proto.lost:
                conn.end(clean=False, reason="peer closed")
            else:
                proto.transport.resume_reading()
                conn.receive(b"")
            clean = await conn.wait_ended()
        finally:
            self._connections.discard(conn)
            await self._closed(conn, clean)

    async def _read_connect(self, reader: ReaderAdapter) -> wire.Connect:
        ptype, flags, body = await read_packet(reader, self.max_packet)
        if ptype != wire.CONNECT:
            raise wire.ProtocolViolation(f"first packet is type {ptype}, not CONNECT [MQTT-3.1.0-1]")
        return wire.parse_connect(flags, body)

    async def _accept(self, connect: wire.Connect, stream: tuple[ReaderAdapter, WriterAdapter],
                      peer: tuple[str, int], where: dict[str, str]) -> Connection | None:
        writer = stream[1]
        principal = self._login(connect, where)
        if isinstance(principal, int):
            await _refuse(writer, principal)
            return None
        if connect.will_topic is not None and not self.acl.may_publish(principal, connect.will_topic):
            log.warning("refusing connection: Will topic not allowed", extra={
                **where, "client_id": principal.client_id, "topic": connect.will_topic})
            await _refuse(writer, wire.CONNACK_NOT_AUTHORIZED)
            return None
        cid = principal.client_id
        lock, users = self._cid_locks.get(cid, (asyncio.Lock(), 0))
        self._cid_locks[cid] = (lock, users + 1)
        try:
            async with lock:
                return await self._attach(connect, principal, stream, peer, where)
        finally:
            lock, users = self._cid_locks[cid]
            if users <= 1:
                del self._cid_locks[cid]
            else:
                self._cid_locks[cid] = (lock, users - 1)

    def _login(self, connect: wire.Connect, where: dict[str, str]) -> Principal | int:
        """The principal of a CONNECT, or the CONNACK code refusing it."""
        if connect.username is None:
            if not self.settings.allow_anonymous:
                log.info("refusing connection: anonymous login not allowed", extra=where)
                return wire.CONNACK_NOT_AUTHORIZED
            name, role = None, Role.INTEGRATOR
        else:
            name = connect.username
            try:
                password = (connect.password or b"").decode("utf-8")
            except UnicodeDecodeError:
                password = ""
            verified = self.credentials.verify(name, password) if connect.password is not None else None
            if verified is None:
                log.warning("refusing connection: bad user name or password", extra={**where, "user": name})
                return wire.CONNACK_NOT_AUTHORIZED
            role = verified
        cid = connect.client_id
        if not cid:
            if not connect.clean_session or role is Role.DEVICE:
                log.info("refusing connection: empty client id", extra={**where, "user": name})
                return wire.CONNACK_IDENTIFIER_REJECTED
            cid = f"auto-{secrets.token_hex(8)}"
        if role is Role.DEVICE and cid != name:
            log.warning("refusing connection: a device's client id must equal its credential name",
                        extra={**where, "user": name, "client_id": cid})
            return wire.CONNACK_IDENTIFIER_REJECTED
        return Principal(name, role, cid)

    async def _attach(self, connect: wire.Connect, principal: Principal, stream: tuple[ReaderAdapter, WriterAdapter],
                      peer: tuple[str, int], where: dict[str, str]) -> Connection | None:
        reader, writer = stream
        cid = principal.client_id
        owner = (principal.name, principal.role)
        existing = self._sessions.get(cid)
        if existing is not None:
            old_session, old_conn = existing
            # `not finished` rather than `open`: a connection whose socket closed may still be sending its Will.
            live = isinstance(old_conn, Connection) and not old_conn.finished
            if _owner(old_session) != owner:
                if live and old_conn.open:
                    log.warning("refusing connection: client id in use by another login",
                                extra={**where, "client_id": cid, "user": principal.name})
                    await _refuse(writer, wire.CONNACK_IDENTIFIER_REJECTED)
                    return None
                if live:
                    await old_conn.wait_finished()
                log.warning("discarding offline session of another login", extra={**where, "client_id": cid})
                self._discard_session(cid)
            elif live:
                log.info("client id connected again: closing the older connection", extra={**where, "client_id": cid})
                # Mosquitto's rule: the old Will goes out if either connection is a clean session.
                old_conn.abort("taken over", send_will=bool(old_session.clean_session or connect.clean_session))
                await old_conn.wait_finished()
        existing = self._sessions.get(cid)
        if connect.clean_session and existing is not None:
            self._discard_session(cid)
            existing = None
        if existing is None:
            session = LightSession()
            session.client_id = cid
            session.attributes[_OWNER] = owner
            if connect.clean_session and self._store is not None:
                self._store.delete_session(cid)
        else:
            session = existing[0]
        session.clean_session = connect.clean_session
        session.will_flag = connect.will_topic is not None
        session.will_topic = connect.will_topic
        session.will_message = connect.will_payload
        session.will_qos = connect.will_qos
        session.will_retain = connect.will_retain
        session.keep_alive = connect.keepalive
        session.username = principal.name
        session.password = None  # never keep a secret around
        session.remote_address, session.remote_port = peer
        conn = Connection(self, self.plugins_manager, session, principal, reader=reader, writer=writer,
                          max_payload=self.settings.max_payload, keepalive_factor=self.settings.keepalive_factor)
        self._sessions[cid] = (session, conn)
        self._connected += 1
        session.transitions.connect()
        conn.write_raw(wire.encode_connack(session_present=existing is not None, code=wire.CONNACK_ACCEPTED))
        conn.begin()
        log.info("client connected", extra={**where, "client_id": cid, "user": principal.name,
                                            "role": principal.role.value, "clean_session": connect.clean_session,
                                            "keepalive_s": connect.keepalive, "session_present": existing is not None})
        self._publish_client_count()
        await self.plugins_manager.fire_event(BrokerEvents.CLIENT_CONNECTED, client_id=cid, client_session=session)
        return conn

    async def _closed(self, conn: Connection, clean: bool) -> None:
        session = conn.session_
        cid = conn.client_id
        try:
            if not clean and conn.will_on_close and session.will_flag and session.will_topic is not None:
                self._publish(session.will_topic, bytes(session.will_message or b""), session.will_qos or 0,
                              retain=bool(session.will_retain))
            session.will_flag = False
            self._connected -= 1
            session.transitions.disconnect()
            current = self._sessions.get(cid)
            if current is not None and current[0] is session:
                if session.clean_session:
                    self._discard_session(cid)
                else:
                    self._save_session(session)
            log.info("client disconnected", extra={"client_id": cid, "reason": conn.close_reason,
                                                   "will_sent": not clean and conn.will_on_close})
            self._publish_client_count()
            await self.plugins_manager.fire_event(BrokerEvents.CLIENT_DISCONNECTED, client_id=cid,
                                                  client_session=session)
        finally:
            conn.mark_finished()

    # -- routing -------------------------------------------------------------------------------------------------

    def on_publish(self, conn: Connection, msg: wire.Publish) -> None:
        """A client's PUBLISH: ACL, then retain and route. A denied publish is dropped and logged."""
        if not self.acl.may_publish(conn.principal, msg.topic):
            log.warning("publish denied", extra={"client_id": conn.client_id, "role": conn.principal.role.value,
                                                 "topic": msg.topic})
            return
        self._publish(msg.topic, msg.payload, msg.qos, retain=msg.retain)

    def _publish(self, topic: str, payload: bytes, qos: int, *, retain: bool) -> None:
        if retain:
            self._set_retained(topic, payload, qos)
        self._route(topic, payload, qos)

    def _targets(self, topic: str) -> dict[str, tuple[Session, int]]:
        """Sessions subscribed to `topic`, each once, with the highest QoS granted [MQTT-3.3.5-1]."""
        exact = self._subs.get(topic)
        matched = [exact] if exact else []
        matched += [self._subs[f] for f in self._wildcards if matches(f, topic)]
        if len(matched) == 1:
            return matched[0]  # the common case: one filter, no merging
        targets: dict[str, tuple[Session, int]] = {}
        for subs in matched:
            for cid, (session, sub_qos) in subs.items():
                seen = targets.get(cid)
                if seen is None or seen[1] < sub_qos:
                    targets[cid] = (session, sub_qos)
        return targets

    def _route(self, topic: str, payload: bytes, qos: int) -> None:
        targets = self._targets(topic)
        if not targets:
            return
        topic_bytes = topic.encode()
        # Frame pieces built once per message, by delivered QoS: [QoS 0 whole frame, QoS 1 prefix, QoS 2 prefix].
        frames: list[bytes | None] = [None, None, None]
        sessions = self._sessions
        for cid, (session, sub_qos) in list(targets.items()):
            out_qos = min(qos, sub_qos)
            conn = sessions.get(cid, (None, None))[1]
            if isinstance(conn, Connection) and conn.open:
                frame = frames[out_qos]
                if frame is None:
                    frame = wire.publish_prefix(topic_bytes, len(payload), out_qos, retain=False)
                    if out_qos == 0:
                        frame += payload
                    frames[out_qos] = frame
                if out_qos:
                    conn.deliver(topic, topic_bytes, payload, out_qos, retain=False, prefix=frame)
                else:
                    conn.deliver(topic, topic_bytes, payload, 0, retain=False, qos0_frame=frame)
            elif out_qos and not session.clean_session:
                enqueue(session, OutgoingApplicationMessage(None, topic, out_qos, payload, retain=False))

    def _set_retained(self, topic: str, payload: bytes, qos: int) -> None:
        persist = self._store is not None and not topic.startswith("$")
        if payload:
            self._retained_messages[topic] = RetainedApplicationMessage(None, topic, payload, qos)
            if persist:
                self._store.put_retained(topic, payload, qos)  # type: ignore[union-attr]
        elif self._retained_messages.pop(topic, None) is not None and persist:
            self._store.delete_retained(topic)  # type: ignore[union-attr]

    def on_subscribe(self, conn: Connection, packet_id: int, topics: list[tuple[str, int]]) -> None:
        """A client's SUBSCRIBE: each filter must be valid and wholly readable, else return code 0x80."""
        session = conn.session_
        codes: list[int] = []
        granted: list[tuple[str, int]] = []
        for topic_filter, qos in topics:
            if not is_valid_filter(topic_filter):
                log.info("subscribe refused: invalid filter", extra={"client_id": conn.client_id,
                                                                     "filter": topic_filter})
                codes.append(0x80)
            elif not self.acl.may_subscribe(conn.principal, topic_filter):
                log.warning("subscribe denied", extra={"client_id": conn.client_id,
                                                       "role": conn.principal.role.value, "filter": topic_filter})
                codes.append(0x80)
            else:
                self._add_sub(session, topic_filter, qos)
                codes.append(qos)
                granted.append((topic_filter, qos))
        conn.write_raw(wire.encode_suback(packet_id, codes))
        for topic_filter, qos in granted:
            self._send_retained(conn, topic_filter, qos)
        if granted and not session.clean_session:
            self._save_session(session)

    def on_unsubscribe(self, conn: Connection, packet_id: int, filters: list[str]) -> None:
        """A client's UNSUBSCRIBE (unknown filters are fine), answered with UNSUBACK."""
        session = conn.session_
        for topic_filter in filters:
            self._del_sub(session, topic_filter)
        conn.write_raw(wire.encode_packet(wire.UNSUBACK << 4, packet_id.to_bytes(2, "big")))
        if not session.clean_session:
            self._save_session(session)

    def _send_retained(self, conn: Connection, topic_filter: str, qos: int) -> None:
        if "+" in topic_filter or "#" in topic_filter:
            found = [m for t, m in self._retained_messages.items() if matches(topic_filter, t)]
        else:
            one = self._retained_messages.get(topic_filter)
            found = [one] if one is not None else []
        for msg in found:
            conn.deliver(msg.topic, msg.topic.encode(), bytes(msg.data), min(qos, msg.qos or 0), retain=True)

    def _add_sub(self, session: Session, topic_filter: str, qos: int) -> None:
        assert session.client_id is not None
        self._subs.setdefault(topic_filter, {})[session.client_id] = (session, qos)
        if "+" in topic_filter or "#" in topic_filter:
            self._wildcards[topic_filter] = None
        _filters(session)[topic_filter] = qos

    def _del_sub(self, session: Session, topic_filter: str) -> None:
        subs = self._subs.get(topic_filter)
        if subs is not None:
            subs.pop(session.client_id or "", None)
            if not subs:
                del self._subs[topic_filter]
                self._wildcards.pop(topic_filter, None)
        _filters(session).pop(topic_filter, None)

    def _discard_session(self, cid: str) -> None:
        session, _ = self._sessions.pop(cid, (None, None))
        if session is not None:
            for topic_filter in list(_filters(session)):
                self._del_sub(session, topic_filter)
            session.clear_queues()
            session.inflight_out.clear()
        if self._store is not None:
            self._store.delete_session(cid)

    def _publish_client_count(self) -> None:
        count = self._connected
        self._set_retained("$SYS/broker/clients/connected", str(count).encode(), 0)
        if self._wildcards or "$SYS/broker/clients/connected" in self._subs:
            self._route("$SYS/broker/clients/connected", str(count).encode(), 0)

    # -- amqtt API kept working for BrokerContext users ------------------------------------------------------

    async def retain_message(  # amqtt's signature
        self, source_session: Session | None, topic_name: str | None,  # noqa: ARG002
        data: bytes | bytearray | None, qos: int | None = None,
    ) -> None:
        """amqtt API: set or clear (empty data) the retained message of a topic."""
        if topic_name is not None:
            self._set_retained(topic_name, bytes(data or b""), qos or 0)

    async def _broadcast_message(  # amqtt's signature
        self, session: Session | None, topic: str | None, data: bytes | bytearray | None,  # noqa: ARG002
        force_qos: int | None = None,
    ) -> None:
        if topic is not None:
            self._route(topic, bytes(data or b""), force_qos or 0)

    async def add_subscription(self, subscription: tuple[str, int], session: Session) -> int:
        """amqtt API (BrokerContext): subscribe a session without an ACL check (trusted caller)."""
        topic_filter, qos = subscription
        if not is_valid_filter(topic_filter):
            return 0x80
        self._add_sub(session, topic_filter, qos)
        return qos

    @property
    def subscriptions(self) -> dict[str, list[tuple[Session, int]]]:
        """amqtt API: subscriptions by filter."""
        return {f: list(subs.values()) for f, subs in self._subs.items()}


class _WebSocketLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """websockets' server log, minus one ERROR: a health check or port scan that closes before the HTTP upgrade
    makes websockets log "opening handshake failed" with a traceback; that is not an error, so it goes to DEBUG."""

    def __init__(self) -> None:
        super().__init__(logging.getLogger("quizhub.broker.websocket"), {})

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        if msg == "opening handshake failed":
            level = logging.DEBUG
        super().log(level, msg, *args, **kwargs)


class TcpProtocol(asyncio.Protocol):
    """One TCP client. Until CONNECT is handled it frames bytes itself; then it hands them to the `Connection`.

    A protocol rather than streams: each incoming packet is handled inside `data_received`, with no task
    switch, which is most of the broker's CPU when N subscribers acknowledge a fan-out.
    """

    def __init__(self, broker: HardenedBroker) -> None:
        self.broker = broker
        self.framer = wire.Framer(broker.max_packet)
        self.transport: asyncio.Transport = None  # type: ignore[assignment]  # set in connection_made
        self.conn: Connection | None = None
        self.lost = False
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._peer = "?"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Nagle off (a QoS 1 round trip is 2 ms, not 40+ ms), and a deadline for CONNECT."""
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = transport.get_extra_info("peername")
        self._peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        self._timer = asyncio.get_running_loop().call_later(CONNECT_TIMEOUT, self._connect_timeout)

    def data_received(self, data: bytes) -> None:
        """Bytes from the client: to the connection once there is one, else towards a CONNECT."""
        if self.conn is not None:
            self.conn.receive(data)
            return
        self.framer.feed(data)
        if self._task is not None:
            return  # CONNECT is being handled; these bytes wait in the framer
        where = {"peer": self._peer, "listener": "tcp"}
        try:
            packet = self.framer.next_packet()
            if packet is None:
                return
            ptype, flags, body = packet
            if ptype != wire.CONNECT:
                raise wire.ProtocolViolation(f"first packet is type {ptype}, not CONNECT [MQTT-3.1.0-1]")  # noqa: TRY301
            connect = wire.parse_connect(flags, body)
        except wire.UnsupportedProtocolError as exc:
            log.info("refusing connection: unsupported protocol", extra={**where, "reason": str(exc)})
            self.transport.write(wire.encode_connack(session_present=False, code=wire.CONNACK_BAD_PROTOCOL))
            self.transport.close()
            return
        except wire.ProtocolViolation as exc:
            log.warning("closing connection: malformed CONNECT", extra={**where, "reason": str(exc)})
            self.transport.abort()
            return
        if self._timer is not None:
            self._timer.cancel()
        self.transport.pause_reading()  # until the login is decided
        self._task = asyncio.ensure_future(self.broker.serve_tcp(self, connect))

    def eof_received(self) -> bool:
        """The client half-closed: treat it as closed."""
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        """The socket is gone: end the connection (unclean unless it sent DISCONNECT first)."""
        self.lost = True
        if self._timer is not None:
            self._timer.cancel()
        if self.conn is not None:
            self.conn.end(clean=False, reason="peer closed" if exc is None else f"network error: {exc}")
        elif self._task is None:
            # Health checks and port scanners open and close sockets; that is not an error.
            log.debug("connection closed before CONNECT", extra={"peer": self._peer, "listener": "tcp"})

    def _connect_timeout(self) -> None:
        log.info("closing connection: no CONNECT in time", extra={"peer": self._peer, "listener": "tcp",
                                                                    "timeout_s": CONNECT_TIMEOUT})
        self.transport.abort()


async def _close(writer: WriterAdapter) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(writer.close(), 2)


async def _refuse(writer: WriterAdapter, code: int) -> None:
    with contextlib.suppress(Exception):
        writer.write(wire.encode_connack(session_present=False, code=code))
        await writer.drain()
    await _close(writer)


def _apply_tuning() -> None:
    try:
        tuning = importlib.import_module("broker.tuning")
    except ModuleNotFoundError:
        return
    apply = getattr(tuning, "apply", None)
    if callable(apply):
        apply()


class EmbeddedBroker:
    """The embedded MQTT broker as an async context manager.

    `async with EmbeddedBroker(config, credentials) as broker:` starts the TCP (and WebSocket) listeners and stops
    them on exit; `broker.port` / `broker.ws_port` are the bound ports (useful with port 0). A busy port raises
    `PortInUseError` naming the port and the CLI flag to change.
    """

    def __init__(self, config: BrokerConfig, credentials: CredentialStore) -> None:
        self.config = config
        self.credentials = credentials
        self._broker: HardenedBroker | None = None

    @property
    def broker(self) -> HardenedBroker:
        """The running amqtt broker (for BrokerContext-style introspection)."""
        if self._broker is None:
            raise RuntimeError("the broker is not running; use it inside `async with EmbeddedBroker(...)`")
        return self._broker

    @property
    def port(self) -> int:
        """The bound MQTT/TCP port."""
        return self.broker.port

    @property
    def ws_port(self) -> int | None:
        """The bound MQTT/WebSocket port, or None when the WebSocket listener is off."""
        return self.broker.ws_port

    async def __aenter__(self) -> Self:
        try:
            self.config.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BrokerStartError(
                f"cannot create the data directory {self.config.data_dir}: {exc.strerror or exc}; "
                "pick a writable one with --data-dir"
            ) from exc
        broker = HardenedBroker(self.config, self.credentials)
        await broker.start()
        self._broker = broker
        _apply_tuning()
        log.info("broker started", extra={"host": self.config.host, "port": broker.port, "ws_port": broker.ws_port,
                                          "allow_anonymous": self.config.allow_anonymous,
                                          "topic_root": self.config.topic_root})
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        broker, self._broker = self._broker, None
        if broker is not None:
            await broker.shutdown()
            log.info("broker stopped")


