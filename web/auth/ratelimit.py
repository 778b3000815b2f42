"""Token-bucket rate limits for login and team join, keyed by client address and name.

The backend follows the fan-out URL: ``memory://`` keeps buckets in this process; ``redis://`` keeps them in Redis,
so several web processes share one budget (otherwise N processes would allow N times the rate). A bucket holds
``burst`` tokens and refills at ``per_minute / 60`` tokens a second; each attempt takes one token, and a refused
attempt is told how long until the next token. Time is passed in (``now``), so tests need no sleeping.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final, Protocol
from urllib.parse import urlsplit

import redis.asyncio as aioredis

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Limit", "MemoryRateLimiter", "RateLimiter", "RedisRateLimiter", "bucket_key", "create_rate_limiter"]

MAX_MEMORY_BUCKETS: Final = 50_000
"""Buckets kept in memory; the least recently used go first (a full bucket forgotten is no loss)."""


@dataclass(frozen=True, slots=True)
class Limit:
    """``per_minute`` sustained attempts, up to ``burst`` at once."""

    per_minute: float
    burst: int

    @property
    def per_second(self) -> float:
        return self.per_minute / 60.0


def bucket_key(scope: str, client: str, name: str) -> str:
    """The bucket for ``scope`` (login, join) by this client address and name (case-folded, hashed: any length)."""
    digest = hashlib.sha256(f"{client}\0{name.casefold()}".encode()).hexdigest()[:32]
    return f"quizhub:ratelimit:{scope}:{digest}"


class RateLimiter(Protocol):
    """Take one token from a bucket."""

    async def hit(self, key: str, limit: Limit) -> float:
        """0.0 when the attempt may go ahead, else the seconds until it may be retried."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class MemoryRateLimiter:
    """Buckets in this process (``memory://``)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key → (tokens, at)

    async def hit(self, key: str, limit: Limit) -> float:
        now = self._clock()
        tokens, at = self._buckets.pop(key, (float(limit.burst), now))
        tokens = min(float(limit.burst), tokens + (now - at) * limit.per_second)
        if tokens >= 1.0:
            self._remember(key, (tokens - 1.0, now))
            return 0.0
        self._remember(key, (tokens, now))
        return (1.0 - tokens) / limit.per_second

    def _remember(self, key: str, value: tuple[float, float]) -> None:
        self._buckets[key] = value
        while len(self._buckets) > MAX_MEMORY_BUCKETS:
            self._buckets.popitem(last=False)

    async def aclose(self) -> None:
        self._buckets.clear()


# KEYS[1] bucket; ARGV: burst, refill per second, now (s), ttl (ms). One atomic step, so concurrent web processes
# cannot both take the last token.
_HIT_SCRIPT: Final = """
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or burst
local at = tonumber(state[2]) or now
if now > at then tokens = math.min(burst, tokens + (now - at) * rate) end
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(math.max(now, at)))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return tostring(wait)
"""


class RedisRateLimiter:
    """Buckets in Redis (``redis://``), shared by every web process on that server."""

    def __init__(self, url: str, clock: Callable[[], float] = time.time) -> None:
        # Wall-clock time, not monotonic: the processes sharing a bucket need one time base.
        self._redis = aioredis.from_url(url)
        self._clock = clock
        self._script = self._redis.register_script(_HIT_SCRIPT)

    async def hit(self, key: str, limit: Limit) -> float:
        ttl_ms = math.ceil(limit.burst / limit.per_second * 1000) + 1000  # a full refill, then forget
        raw = await self._script(keys=[key], args=[limit.burst, limit.per_second, self._clock(), ttl_ms])
        return float(raw)

    async def aclose(self) -> None:
        await self._redis.aclose()


def create_rate_limiter(url: str) -> MemoryRateLimiter | RedisRateLimiter:
    """The limiter matching the fan-out URL: Redis buckets for ``redis://``, in-process ones otherwise."""
    if urlsplit(url).scheme in {"redis", "rediss"}:
        return RedisRateLimiter(url)
    return MemoryRateLimiter()
