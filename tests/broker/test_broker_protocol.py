"""Standard MQTT behaviour amqtt 0.12.1 gets wrong, checked on the embedded broker and on Mosquitto alike."""

from __future__ import annotations

import asyncio
import struct
import time

import pytest
from brokertest_raw import CAP, RawClient, connect_packet, packet, publish_packet


async def test_a_silent_client_is_dropped_after_one_and_a_half_keepalives_and_its_will_sent(target):
    r = target.root
    watcher = await target.client("svc")
    assert await watcher.subscribe((f"{r}/devices/+/status", 1)) == [1]
    dev = await target.client("dev1", keepalive=1, will=(f"{r}/devices/dev1/status", b'{"state":"offline"}', 1, True))
    started = time.monotonic()
    msg = await watcher.next_message(timeout=10)  # the device says nothing from here on
    elapsed = time.monotonic() - started
    assert (msg.topic, msg.payload) == (f"{r}/devices/dev1/status", b'{"state":"offline"}')
    # Mosquitto 2.0.11 sweeps keepalives every few seconds (measured 5.4 s); we run a per-connection timer.
    limit = 3.0 if target.kind == "quizhub" else 8.0
    assert 1.4 <= elapsed < limit, f"Will after {elapsed:.2f} s for keepalive 1 s"
    await dev.wait_closed()
    # The Will was retained: a later subscriber sees the device offline.
    late = await target.client("integ")
    await late.subscribe((f"{r}/devices/+/status", 0))
    assert (await late.next_message()).payload == b'{"state":"offline"}'


async def test_a_client_that_pings_in_time_stays_connected(target):
    c = await target.client("svc", keepalive=1)
    for _ in range(5):  # 2.5 s in all, well past 1.5 x keepalive, but never 1 s of silence
        await asyncio.sleep(0.5)  # pacing the client like a real one, not synchronising
        await c.ping()
    await c.disconnect()


async def test_a_clean_disconnect_discards_the_will(target):
    r = target.root
    watcher = await target.client("svc")
    await watcher.subscribe((f"{r}/devices/+/status", 1))
    dev = await target.client("dev1", will=(f"{r}/devices/dev1/status", b"offline", 1, False))
    await dev.disconnect()
    other = await target.client("dev2")
    await other.publish(f"{r}/devices/dev2/status", b"sentinel", qos=1)
    assert await watcher.messages_until(f"{r}/devices/dev2/status") == []


async def test_a_second_connection_with_the_same_client_id_takes_over(target):
    first = await target.client("svc", client_id="hub-main")
    second = await target.client("svc", client_id="hub-main")
    await first.wait_closed()
    await second.ping()
    await second.disconnect()


MALFORMED = {
    "publish with QoS 3": bytes((0x36, 0x05, 0x00, 0x01, 0x61, 0x00, 0x01)),
    "subscribe with flags 0": packet(0x80, struct.pack("!H", 1) + b"\x00\x01a\x00"),
    "topic length past the packet end": bytes((0x30, 0x03, 0x00, 0x10, 0x61)),
    "reserved packet type 0": bytes((0x00, 0x00)),
    "second CONNECT": connect_packet("again"),
    "topic not UTF-8": bytes((0x30, 0x04, 0x00, 0x02, 0xFF, 0xFE)),
    "publish to a wildcard topic": publish_packet("a/#", b"x"),
    "subscribe requesting QoS 3": packet(0x82, struct.pack("!H", 1) + b"\x00\x01a\x03"),
    "remaining length of 5 bytes": bytes((0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01)),
}


@pytest.mark.parametrize("bad", MALFORMED.values(), ids=MALFORMED.keys())
async def test_a_malformed_packet_closes_that_connection_only(target, bad):
    bystander = await target.client("svc", client_id="bystander")
    culprit = await target.client("svc", client_id="culprit")
    culprit.send(bad)
    await culprit.wait_closed()
    await bystander.ping()
    await bystander.disconnect()


async def test_a_publish_over_the_payload_cap_closes_the_connection(target):
    r = target.root
    watcher = await target.client("svc", client_id="watcher")
    await watcher.subscribe((f"{r}/big/+", 0))
    sender = await target.client("svc", client_id="sender")
    await sender.publish(f"{r}/big/ok", b"x" * CAP)
    msg = await watcher.next_message()
    assert (msg.topic, len(msg.payload)) == (f"{r}/big/ok", CAP)
    sender.send(publish_packet(f"{r}/big/too", b"x" * (CAP + 300)))
    await sender.wait_closed()
    other = await target.client("svc", client_id="other")
    await other.publish(f"{r}/big/sentinel", b"")
    assert await watcher.messages_until(f"{r}/big/sentinel") == []


async def test_sixteen_megabytes_are_refused_before_they_are_read(start_embedded):
    async with start_embedded() as (b, pw):
        c = await RawClient.open(b.port)
        await c.connect("svc", "svc", pw["svc"])
        c.send(bytes((0x30, 0x80, 0x80, 0x80, 0x08)) + b"\x00\x01a")  # announces 16 MiB, sends 3 bytes
        await c.wait_closed()


