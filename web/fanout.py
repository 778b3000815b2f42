"""Fan-out of messages to every web process: a backend chosen by URL behind one small protocol.

``memory://`` keeps everything in this process (the one-box default). ``redis://host:port/db`` uses Redis pub/sub,
so several web processes behind a proxy each see every message, whichever of them (or the hub relay) published it.

Theory of operation
-------------------
Each :class:`Broadcast` keeps, per channel, the set of local subscribers, each with its own bounded queue. One
dispatcher hands every message to each subscriber's queue without waiting (``put_nowait``): for ``memory://`` the
dispatcher is ``publish`` itself, for ``redis://`` it is one reader task per Broadcast reading the single pub/sub
connection. A subscriber that stops reading fills its own queue; at the next message it is dropped (removed from
the channel, its iterator raises :class:`SubscriberDroppedError` carrying the reason) and nobody else waits for it.
Messages on one channel reach every subscriber in publish order: one dispatcher, FIFO queues, and Redis delivers a
connection's messages in order.

Delivery is at most once. A process that was disconnected from Redis misses what was published meanwhile; callers
that need every event (the WebSocket bridge) resume from the event log by sequence number, never from fan-out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Final, Protocol, Self, runtime_checkable
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from contextlib import AbstractAsyncContextManager
    from types import TracebackType

    from redis.asyncio.client import PubSub

__all__ = [
    "DEFAULT_QUEUE_SIZE",
    "SUBSCRIBE_TIMEOUT_S",
    "Broadcast",
    "BroadcastNotConnectedError",
    "FanoutUnavailableError",
    "MemoryBroadcast",
    "RedisBroadcast",
    "SubscriberDroppedError",
    "Subscription",
    "UnsupportedFanoutURLError",
    "create_broadcast",
]

log = logging.getLogger("quizhub.fanout")

DEFAULT_QUEUE_SIZE: Final = 1024
"""Messages a subscriber may leave unread before it is dropped."""

SUBSCRIBE_TIMEOUT_S: Final = 10.0
"""How long ``subscribe`` waits for Redis to confirm before giving up with :class:`FanoutUnavailableError`."""

_RECONNECT_MIN_S = 0.1
_RECONNECT_MAX_S = 5.0


class UnsupportedFanoutURLError(ValueError):
    """The configured fan-out URL names a backend Quizhub does not have (a configuration error)."""


class BroadcastNotConnectedError(RuntimeError):
    """A caller used a Broadcast before ``connect()`` or after ``disconnect()`` (a bug in the caller)."""


class FanoutUnavailableError(ConnectionError):
    """Redis did not confirm a subscription in time (an operations problem: is Redis up and reachable?)."""


class SubscriberDroppedError(Exception):
    """This subscription was ended by the fan-out, not by its owner; ``reason`` says why (e.g. it fell behind)."""

    def __init__(self, channel: str, reason: str) -> None:
        self.channel = channel
        self.reason = reason
        super().__init__(f"subscription to {channel!r} was dropped: {reason}")


class Subscription:
    """One subscriber's view of a channel: an async iterator of message bytes, in publish order.

    Iteration ends when the subscription's context exits or the Broadcast disconnects, and raises
    :class:`SubscriberDroppedError` when the fan-out dropped this subscriber (see ``drop_reason``).
    """

    _END: Final = object()

    def __init__(self, channel: str, queue_size: int) -> None:
        self.channel = channel
        self.drop_reason: str | None = None
        self._queue: asyncio.Queue[bytes | object] = asyncio.Queue(maxsize=queue_size)
        self._closed = False

    def _offer(self, message: bytes) -> bool:
        """Queue ``message`` without waiting; False (and the subscriber is dropped) when the queue is full."""
        if self._closed:
            return True
        try:
            self._queue.put_nowait(message)
        except asyncio.QueueFull:
            self._drop(f"it fell behind: {self._queue.maxsize} messages were waiting unread")
            return False
        return True

    def _drop(self, reason: str) -> None:
        self.drop_reason = reason
        self._close()

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # The unread backlog is useless to a dropped subscriber (it resumes from the event log); clearing it makes
        # room for the end marker and frees the memory now rather than when the owner notices.
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(self._END)

    def drain(self) -> list[bytes]:
        """The messages already waiting, without waiting for more (the end of the subscription stays queued)."""
        out: list[bytes] = []
        queue = self._queue
        while not queue.empty():
            item = queue.get_nowait()
            if item is self._END:
                queue.put_nowait(item)  # the next __anext__ ends the iteration as usual
                break
            assert isinstance(item, bytes)
            out.append(item)
        return out

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> bytes:
        item = await self._queue.get()
        if item is self._END:
            self._queue.put_nowait(self._END)  # every later __anext__ ends the same way
            if self.drop_reason is not None:
                raise SubscriberDroppedError(self.channel, self.drop_reason)
            raise StopAsyncIteration
        assert isinstance(item, bytes)
        return item


@runtime_checkable
class Broadcast(Protocol):
    """Publish bytes to named channels and subscribe to them; see the module docstring for the guarantees."""

    async def connect(self) -> None:
        """Open the backend's connections; call once before publishing or subscribing."""
        ...

    async def disconnect(self) -> None:
        """Close connections and end every open subscription's iteration."""
        ...

    async def publish(self, channel: str, message: bytes) -> None:
        """Send ``message`` to every current subscriber of ``channel`` in every process sharing the backend."""
        ...

    def subscribe(self, channel: str) -> AbstractAsyncContextManager[Subscription]:
        """Receive what is published to ``channel`` from the moment the context is entered until it exits."""
        ...


