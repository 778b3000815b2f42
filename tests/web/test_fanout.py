"""One test suite for every fan-out backend (memory:// and a real redis://), per the Broadcast protocol."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import pytest

from web.fanout import (
    Broadcast,
    BroadcastNotConnectedError,
    FanoutUnavailableError,
    MemoryBroadcast,
    RedisBroadcast,
    SubscriberDroppedError,
    UnsupportedFanoutURLError,
    create_broadcast,
)

pytestmark = pytest.mark.timeout(20)


async def _take(sub: object, n: int) -> list[bytes]:
    got: list[bytes] = []
    async with asyncio.timeout(5):
        async for message in sub:  # type: ignore[attr-defined]
            got.append(message)
            if len(got) == n:
                break
    return got


def test_backend_by_url() -> None:
    assert isinstance(create_broadcast("memory://"), MemoryBroadcast)
    assert isinstance(create_broadcast("redis://127.0.0.1:6379/0"), RedisBroadcast)
    assert isinstance(create_broadcast("memory://"), Broadcast)
    with pytest.raises(UnsupportedFanoutURLError, match="use memory:// or redis://"):
        create_broadcast("kafka://x")


async def test_publish_reaches_every_subscriber_in_order(fanout_url: str, channel: str) -> None:
    async with create_broadcast(fanout_url) as bus, bus.subscribe(channel) as one, bus.subscribe(channel) as two:
        messages = [f"m{i}".encode() for i in range(200)]
        for message in messages:
            await bus.publish(channel, message)
        assert await _take(one, 200) == messages
        assert await _take(two, 200) == messages


async def test_channels_are_separate(fanout_url: str, channel: str) -> None:
    async with create_broadcast(fanout_url) as bus, bus.subscribe(channel + ":a") as a, \
            bus.subscribe(channel + ":b") as b:
        await bus.publish(channel + ":a", b"for a")
        await bus.publish(channel + ":b", b"for b")
        assert await _take(a, 1) == [b"for a"]
        assert await _take(b, 1) == [b"for b"]


async def test_nothing_from_before_subscribing(fanout_url: str, channel: str) -> None:
    async with create_broadcast(fanout_url) as bus:
        await bus.publish(channel, b"too early")
        async with bus.subscribe(channel) as sub:
            await bus.publish(channel, b"on time")
            assert await _take(sub, 1) == [b"on time"]


async def test_resubscribe_after_last_subscriber_left(fanout_url: str, channel: str) -> None:
    async with create_broadcast(fanout_url) as bus:
        for round_ in range(3):
            async with bus.subscribe(channel) as sub:
                await bus.publish(channel, f"round {round_}".encode())
                assert await _take(sub, 1) == [f"round {round_}".encode()]


async def test_slow_subscriber_is_dropped_and_others_keep_going(fanout_url: str, channel: str) -> None:
    async with create_broadcast(fanout_url, queue_size=4) as bus, bus.subscribe(channel) as slow, \
            bus.subscribe(channel) as fast:
        received: list[bytes] = []
        for i in range(10):
            message = f"m{i}".encode()
            await bus.publish(channel, message)
            # The fast reader keeps up after every publish; the slow one never reads.
            received += await _take(fast, 1)
        assert received == [f"m{i}".encode() for i in range(10)]
        with pytest.raises(SubscriberDroppedError, match="fell behind: 4 messages") as caught:
            await _take(slow, 10)
        assert slow.drop_reason is not None
        assert caught.value.channel == channel
        # Once dropped, it stays dropped.
        with pytest.raises(SubscriberDroppedError):
            await _take(slow, 1)


async def test_iteration_ends_on_disconnect(fanout_url: str, channel: str) -> None:
    bus = create_broadcast(fanout_url)
    await bus.connect()
    async with bus.subscribe(channel) as sub:
        await bus.publish(channel, b"one")
        assert await _take(sub, 1) == [b"one"]
        reader = asyncio.create_task(_take(sub, 5))
        await bus.disconnect()
        assert await reader == []


async def test_use_before_connect_is_a_sentence(fanout_url: str, channel: str) -> None:
    bus = create_broadcast(fanout_url)
    with pytest.raises(BroadcastNotConnectedError, match="call connect"):
        await bus.publish(channel, b"x")
    with pytest.raises(BroadcastNotConnectedError, match="call connect"):
        async with bus.subscribe(channel):
            pass


async def test_many_concurrent_subscribers(fanout_url: str, channel: str) -> None:
    async with create_broadcast(fanout_url) as bus, AsyncExitStack() as stack:
        subs = [await stack.enter_async_context(bus.subscribe(channel)) for _ in range(50)]
        await bus.publish(channel, b"all")
        results = await asyncio.gather(*(_take(s, 1) for s in subs))
        assert results == [[b"all"]] * 50


@pytest.mark.redis
async def test_two_processes_on_one_redis_see_each_other(redis_url: str, channel: str) -> None:
    """Two Broadcast instances on one URL stand for two web processes: each sees what the other publishes."""
    async with create_broadcast(redis_url) as web1, create_broadcast(redis_url) as web2, \
            web1.subscribe(channel) as on1, web2.subscribe(channel) as on2:
        await web1.publish(channel, b"from web1")
        await web2.publish(channel, b"from web2")
        # Per-channel order holds across publishers for each subscriber: both see the same sequence.
        seen1 = await _take(on1, 2)
        seen2 = await _take(on2, 2)
        assert seen1 == seen2 == [b"from web1", b"from web2"]


@pytest.mark.redis
async def test_unreachable_redis_is_a_sentence_without_the_password(unused_tcp_port: int) -> None:
    bus = create_broadcast(f"redis://:hunter2@127.0.0.1:{unused_tcp_port}/0")
    with pytest.raises(FanoutUnavailableError, match="cannot reach Redis") as caught:
        await bus.connect()
    assert "hunter2" not in str(caught.value)
