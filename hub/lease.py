"""Which hub owns which game: a lease per game in Redis, and a fencing token the event log checks on every append.

Theory of operation (docs/failover.md):

- A lease is one Redis key per game, ``SET … PX ttl`` only if absent, holding ``"<token>:<holder>"``. The token
  comes from an ``INCR`` counter per game in the same Lua script, so every grant has a larger token than the last.
- The owner claims the game in the database with that token (``Repository.claim_game``) and passes it on every
  ``append_events``. The database refuses a smaller token, so a hub that was paused past its lease and wakes up
  cannot write over its successor: the fence, not the lease, is what makes this safe.
- The owner renews every ttl/3. It counts its lease from the moment it *sent* the request that granted or renewed
  it, so its own idea of "still mine" always ends before Redis lets the key go. Once that moment passes without a
  renewal (Redis away, the process stalled), the hub gives the game up without asking anyone.
- A standby tries to acquire every running game it does not own, and when a key is held it retries when the key's
  remaining time runs out (at most ttl/3 later).
- The lease the operator sets (``--lease-ms``) is the takeover budget: the Redis key lives 85 % of it, and the rest is
  left for the standby's replay. So a dead owner's games move within one lease time.

``Lease`` is the pure state (time passed in, no I/O); ``RedisLeaseStore`` is the thin adapter; ``LeaseKeeper`` holds
this hub's leases and is what the service asks "do I still own this game?".
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "DEFAULT_LEASE_MS",
    "Grant",
    "Lease",
    "LeaseError",
    "LeaseKeeper",
    "LeaseStore",
    "RedisLeaseStore",
    "monotonic_ms",
]

log = logging.getLogger("quizhub.lease")

DEFAULT_LEASE_MS = 3000
MIN_LEASE_MS = 300  # below this, one slow Redis round trip or GC pause costs the game its owner
# The owner's own view of its lease ends this share of the ttl early: Redis and this process measure time with
# different clocks, and the renewal reply is not instant.
SAFETY_SHARE = 0.1
# The Redis key's share of the operator's lease; the rest is the standby's time to claim, replay and catch up
# (measured: about 0.1 s for a question's worth of log on a loaded 2-core box).
KEY_SHARE = 0.85

_ACQUIRE = """
local ttl = redis.call('PTTL', KEYS[1])
if ttl ~= -2 then return {0, ttl} end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], token .. ':' .. ARGV[1], 'PX', ARGV[2])
return {token, 0}
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_RAISE_FENCE = """
local now = tonumber(redis.call('GET', KEYS[1]) or '0')
if now < tonumber(ARGV[1]) then redis.call('SET', KEYS[1], ARGV[1]) end
return 1
"""


class LeaseError(ValueError):
    """The lease settings cannot work; the message says what to set instead."""


def monotonic_ms() -> int:
    return time.monotonic_ns() // 1_000_000


@dataclass(frozen=True)
class Lease:
    """One game's lease as its holder sees it. ``since_ms``: local time the granting or last renewing request left."""

    game_id: str
    token: int
    holder: str
    ttl_ms: int
    since_ms: int

    @property
    def value(self) -> str:
        return f"{self.token}:{self.holder}"

    def expires_at_ms(self) -> int:
        return self.since_ms + int(self.ttl_ms * (1 - SAFETY_SHARE))

    def valid(self, now_ms: int) -> bool:
        return now_ms < self.expires_at_ms()

    def renew_due(self, now_ms: int) -> bool:
        return now_ms >= self.since_ms + self.ttl_ms // 3

    def renewed(self, sent_at_ms: int) -> Lease:
        return replace(self, since_ms=max(self.since_ms, sent_at_ms))


@dataclass(frozen=True)
class Grant:
    """What an acquire attempt got: a token, or how long the current holder's key has left (ms)."""

    token: int | None
    retry_in_ms: int = 0


class LeaseStore(Protocol):
    """Where leases live. Redis is the one implementation; the protocol keeps the keeper free of it."""

    async def acquire(self, game_id: str, holder: str, ttl_ms: int) -> Grant: ...
    async def renew(self, lease: Lease) -> bool: ...
    async def release(self, lease: Lease) -> None: ...
    async def raise_fence(self, game_id: str, at_least: int) -> None: ...
    async def close(self) -> None: ...


