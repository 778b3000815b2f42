"""Persistent sessions, in-flight QoS 1, and state that survives a broker restart."""

from __future__ import annotations

import asyncio
import time

import pytest
from brokertest_raw import RawClient


async def test_qos1_in_flight_to_a_persistent_session_is_resent_after_reconnect(target):
    r = target.root
    sub = await target.client("svc", client_id="persistent-sub", clean=False)
    assert await sub.subscribe((f"{r}/events", 1)) == [1]
    pub = await target.client("svc", client_id="pub")
    await pub.publish(f"{r}/events", b"event-17", qos=1)
    first = await sub.next_message(ack=False)  # received, never acknowledged
    assert (first.payload, first.qos, first.dup) == (b"event-17", 1, False)
    await sub.close()  # connection lost before the PUBACK

    again = await target.raw()
    present, code = await again.connect("persistent-sub", "svc", target.passwords["svc"], clean=False)
    assert (present, code) == (1, 0)
    redelivered = await again.next_message()
    assert (redelivered.payload, redelivered.qos, redelivered.dup) == (b"event-17", 1, True)


async def test_qos1_published_while_a_persistent_session_is_offline_is_delivered_on_reconnect(target):
    r = target.root
    sub = await target.client("svc", client_id="offline-sub", clean=False)
    assert await sub.subscribe((f"{r}/events", 1), (f"{r}/chatter", 0)) == [1, 0]
    await sub.disconnect()
    pub = await target.client("svc", client_id="pub")
    await pub.publish(f"{r}/chatter", b"qos0 is not queued", qos=0)
    await pub.publish(f"{r}/events", b"while you were away", qos=1)
    again = await target.raw()
    assert await again.connect("offline-sub", "svc", target.passwords["svc"], clean=False) == (1, 0)
    msg = await again.next_message()
    assert (msg.topic, msg.payload, msg.qos) == (f"{r}/events", b"while you were away", 1)


async def test_a_clean_session_forgets_subscriptions(target):
    r = target.root
    sub = await target.client("svc", client_id="forgetful", clean=False)
    await sub.subscribe((f"{r}/events", 1))
    await sub.disconnect()
    again = await target.raw()
    assert await again.connect("forgetful", "svc", target.passwords["svc"], clean=True) == (0, 0)
    pub = await target.client("svc", client_id="pub")
    await pub.publish(f"{r}/events", b"nobody listens", qos=1)
    await again.subscribe((f"{r}/sentinel", 1))
    await pub.publish(f"{r}/sentinel", b"", qos=1)
    assert await again.messages_until(f"{r}/sentinel") == []


async def test_retained_messages_and_persistent_sessions_survive_a_restart(start_embedded, topic_root):
    r = topic_root
    async with start_embedded() as (b, pw):
        hub = await RawClient.open(b.port)
        await hub.connect("hub", "svc", pw["svc"])
        await hub.publish(f"{r}/games/g1/state", b'{"phase":"armed"}', qos=1, retain=True)
        await hub.publish(f"{r}/games/g1/scores", b"to be cleared", qos=1, retain=True)
        await hub.publish(f"{r}/games/g1/scores", b"", qos=1, retain=True)  # clears it
        dev = await RawClient.open(b.port)
        await dev.connect("dev1", "dev1", pw["dev1"], clean=False)
        assert await dev.subscribe((f"{r}/devices/dev1/cmd", 1)) == [1]
        await dev.disconnect()
        await hub.publish(f"{r}/devices/dev1/cmd", b'{"cmd":"identify"}', qos=1)  # queued for offline dev1
        await hub.disconnect()

    async with start_embedded() as (b, pw):  # same data dir, new process state
        dev = await RawClient.open(b.port)
        assert await dev.connect("dev1", "dev1", pw["dev1"], clean=False) == (1, 0)
        queued = await dev.next_message()
        assert (queued.topic, queued.payload) == (f"{r}/devices/dev1/cmd", b'{"cmd":"identify"}')
        integ = await RawClient.open(b.port)
        await integ.connect("integ", "integ", pw["integ"])
        await integ.subscribe((f"{r}/games/+/state", 1), (f"{r}/games/+/scores", 1))
        hub = await RawClient.open(b.port)
        await hub.connect("hub", "svc", pw["svc"])
        await hub.publish(f"{r}/games/g1/question", b"sentinel", qos=1, retain=True)
        await integ.subscribe((f"{r}/games/+/question", 1))
        seen = await integ.messages_until(f"{r}/games/g1/question")
        assert [(m.topic, m.payload, m.retain) for m in seen] == [(f"{r}/games/g1/state", b'{"phase":"armed"}', True)]
        # the persistent session's subscription survived too: a new command reaches dev1 live
        await hub.publish(f"{r}/devices/dev1/cmd", b'{"cmd":"win"}', qos=1)
        assert (await dev.next_message()).payload == b'{"cmd":"win"}'