class _LocalHub:
    """The per-process part every backend shares: channel → subscribers, and the non-blocking dispatch."""

    def __init__(self, queue_size: int) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be at least 1, not {queue_size}")
        self.queue_size = queue_size
        self.channels: dict[str, set[Subscription]] = {}

    def add(self, channel: str) -> tuple[Subscription, bool]:
        """A new subscription, and whether it is the first one on ``channel`` in this process."""
        sub = Subscription(channel, self.queue_size)
        subs = self.channels.setdefault(channel, set())
        subs.add(sub)
        return sub, len(subs) == 1

    def remove(self, sub: Subscription) -> bool:
        """Forget ``sub``; True when it was the last subscriber of its channel here."""
        subs = self.channels.get(sub.channel)
        if subs is None or sub not in subs:
            return False
        subs.discard(sub)
        if subs:
            return False
        del self.channels[sub.channel]
        return True

    def dispatch(self, channel: str, message: bytes) -> list[Subscription]:
        """Offer ``message`` to each subscriber of ``channel``; returns the ones dropped for falling behind."""
        dropped = [sub for sub in tuple(self.channels.get(channel, ())) if not sub._offer(message)]  # noqa: SLF001
        for sub in dropped:
            log.warning("fan-out dropped a subscriber of %r: %s", channel, sub.drop_reason)
        return dropped

    def close_all(self) -> None:
        for subs in self.channels.values():
            for sub in subs:
                sub._close()  # noqa: SLF001
        self.channels.clear()


class MemoryBroadcast:
    """``memory://``: fan-out inside this process only (one web process, the embedded default)."""

    def __init__(self, *, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        self._hub = _LocalHub(queue_size)
        self._connected = False

    async def connect(self) -> None:
        self._connected = True

    async def disconnect(self) -> None:
        self._connected = False
        self._hub.close_all()

    async def publish(self, channel: str, message: bytes) -> None:
        self._require_connected()
        self._hub.dispatch(channel, message)

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscription]:
        self._require_connected()
        sub, _first = self._hub.add(channel)
        try:
            yield sub
        finally:
            self._hub.remove(sub)
            sub._close()  # noqa: SLF001

    def _require_connected(self) -> None:
        if not self._connected:
            raise BroadcastNotConnectedError("the memory:// fan-out is not connected; call connect() first")

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.disconnect()


