"""The bridge's per-process dispatch without sockets: a slow socket is cut off alone, duplicates from several relays
and stale retained copies never reach a socket, and the fan-out envelope round-trips."""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest
import uvicorn
from websockets.asyncio.client import connect

from hub.settings import Settings
from web.auth.principal import AuthMethod, Principal, PrincipalKind, Role
from web.fanout import MemoryBroadcast
from web.hubclient import FeedMessage
from web.serve import bind_http, uvicorn_config
from web.ws import QUEUE_SIZE, SEND_TIMEOUT_S, Bridge, CloseCode, _CloseError, _Conn, _Feed, _Out


class _Socket:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send_text(self, text: str) -> None:
        self.sent.append(text)


def _conn(bridge: Bridge, role: Role = Role.DISPLAY) -> _Conn:
    kind = PrincipalKind.TEAM if role is Role.TEAM else PrincipalKind.DISPLAY
    principal = Principal(kind, "t1", "x", role, AuthMethod.BEARER, game_id="g1")
    return _Conn(_Socket(), bridge, principal, "g1")  # type: ignore[arg-type]


@pytest.fixture
def feed(tmp_path: Any) -> _Feed:
    bridge = Bridge(Settings(data_dir=tmp_path), repo=None, broadcast=None, hub=None)  # type: ignore[arg-type]
    return _Feed(bridge, "g1")


def _drain(conn: _Conn) -> list[Any]:
    out = []
    while not conn.queue.empty():
        out.append(conn.queue.get_nowait())
    return out


def _event(seq: int, etype: str = "score_adjusted", **data: Any) -> bytes:
    payload = json.dumps({"seq": seq, "ts_us": 1, "type": etype, "data": data}).encode()
    return FeedMessage("event", payload, seq, etype).encode()


def _state(seq: int, ts_us: int) -> bytes:
    return FeedMessage("state", json.dumps({"game": "g1", "seq": seq, "ts_us": ts_us}).encode()).encode()


def test_slow_socket_is_closed_alone(feed: _Feed) -> None:
    slow, fast = _conn(feed.bridge), _conn(feed.bridge)
    feed.conns |= {slow, fast}
    for seq in range(1, QUEUE_SIZE + 2):
        feed._dispatch(_event(seq))
        _drain(fast)  # the fast one keeps up
    assert slow.kicked is not None
    assert slow.kicked[0] == CloseCode.TOO_SLOW
    assert "too slow" in slow.kicked[1]
    assert slow.queue.qsize() == 1  # only the close marker: its backlog is freed at once
    assert fast.kicked is None
    feed._dispatch(_event(QUEUE_SIZE + 2))
    assert [o.seq for o in _drain(fast)] == [QUEUE_SIZE + 2]


def test_duplicates_and_stale_copies_stop_at_the_feed(feed: _Feed) -> None:
    conn = _conn(feed.bridge)
    feed.conns.add(conn)
    for raw in (_event(1), _event(2), _event(1), _event(2), _event(3)):  # two relays, interleaved
        feed._dispatch(raw)
    for raw in (_state(3, 100), _state(3, 100), _state(2, 90), _state(3, 120)):
        feed._dispatch(raw)
    feed._dispatch(b"not a feed message")
    got = [(o.kind, o.seq, o.order) for o in _drain(conn)]
    assert got == [
        ("event", 1, None), ("event", 2, None), ("event", 3, None), ("state", 0, (3, 100)), ("state", 0, (3, 120)),
    ]


async def test_writer_drops_replayed_events_and_redacts_other_teams_answers(feed: _Feed) -> None:
    display, team = _conn(feed.bridge), _conn(feed.bridge, Role.TEAM)
    for conn in (display, team):
        conn.last_seq = 1  # as after a resume from seq 1
        items: list[Any] = []
        for raw in (_event(1), _event(2, "answer_received", team="t1", index=0, choice=1, elapsed_us=5)):
            msg = FeedMessage.decode(raw)
            items.append(_Out.build(msg.kind, msg.seq, msg.type, msg.payload))
        await conn._write(items)
    shown = [json.loads(t)["data"] for t in display.ws.sent]  # type: ignore[attr-defined]
    own = [json.loads(t)["data"] for t in team.ws.sent]  # type: ignore[attr-defined]
    assert [e["seq"] for e in shown] == [2]
    assert shown[0]["data"] == {"team": "t1", "index": 0, "elapsed_us": 5}
    assert own[0]["data"]["choice"] == 1


