"""Topic ACLs by role (DESIGN section 3): the same checks on the embedded broker and on Mosquitto with an ACL file."""

from __future__ import annotations

from brokertest_raw import RawClient


async def test_a_device_publishes_only_under_its_own_prefix(target):
    r = target.root
    watcher = await target.client("svc")
    assert await watcher.subscribe((f"{r}/devices/+/buzz", 0)) == [0]
    dev1 = await target.client("dev1")
    await dev1.publish(f"{r}/devices/dev2/buzz", b"forged")  # denied: dropped, connection stays
    await dev1.publish(f"{r}/games/g1/commands", b"forged")  # denied
    await dev1.publish(f"{r}/devices/dev1/buzz", b"real")  # allowed, and ordered after the denied ones
    msg = await watcher.next_message()
    assert (msg.topic, msg.payload) == (f"{r}/devices/dev1/buzz", b"real")
    await dev1.ping()


async def test_a_denied_subscribe_gets_0x80_and_nothing_is_delivered(target):
    """Quizhub answers a denied filter with 0x80. Mosquitto 2.0 grants the SUBACK but filters every delivery; on
    both, nothing on a forbidden topic ever arrives."""
    r = target.root
    refused = 0x80 if target.kind == "quizhub" else None
    dev1 = await target.client("dev1")
    codes = await dev1.subscribe(
        (f"{r}/devices/dev1/cmd", 1), (f"{r}/devices/dev2/cmd", 1), (f"{r}/games/+/buzzers", 0),
        (f"{r}/games/g1/commands", 0), (f"{r}/hub/status", 1),
    )
    assert codes == [1, refused or 1, 0, refused or 0, 1]
    hub = await target.client("svc")
    await hub.publish(f"{r}/devices/dev2/cmd", b"for dev2", qos=1)
    await hub.publish(f"{r}/games/g1/commands", b"for the hub", qos=1)
    await hub.publish(f"{r}/devices/dev1/cmd", b"sentinel", qos=1)
    assert await dev1.messages_until(f"{r}/devices/dev1/cmd") == []

    integ = await target.client("integ")
    codes = await integ.subscribe((f"{r}/games/+/state", 1), (f"{r}/games/g1/commands", 0),
                                  (f"{r}/devices/+/status", 0), (f"{r}/devices/dev1/buzz", 0))
    assert codes == [1, refused or 0, 0, refused or 0]
    host = await target.client("host1")
    codes = await host.subscribe((f"{r}/games/g1/replies/host1", 1), (f"{r}/games/g1/replies/web-7", 1))
    assert codes == [1, refused or 1]


async def test_read_only_and_host_publish_rules(target):
    r = target.root
    hub = await target.client("svc")
    assert await hub.subscribe((f"{r}/games/+/commands", 1)) == [1]
    integ = await target.client("integ")
    await integ.publish(f"{r}/games/g1/commands", b'{"cmd":"forged"}', qos=1)  # denied (QoS 1 is still acked)
    host = await target.client("host1")
    await host.publish(f"{r}/games/g1/commands", b'{"cmd":"open"}', qos=1)
    msg = await hub.next_message()
    assert msg.payload == b'{"cmd":"open"}'


async def test_retained_messages_reach_only_subscribers_the_acl_allows(target):
    """amqtt sent every retained message matching *anyone's* subscription to each new connection."""
    r = target.root
    hub = await target.client("svc")
    assert await hub.subscribe((f"{r}/#", 1)) == [1]
    await hub.publish(f"{r}/devices/dev2/cmd", b'{"cmd":"config","secret":"dev2 only"}', qos=1, retain=True)
    await hub.publish(f"{r}/games/g1/commands", b"retained command", qos=1, retain=True)
    dev1 = await target.client("dev1")
    assert await dev1.subscribe((f"{r}/devices/dev1/cmd", 1), (f"{r}/games/+/buzzers", 1)) == [1, 1]
    await hub.publish(f"{r}/devices/dev1/cmd", b"sentinel", qos=1)
    assert await dev1.messages_until(f"{r}/devices/dev1/cmd") == []


async def test_wildcards_are_granted_only_when_every_match_is_readable(start_embedded, topic_root):
    r = topic_root
    async with start_embedded() as (b, pw):
        integ = await RawClient.open(b.port)
        await integ.connect("integ", "integ", pw["integ"])
        assert await integ.subscribe((f"{r}/games/#", 0), (f"{r}/#", 0), ("#", 0), (f"{r}/games/+/+", 0),
                                     (f"{r}/games/g1/scores", 0)) == [0x80, 0x80, 0x80, 0x80, 0]
        dev = await RawClient.open(b.port)
        await dev.connect("dev1", "dev1", pw["dev1"])
        assert await dev.subscribe((f"{r}/devices/dev1/#", 0), (f"{r}/devices/+/cmd", 0)) == [0x80, 0x80]


async def test_a_will_on_a_forbidden_topic_is_refused(start_embedded, topic_root):
    async with start_embedded() as (b, pw):
        c = await RawClient.open(b.port)
        _, code = await c.connect("dev1", "dev1", pw["dev1"],
                                  will=(f"{topic_root}/devices/dev2/status", b"offline", 1, True))
        assert code == 5
        ok = await RawClient.open(b.port)
        _, code = await ok.connect("dev1", "dev1", pw["dev1"],
                                   will=(f"{topic_root}/devices/dev1/status", b"offline", 1, True))
        assert code == 0