async def test_a_connect_storm_stays_linear(start_embedded, topic_root):
    """amqtt formatted repr() of every subscription on each SUBSCRIBE: 5,000 clients took 78 s (Mosquitto 2.1 s).
    Here 4x the clients must cost well under 16x the time (quadratic); linear is 4x."""
    async with start_embedded() as (b, pw):

        async def storm(n: int, tag: str) -> float:
            async def one(i: int) -> RawClient:
                c = await RawClient.open(b.port)
                assert (await c.connect(f"{tag}-{i}", "svc", pw["svc"]))[1] == 0
                assert await c.subscribe((f"{topic_root}/{tag}/{i}/cmd", 1)) == [1]
                return c

            started = time.perf_counter()
            clients: list[RawClient] = []
            for start in range(0, n, 100):
                clients += await asyncio.gather(*(one(i) for i in range(start, min(n, start + 100))))
            elapsed = time.perf_counter() - started
            await asyncio.gather(*(c.disconnect() for c in clients))
            return elapsed

        small = await storm(250, "s")
        big = await storm(1000, "b")
        assert big < 8 * small + 0.5, f"250 clients: {small:.2f} s, 1000 clients: {big:.2f} s"
        assert big < 10, f"1000 clients took {big:.1f} s"


async def test_websocket_clients_use_the_same_broker(start_embedded, topic_root):
    import aiomqtt  # noqa: PLC0415

    async with start_embedded(ws_port=0) as (b, pw):
        assert b.ws_port
        async with aiomqtt.Client("127.0.0.1", b.ws_port, username="integ", password=pw["integ"],
                                  identifier="browser-1", transport="websockets") as ws:
            await ws.subscribe(f"{topic_root}/games/+/scores", qos=1)
            hub = await RawClient.open(b.port)
            await hub.connect("hub", "svc", pw["svc"])
            await hub.publish(f"{topic_root}/games/g1/scores", b'[{"team":"A","points":3}]', qos=1)
            async with asyncio.timeout(5):
                async for msg in ws.messages:
                    assert msg.payload == b'[{"team":"A","points":3}]'
                    assert msg.qos == 1
                    break


async def test_websocket_connections_get_the_same_keepalive_and_malformed_rules(start_embedded, topic_root):
    import websockets  # noqa: PLC0415
    from brokertest_raw import connect_packet  # noqa: PLC0415

    r = topic_root
    async with start_embedded(ws_port=0) as (b, pw):
        watcher = await RawClient.open(b.port)
        await watcher.connect("watcher", "svc", pw["svc"])
        await watcher.subscribe((f"{r}/devices/+/status", 1))
        uri = f"ws://127.0.0.1:{b.ws_port}/mqtt"
        async with websockets.connect(uri, subprotocols=["mqtt"]) as silent:
            await silent.send(connect_packet("dev1", "dev1", pw["dev1"], keepalive=1,
                                             will=(f"{r}/devices/dev1/status", b"offline", 1, False)))
            assert (await silent.recv())[:4] == b"\x20\x02\x00\x00"
            started = time.monotonic()
            assert (await watcher.next_message()).payload == b"offline"
            assert 1.4 <= time.monotonic() - started < 3.0
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(silent.recv(), 5)
        async with websockets.connect(uri, subprotocols=["mqtt"]) as bad:
            await bad.send(connect_packet("svc-ws", "svc", pw["svc"]))
            assert (await bad.recv())[:4] == b"\x20\x02\x00\x00"
            await bad.send(bytes((0x36, 0x05, 0x00, 0x01, 0x61, 0x00, 0x01)))  # PUBLISH with QoS 3
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(bad.recv(), 5)
        await watcher.ping()