class RedisBroadcast:
    """``redis://host:port/db``: fan-out through Redis pub/sub, shared by every process using the same URL.

    One publishing client and one pub/sub connection per instance; channels are subscribed on Redis while at
    least one local subscriber wants them. Redis pub/sub ignores the db number: channels are server-wide, so
    give deployments sharing a Redis server distinct channel prefixes.
    """

    def __init__(self, url: str, *, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        self._url = url
        self._hub = _LocalHub(queue_size)
        self._redis: aioredis.Redis | None = None
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        # channel → future resolved when Redis confirms the SUBSCRIBE, so a subscriber is live before it is handed
        # out (a message published right after subscribe() returns must not be missed).
        self._confirm: dict[str, asyncio.Future[None]] = {}
        self._lock = asyncio.Lock()  # serialises SUBSCRIBE/UNSUBSCRIBE bookkeeping per channel
        # A private channel keeps the pub/sub connection subscribed (redis-py reads nothing while subscribed to
        # nothing), so the reader task can run from connect() to disconnect().
        self._keepalive = f"quizhub:fanout:keepalive:{uuid.uuid4().hex}"

    async def connect(self) -> None:
        if self._redis is not None:
            return
        self._redis = aioredis.from_url(self._url)
        self._pubsub = self._redis.pubsub()
        ready = self._expect_confirmation(self._keepalive)
        try:
            await self._pubsub.subscribe(self._keepalive)
        except (RedisConnectionError, OSError) as exc:
            await self.disconnect()
            raise FanoutUnavailableError(f"cannot reach Redis for fan-out at {self._where()}: {exc}") from exc
        self._reader = asyncio.create_task(self._read_loop(), name=f"fanout-reader {self._keepalive}")
        await self._confirmed(ready, self._keepalive)

    async def disconnect(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        if self._pubsub is not None:
            await self._pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]  # redis-py leaves it unannotated
            self._pubsub = None
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None
        for future in self._confirm.values():
            future.cancel()
        self._confirm.clear()
        self._hub.close_all()

    async def publish(self, channel: str, message: bytes) -> None:
        if self._redis is None:
            raise BroadcastNotConnectedError("the redis:// fan-out is not connected; call connect() first")
        await self._redis.publish(channel, message)

    @asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscription]:
        pubsub = self._pubsub
        if pubsub is None:
            raise BroadcastNotConnectedError("the redis:// fan-out is not connected; call connect() first")
        async with self._lock:
            sub, first = self._hub.add(channel)
            if first:
                ready = self._expect_confirmation(channel)
                try:
                    await pubsub.subscribe(channel)
                    await self._confirmed(ready, channel)
                except BaseException:
                    self._hub.remove(sub)
                    raise
        try:
            yield sub
        finally:
            sub._close()  # noqa: SLF001
            async with self._lock:
                if self._hub.remove(sub) and self._pubsub is not None:
                    with contextlib.suppress(RedisConnectionError):
                        await self._pubsub.unsubscribe(channel)

    async def _confirmed(self, ready: asyncio.Future[None], channel: str) -> None:
        try:
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT_S):
                await ready
        except TimeoutError:
            self._confirm.pop(channel, None)
            raise FanoutUnavailableError(
                f"Redis at {self._where()} did not confirm the subscription to {channel!r} within "
                f"{SUBSCRIBE_TIMEOUT_S:.0f} s; check that it is up and reachable"
            ) from None

    def _where(self) -> str:
        # host:port/db only: the URL may carry a password, which must not reach a log line or an error message.
        parts = urlsplit(self._url)
        return f"{parts.hostname}:{parts.port or 6379}{parts.path}"

    def _expect_confirmation(self, channel: str) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._confirm[channel] = future
        return future

    async def _read_loop(self) -> None:
        pubsub = self._pubsub
        assert pubsub is not None
        failures = 0
        while True:
            try:
                message = await pubsub.get_message(timeout=None)
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                # redis-py reconnects (and re-subscribes) on the next read; back off so a Redis outage is not a
                # busy loop. Messages published meanwhile are lost to this process: callers resume from the log.
                failures += 1
                delay = min(_RECONNECT_MAX_S, _RECONNECT_MIN_S * 2**failures) * random.uniform(0.5, 1.0)  # noqa: S311
                log.warning("fan-out lost its Redis connection (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                continue
            failures = 0
            if message is not None:
                self._handle(message)

    def _handle(self, message: dict[str, object]) -> None:
        kind, raw_channel, data = message.get("type"), message.get("channel"), message.get("data")
        if not isinstance(raw_channel, bytes):
            return
        channel = raw_channel.decode()
        if kind == "subscribe":
            future = self._confirm.pop(channel, None)
            if future is not None and not future.done():
                future.set_result(None)
        elif kind == "message" and isinstance(data, bytes):
            self._hub.dispatch(channel, data)

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.disconnect()


def create_broadcast(url: str, *, queue_size: int = DEFAULT_QUEUE_SIZE) -> MemoryBroadcast | RedisBroadcast:
    """The fan-out backend for ``url``: ``memory://`` or ``redis://host:port/db`` (``rediss://`` for TLS)."""
    scheme = urlsplit(url).scheme
    if scheme == "memory":
        return MemoryBroadcast(queue_size=queue_size)
    if scheme in {"redis", "rediss"}:
        return RedisBroadcast(url, queue_size=queue_size)
    raise UnsupportedFanoutURLError(
        f"fan-out URL scheme {scheme or '(none)'!r} is not supported; use memory:// or redis://host:port/db"
    )
