"""The bridge's per-process dispatch without sockets: a slow socket is cut off alone, duplicates from several relays
and stale retained copies never reach a socket, and the fan-out envelope round-trips."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from hub.settings import Settings
from web.auth.principal import AuthMethod, Principal, PrincipalKind, Role
from web.hubclient import FeedMessage
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
        for raw in (_event(1), _event(2, "answer_received", team="t1", index=0, choice=1, elapsed_us=5)):
            msg = FeedMessage.decode(raw)
            out = _Out(msg.kind, msg.seq, msg.type, msg.payload, f'{{"type":"event","data":{msg.payload.decode()}}}')
            await conn.send_event(out)
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