async def test_hash_subscribers_never_get_sys_topics(target):
    r = target.root
    sys_watcher = await target.client("svc", client_id="sys-watcher")
    assert await sys_watcher.subscribe(("$SYS/#", 0)) == [0]
    assert (await sys_watcher.next_message()).topic.startswith("$SYS/")  # $SYS traffic exists on this broker
    everything = await target.client("svc", client_id="everything")
    assert await everything.subscribe(("#", 0)) == [0]
    churn = await target.client("integ")  # a connect changes the $SYS client count
    await churn.disconnect()
    hub = await target.client("svc", client_id="hub")
    await hub.publish(f"{r}/sentinel", b"", qos=1)
    seen = await everything.messages_until(f"{r}/sentinel")
    assert [m.topic for m in seen if m.topic.startswith("$")] == []


@pytest.mark.parametrize(("pub_qos", "sub_qos", "expected"), [(0, 1, 0), (1, 0, 0), (1, 2, 1), (2, 1, 1), (2, 2, 2)])
async def test_delivery_uses_the_lower_of_publish_and_subscription_qos(target, pub_qos, sub_qos, expected):
    r = target.root
    sub = await target.client("svc", client_id="sub")
    assert await sub.subscribe((f"{r}/q", sub_qos)) == [sub_qos]
    pub = await target.client("svc", client_id="pub")
    await pub.publish(f"{r}/q", b"m", qos=pub_qos)
    assert (await sub.next_message()).qos == expected


async def test_overlapping_subscriptions_deliver_one_copy_at_the_highest_qos(target):
    r = target.root
    sub = await target.client("svc", client_id="sub")
    assert await sub.subscribe((f"{r}/games/+/state", 0), (f"{r}/games/g1/state", 1), (f"{r}/games/#", 0)) \
        == [0, 1, 0]
    pub = await target.client("svc", client_id="pub")
    await pub.publish(f"{r}/games/g1/state", b"s", qos=1)
    await pub.publish(f"{r}/games/g1/sentinel", b"", qos=1)
    seen = await sub.messages_until(f"{r}/games/g1/sentinel")
    assert [(m.topic, m.qos) for m in seen] == [(f"{r}/games/g1/state", 1)]


async def test_a_resent_qos2_publish_is_routed_once(target):
    r = target.root
    sub = await target.client("svc", client_id="sub")
    await sub.subscribe((f"{r}/events", 2))
    pub = await target.client("svc", client_id="pub")
    pub.send(publish_packet(f"{r}/events", b"once", qos=2, pid=7))
    pub.send(publish_packet(f"{r}/events", b"once", qos=2, pid=7, dup=True))  # PUBREC lost, client resends
    pub.send(packet(0x62, struct.pack("!H", 7)))  # PUBREL
    await pub.publish(f"{r}/sentinel", b"", qos=1)
    await sub.subscribe((f"{r}/sentinel", 1))
    await pub.publish(f"{r}/sentinel", b"", qos=1)
    seen = await sub.messages_until(f"{r}/sentinel")
    assert [m.payload for m in seen] == [b"once"]


async def test_unsubscribe_stops_delivery(target):
    r = target.root
    sub = await target.client("svc", client_id="sub")
    await sub.subscribe((f"{r}/a", 1), (f"{r}/b", 1))
    sub.send(packet(0xA2, struct.pack("!H", 99) + struct.pack("!H", len(f"{r}/a")) + f"{r}/a".encode()))
    pub = await target.client("svc", client_id="pub")
    await pub.ping()
    ptype, _, body = await sub.read_packet()
    assert (ptype, body) == (11, struct.pack("!H", 99))  # UNSUBACK
    await pub.publish(f"{r}/a", b"gone", qos=1)
    await pub.publish(f"{r}/b", b"sentinel", qos=1)
    assert await sub.messages_until(f"{r}/b") == []


async def test_accepted_sockets_have_nagle_off(start_embedded):
    import socket  # noqa: PLC0415

    async with start_embedded() as (b, pw):
        c = await RawClient.open(b.port)
        await c.connect("svc", "svc", pw["svc"])
        (conn,) = b.broker._connections
        sock = conn._transport.get_extra_info("socket")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


async def test_a_denied_publish_is_logged_with_who_and_where(start_embedded, topic_root, caplog):
    async with start_embedded() as (b, pw):
        dev = await RawClient.open(b.port)
        await dev.connect("dev1", "dev1", pw["dev1"])
        await dev.publish(f"{topic_root}/devices/dev2/buzz", b"x", qos=1)
    (record,) = [r for r in caplog.records if r.getMessage() == "publish denied"]
    assert (record.client_id, record.role, record.topic) == ("dev1", "device", f"{topic_root}/devices/dev2/buzz")