class RedisLeaseStore:
    """Leases as Redis keys ``{prefix}:lease:{game}`` with fencing counters ``{prefix}:fence:{game}``."""

    def __init__(self, url: str, *, prefix: str = "quizhub") -> None:
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise LeaseError("the lease URL must start with redis:// (or rediss://); e.g. redis://127.0.0.1:6379/0")
        self._redis = aioredis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self.prefix = prefix
        self._acquire = self._redis.register_script(_ACQUIRE)
        self._renew = self._redis.register_script(_RENEW)
        self._release = self._redis.register_script(_RELEASE)
        self._raise = self._redis.register_script(_RAISE_FENCE)

    def _keys(self, game_id: str) -> list[str]:
        return [f"{self.prefix}:lease:{game_id}", f"{self.prefix}:fence:{game_id}"]

    async def acquire(self, game_id: str, holder: str, ttl_ms: int) -> Grant:
        token, left = await self._acquire(keys=self._keys(game_id), args=[holder, ttl_ms])
        # A key with no expiry (PTTL -1) was set by hand: retry at the normal pace rather than never.
        return Grant(int(token)) if int(token) > 0 else Grant(None, int(left) if int(left) >= 0 else ttl_ms)

    async def renew(self, lease: Lease) -> bool:
        return bool(await self._renew(keys=self._keys(lease.game_id)[:1], args=[lease.value, lease.ttl_ms]))

    async def release(self, lease: Lease) -> None:
        await self._release(keys=self._keys(lease.game_id)[:1], args=[lease.value])

    async def raise_fence(self, game_id: str, at_least: int) -> None:
        await self._raise(keys=self._keys(game_id)[1:], args=[at_least])

    async def close(self) -> None:
        await self._redis.aclose()


class LeaseKeeper:
    """This hub's leases: acquire, renew, give up. Every Redis failure reads as "not granted" or "lost"."""

    def __init__(
        self, store: LeaseStore, *, holder: str, ttl_ms: int = DEFAULT_LEASE_MS,
        now_ms: Callable[[], int] = monotonic_ms,
    ) -> None:
        if ttl_ms < MIN_LEASE_MS:
            raise LeaseError(f"a lease of {ttl_ms} ms is too short to renew reliably; use at least {MIN_LEASE_MS} ms")
        self.store, self.holder, self.now_ms = store, holder, now_ms
        self.ttl_ms = int(ttl_ms * KEY_SHARE)  # the key's time to live; see KEY_SHARE
        self.leases: dict[str, Lease] = {}

    @property
    def period_s(self) -> float:
        """How often to renew, and at most how long a standby waits between attempts."""
        return self.ttl_ms / 3 / 1000

    def holds(self, game_id: str) -> bool:
        """Whether this hub may still act for the game, by its own clock (no Redis round trip)."""
        lease = self.leases.get(game_id)
        return lease is not None and lease.valid(self.now_ms())

    async def acquire(self, game_id: str) -> Grant:
        """Try to become the game's owner; the returned token goes to claim_game and every append."""
        held = self.leases.get(game_id)
        if held is not None and held.valid(self.now_ms()):
            return Grant(held.token)
        sent = self.now_ms()
        try:
            async with asyncio.timeout(self.period_s):
                grant = await self.store.acquire(game_id, self.holder, self.ttl_ms)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("lease store unreachable; not acquiring", extra={"game": game_id, "error": str(exc)})
            return Grant(None, int(self.period_s * 1000))
        if grant.token is not None:
            self.leases[game_id] = Lease(game_id, grant.token, self.holder, self.ttl_ms, sent)
        return grant

    async def renew_due(self) -> list[str]:
        """Renew every lease that is due; return the games whose lease is lost (expired or taken)."""
        lost: list[str] = []
        for game_id, lease in list(self.leases.items()):
            if not lease.renew_due(self.now_ms()):
                continue
            sent = self.now_ms()
            try:
                async with asyncio.timeout(self.period_s):
                    ok = await self.store.renew(lease)
            except (RedisError, OSError, TimeoutError) as exc:
                log.warning("lease renewal failed", extra={"game": game_id, "error": str(exc)})
                ok = None  # unknown: keep the lease until our own clock says it is over
            if ok:
                self.leases[game_id] = lease.renewed(sent)
            elif ok is False or not lease.valid(self.now_ms()):
                self.leases.pop(game_id, None)
                lost.append(game_id)
        return lost

    def drop(self, game_id: str) -> Lease | None:
        return self.leases.pop(game_id, None)

    async def release(self, game_id: str) -> None:
        """Give a game up on purpose (shutdown, a refused claim), so a standby need not wait for expiry."""
        lease = self.leases.pop(game_id, None)
        if lease is None:
            return
        try:
            await self.store.release(lease)
        except (RedisError, OSError) as exc:
            log.warning("lease release failed; it will expire", extra={"game": game_id, "error": str(exc)})

    async def fenced(self, game_id: str, owner_fence: int) -> None:
        """The database knows a newer token than Redis gave us (Redis lost its data): catch the counter up."""
        await self.release(game_id)
        try:
            await self.store.raise_fence(game_id, owner_fence)
        except (RedisError, OSError) as exc:
            log.warning("could not raise the fencing counter", extra={"game": game_id, "error": str(exc)})

    async def close(self) -> None:
        for game_id in list(self.leases):
            await self.release(game_id)
        await self.store.close()