def test_feed_message_round_trip() -> None:
    msg = FeedMessage("event", b'{"seq":7}', 7, "buzz_ruled")
    assert FeedMessage.decode(msg.encode()) == msg
    assert FeedMessage.decode(FeedMessage("question", b"").encode()).payload == b""
    for bad in (b"", b"event 1\n{}", b"nope 0 -\n{}"):
        with pytest.raises(ValueError, match="not a hub feed message"):
            FeedMessage.decode(bad)


async def test_kick_wakes_the_writer(feed: _Feed) -> None:
    conn = _conn(feed.bridge)
    writer = asyncio.create_task(conn.write_loop(None))
    conn.kick(CloseCode.TOO_SLOW, "too slow: test")
    with pytest.raises(Exception, match="too slow: test"):
        async with asyncio.timeout(5):
            await writer


async def test_a_send_stuck_on_a_silent_client_closes_it(feed: _Feed) -> None:
    class _Stuck(_Socket):
        async def send_text(self, text: str) -> None:
            self.sent.append(text)
            await asyncio.Event().wait()  # the client stopped reading: the send never completes

    conn = _conn(feed.bridge)
    conn.ws = _Stuck()  # type: ignore[assignment]
    feed.conns.add(conn)
    conn.writer = asyncio.create_task(conn.write_loop(None))
    feed._dispatch(_event(1))
    async with asyncio.timeout(5):
        while not conn.ws.sent:  # type: ignore[attr-defined]
            await asyncio.sleep(0)  # let the writer take the frame and block in its send
    assert conn.sending_since is not None
    conn.sending_since -= SEND_TIMEOUT_S + 1  # as if it had been stuck that long
    feed._dispatch(_event(2))
    assert conn.kicked is not None
    assert "took over" in conn.kicked[1]
    with pytest.raises(_CloseError) as closed:
        async with asyncio.timeout(5):
            await conn.writer
    assert closed.value.code == CloseCode.TOO_SLOW


def _scores(seq: int) -> bytes:
    return FeedMessage("scores", json.dumps({"seq": seq, "ts_us": seq, "teams": []}).encode()).encode()


async def _idle(conn: _Conn) -> None:
    """Start the socket's writer and wait until it has sent the (empty) snapshot and handed sending to the feed."""
    conn.writer = asyncio.create_task(conn.write_loop(None))
    async with asyncio.timeout(5):
        while conn.busy:
            await asyncio.sleep(0)  # let the writer run its snapshot


async def test_the_feed_sends_to_an_idle_socket_itself(feed: _Feed) -> None:
    conn = _conn(feed.bridge)
    feed.conns.add(conn)
    await _idle(conn)
    feed._dispatch(_event(1), _scores(1))
    # Sent before anything else ran: no writer task woken, nothing queued.
    assert [json.loads(t)["type"] for t in conn.ws.sent] == ["event", "scores"]  # type: ignore[attr-defined]
    assert conn.queue.empty()
    assert not conn.busy
    conn.kick(CloseCode.NORMAL, "done")
    with pytest.raises(_CloseError):
        await conn.writer  # type: ignore[misc]


async def test_batch_sockets_get_one_message_serialised_once(feed: _Feed) -> None:
    one, two, plain = _conn(feed.bridge), _conn(feed.bridge), _conn(feed.bridge)
    one.batch = two.batch = True
    for conn in (one, two, plain):
        feed.conns.add(conn)
        await _idle(conn)
    feed._dispatch(_event(1), _scores(1))
    [sent_one], [sent_two] = one.ws.sent, two.ws.sent  # type: ignore[attr-defined]
    assert sent_one is sent_two  # built once for every socket that gets the same frames
    batch = json.loads(sent_one)
    assert batch["type"] == "batch"
    assert [(f["type"], f["data"]["seq"]) for f in batch["frames"]] == [("event", 1), ("scores", 1)]
    assert [json.loads(t) for t in plain.ws.sent] == batch["frames"]  # type: ignore[attr-defined]


