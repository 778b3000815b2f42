"""Game leases (hub/lease.py) against the real Redis, and what the hub does when its lease is gone.

The pure ``Lease`` gets its time passed in; the keepers talk to this machine's Redis under a key prefix of their own.
A keeper's own idea of "still mine" runs on an injected clock, so a stalled owner is simulated by moving that clock,
not by waiting.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import TYPE_CHECKING

import pytest
import redis.asyncio as aioredis

from hub.core.game import Rejected, ShowQuestion
from hub.db import Repository, create_engine, migrate
from hub.db.errors import FencedOutError
from hub.db.events import NewEvent
from hub.lease import MIN_LEASE_MS, Lease, LeaseError, LeaseKeeper, RedisLeaseStore
from hub.quizfile import demo_quiz
from hub.quizstore import import_quiz
from hub.service import HubService
from tests.services import REDIS_URL

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

pytestmark = pytest.mark.redis


class Clock:
    def __init__(self) -> None:
        self.ms = 1_000_000

    def __call__(self) -> int:
        return self.ms


class Recorder:
    def __init__(self) -> None:
        self.sent: list[str] = []

    async def publish(self, topic: str, payload: bytes, *, qos: int = 0, retain: bool = False) -> None:
        del payload, qos, retain
        self.sent.append(topic)


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    name = f"quizhub-test-{uuid.uuid4().hex[:8]}"
    yield name
    redis = aioredis.Redis.from_url(REDIS_URL)
    keys = [k async for k in redis.scan_iter(f"{name}:*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


@pytest.fixture
async def repo(tmp_path: Path) -> AsyncIterator[Repository]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}")
    await migrate(engine)
    yield Repository.from_engine(engine)
    await engine.dispose()


def keeper(prefix: str, holder: str, ttl_ms: int = MIN_LEASE_MS, clock: Clock | None = None) -> LeaseKeeper:
    store = RedisLeaseStore(REDIS_URL, prefix=prefix)
    return LeaseKeeper(store, holder=holder, ttl_ms=ttl_ms, **({"now_ms": clock} if clock else {}))


def test_a_lease_ends_before_redis_lets_go_and_is_renewed_at_a_third() -> None:
    lease = Lease("g1", 7, "hub-a", 3000, since_ms=10_000)
    assert lease.value == "7:hub-a"
    assert lease.valid(10_000)
    assert lease.valid(12_699)
    assert not lease.valid(12_700)  # 10 % early: Redis and this process have different clocks
    assert not lease.renew_due(10_999)
    assert lease.renew_due(11_000)
    assert lease.renewed(11_000).expires_at_ms() == 13_700
    assert lease.renewed(9_000) == lease  # a late reply to an old request never shortens the lease


def test_bad_settings_say_what_to_use() -> None:
    with pytest.raises(LeaseError, match="redis://"):
        RedisLeaseStore("http://127.0.0.1:6379")
    with pytest.raises(LeaseError, match=f"at least {MIN_LEASE_MS} ms"):
        LeaseKeeper(RedisLeaseStore(REDIS_URL), holder="a", ttl_ms=50)


async def test_one_holder_at_a_time_and_every_grant_has_a_larger_token(prefix: str) -> None:
    clock = Clock()
    a, b = keeper(prefix, "a", clock=clock), keeper(prefix, "b")
    try:
        first = await a.acquire("g1")
        assert first.token is not None
        assert (await a.acquire("g1")).token == first.token  # asking again while holding: the same lease
        refused = await b.acquire("g1")
        assert refused.token is None
        assert 0 < refused.retry_in_ms <= MIN_LEASE_MS  # when to look again: the key's remaining time
        clock.ms += MIN_LEASE_MS // 3
        assert await a.renew_due() == []
        assert a.holds("g1")

        # a stalls: it stops renewing. Redis lets the key go and b gets it with a larger token.
        async with asyncio.timeout(10):
            while (second := await b.acquire("g1")).token is None:
                await asyncio.sleep(second.retry_in_ms / 1000)
        assert second.token is not None
        assert second.token > first.token
        # a wakes up: its own clock says the lease is over, and Redis says it is b's.
        assert a.holds("g1")  # by a's clock, nothing has happened yet
        clock.ms += MIN_LEASE_MS
        assert not a.holds("g1")
        assert await a.renew_due() == ["g1"]
    finally:
        await a.close()
        await b.close()


async def test_a_hub_whose_lease_ran_out_publishes_nothing_more_and_its_writes_are_fenced(
    prefix: str, repo: Repository
) -> None:
    quiz_id = await import_quiz(repo, demo_quiz()[1])
    game = await repo.create_game(quiz_id)
    clock = Clock()
    a, b = keeper(prefix, "a", clock=clock), keeper(prefix, "b")
    sent = Recorder()
    service = HubService(repo, sent, ownership=a)
    try:
        grant = await a.acquire(game.id)
        assert grant.token is not None
        rt = await service.take_over(game.id, grant.token)
        assert rt.fence == grant.token
        assert not isinstance(await service.command(game.id, ShowQuestion()), Rejected)
        assert sent.sent, "the owner publishes"

        sent.sent.clear()
        clock.ms += MIN_LEASE_MS  # a stalled past its lease
        result = await service.command(game.id, ShowQuestion())
        assert isinstance(result, Rejected)
        assert result.code == "moved"
        assert sent.sent == []
        assert game.id not in service.games

        # b takes over once Redis lets the key go; from its claim on, a's token is refused by the log.
        async with asyncio.timeout(10):
            while (taken := await b.acquire(game.id)).token is None:
                await asyncio.sleep(taken.retry_in_ms / 1000)
        assert taken.token is not None
        await repo.claim_game(game.id, taken.token)
        with pytest.raises(FencedOutError):
            await repo.append_events(game.id, [NewEvent("game.paused", {})], expected_next_seq=rt.next_seq,
                                     fence=grant.token)
    finally:
        await a.close()
        await b.close()


async def test_a_redis_that_lost_its_counters_is_caught_up_to_the_database(prefix: str) -> None:
    a = keeper(prefix, "a")
    try:
        first = await a.acquire("g1")
        assert first.token == 1  # a fresh counter, as after Redis lost its data
        # The database says the game was claimed with token 41 (claim_game raised FencedOutError(…, 41)).
        await a.fenced("g1", 41)
        assert not a.holds("g1")
        again = await a.acquire("g1")  # released, so no waiting for the expiry
        assert again.token == 42
    finally:
        await a.close()