async def test_a_send_that_waits_is_finished_by_the_writer_and_holds_no_one_up(feed: _Feed) -> None:
    class _Paused(_Socket):
        """A socket whose write buffer is full: each send waits until the client reads (``drained`` is set)."""

        def __init__(self) -> None:
            super().__init__()
            self.drained = asyncio.Event()

        async def send_text(self, text: str) -> None:
            await self.drained.wait()
            self.sent.append(text)

    slow, fast = _conn(feed.bridge), _conn(feed.bridge)
    for conn in (slow, fast):
        feed.conns.add(conn)
        await _idle(conn)
    slow.ws = paused = _Paused()  # type: ignore[assignment]
    feed._dispatch(_event(1))
    feed._dispatch(_event(2))
    assert slow.busy  # its first send is waiting; the next frame queued behind it
    assert [json.loads(t)["data"]["seq"] for t in fast.ws.sent] == [1, 2]  # type: ignore[attr-defined]
    paused.drained.set()
    async with asyncio.timeout(5):
        while len(paused.sent) < 2 or slow.busy:
            await asyncio.sleep(0)  # let the writer finish the suspended send and the queued one
    assert [json.loads(t)["data"]["seq"] for t in paused.sent] == [1, 2]
    assert slow.sending_since is None
    feed._dispatch(_event(3))  # idle again: sent at once
    assert json.loads(paused.sent[-1])["data"]["seq"] == 3


async def test_an_event_waits_briefly_for_the_update_that_follows_it(feed: _Feed) -> None:
    async with MemoryBroadcast() as broadcast, broadcast.subscribe("c") as sub:
        # Cheap sockets (few, or fast): no wait at all.
        await broadcast.publish("c", _event(1))
        assert await feed._gather(await anext(sub), sub) == [_event(1)]
        # Costly ones: the event waits for the scores that follow it, so a socket gets both in one send.
        feed.conns.add(_conn(feed.bridge))
        feed._cost_per_conn = 1.0
        await broadcast.publish("c", _event(2))
        gathering = asyncio.create_task(feed._gather(await anext(sub), sub))
        await asyncio.sleep(0)  # the gatherer is now waiting for more
        assert not gathering.done()
        await broadcast.publish("c", _scores(2))
        async with asyncio.timeout(5):
            assert await gathering == [_event(2), _scores(2)]
        # Nothing follows: the event goes alone once the wait is over.
        await broadcast.publish("c", _event(3))
        async with asyncio.timeout(5):
            assert await feed._gather(await anext(sub), sub) == [_event(3)]


async def test_served_connections_send_small_frames_without_delay() -> None:
    """serve's listening socket says TCP, so asyncio sets TCP_NODELAY on every connection: a second small frame
    must not wait (about 40 ms) for the client's delayed ACK of the first (Nagle)."""
    accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    class _Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

    listener = bind_http("127.0.0.1", 0)
    server = await asyncio.get_running_loop().create_server(_Probe, sock=listener)
    async with server:
        _, writer = await asyncio.open_connection(*listener.getsockname()[:2])
        async with asyncio.timeout(5):
            assert await accepted != 0
        writer.close()


async def test_served_websockets_are_not_compressed() -> None:
    """The web's uvicorn settings turn permessage-deflate off: a client offering it (browsers and the websockets
    library do) gets uncompressed frames, so a fan-out does not compress every frame once per viewer."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        await receive()  # websocket.connect
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": '{"type":"scores","data":{}}'})
        await send({"type": "websocket.close", "code": 1000})

    listener = bind_http("127.0.0.1", 0)
    config = uvicorn_config(app)
    server = uvicorn.Server(config)
    config.load()
    server.lifespan = config.lifespan_class(config)
    await server.startup(sockets=[listener])
    loop = asyncio.create_task(server.main_loop())
    try:
        host, port = listener.getsockname()[:2]
        async with asyncio.timeout(10), connect(f"ws://{host}:{port}/ws", compression="deflate") as ws:
            assert await ws.recv() == '{"type":"scores","data":{}}'
            assert ws.response is not None
            assert "Sec-WebSocket-Extensions" not in ws.response.headers
            assert ws.protocol.extensions == []
    finally:
        server.should_exit = True
        await loop
        await server.shutdown(sockets=[listener])
        listener.close()
