"""Pure parts of the auth layer: role mapping, principals, and the rate limiter on both backends."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pytest

from hub.db.models import UserRole
from hub.settings import Settings
from web.auth.oidc import _safe_next, map_role
from web.auth.principal import AuthMethod, Principal, PrincipalKind, Role
from web.auth.ratelimit import Limit, MemoryRateLimiter, RedisRateLimiter, bucket_key, create_rate_limiter

if TYPE_CHECKING:
    from collections.abc import AsyncIterator


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("groups", "expected"),
    [
        (["quizhub-admins"], UserRole.ADMIN),
        (["quizhub-quizmasters", "quizhub-admins"], UserRole.ADMIN),
        (["/staff/quizhub-quizmasters"], UserRole.QUIZMASTER),  # Keycloak's full group path
        ("quizhub-quizmasters", UserRole.QUIZMASTER),
        (["staff"], None),
        ([], None),
        (None, None),
        ({"quizhub-admins": True}, None),
    ],
)
def test_map_role(groups: object, expected: UserRole | None) -> None:
    assert map_role(groups, Settings()) == expected


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r//evil.example",
        "javascript:alert(1)",
        "devices",
    ],
)
def test_oidc_next_refuses_anything_that_could_leave_the_site(value: str | None) -> None:
    assert _safe_next(value) == "/"


@pytest.mark.parametrize("value", ["/", "/devices?game=3", "/editor#q2", "/play?code=123456"])
def test_oidc_next_keeps_same_site_paths(value: str) -> None:
    assert _safe_next(value) == value


def test_map_role_uses_configured_groups() -> None:
    settings = Settings(oidc_admin_groups=["it"], oidc_quizmaster_groups=["bar-staff"])
    assert map_role(["bar-staff"], settings) == UserRole.QUIZMASTER
    assert map_role(["quizhub-admins"], settings) is None


def test_principal_scoping_and_wording() -> None:
    team = Principal(PrincipalKind.TEAM, "t1", "Owls", Role.TEAM, AuthMethod.BEARER, game_id="g1")
    host = Principal(PrincipalKind.USER, "7", "ann", Role.QUIZMASTER, AuthMethod.SESSION)
    assert team.may_see_game("g1")
    assert not team.may_see_game("g2")
    assert host.may_see_game("g2")
    assert host.user_id == 7
    assert team.user_id is None
    assert host.is_host
    assert not team.is_host
    assert team.describe() == "team 'Owls'"
    assert host.describe() == "quizmaster 'ann'"


def test_limiter_by_url() -> None:
    assert isinstance(create_rate_limiter("memory://"), MemoryRateLimiter)
    assert isinstance(create_rate_limiter("redis://127.0.0.1:6379/0"), RedisRateLimiter)


Limiter = MemoryRateLimiter | RedisRateLimiter


@pytest.fixture
async def limiter(fanout_url: str) -> AsyncIterator[tuple[Limiter, FakeClock]]:
    clock = FakeClock()
    if fanout_url.startswith("redis"):
        made: Limiter = RedisRateLimiter(fanout_url, clock=clock)
    else:
        made = MemoryRateLimiter(clock=clock)
    yield made, clock
    await made.aclose()


async def test_token_bucket(limiter: tuple[Limiter, FakeClock]) -> None:
    bucket, clock = limiter
    key = bucket_key(f"test-{uuid.uuid4().hex}", "127.0.0.1", "Ann")
    limit = Limit(per_minute=6, burst=3)  # one token every 10 s
    assert [await bucket.hit(key, limit) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert await bucket.hit(key, limit) == pytest.approx(10.0)
    clock.now += 4
    assert await bucket.hit(key, limit) == pytest.approx(6.0)  # refused attempts do not cost a token
    clock.now += 6
    assert await bucket.hit(key, limit) == 0.0
    assert await bucket.hit(key, limit) == pytest.approx(10.0)
    clock.now += 3600  # refills up to the burst, not beyond
    assert [await bucket.hit(key, limit) for _ in range(4)][-1] == pytest.approx(10.0)


def test_bucket_keys_fold_case_and_hide_the_name() -> None:
    assert bucket_key("login", "10.0.0.1", "Ann") == bucket_key("login", "10.0.0.1", "aNN")
    assert bucket_key("login", "10.0.0.1", "Ann") != bucket_key("login", "10.0.0.2", "Ann")
    assert "Ann" not in bucket_key("login", "10.0.0.1", "Ann")


@pytest.mark.redis
async def test_redis_buckets_are_shared_by_web_processes(redis_url: str) -> None:
    clock = FakeClock()
    web1, web2 = RedisRateLimiter(redis_url, clock=clock), RedisRateLimiter(redis_url, clock=clock)
    key = bucket_key(f"test-{uuid.uuid4().hex}", "127.0.0.1", "ann")
    limit = Limit(per_minute=60, burst=2)
    try:
        assert await web1.hit(key, limit) == 0.0
        assert await web2.hit(key, limit) == 0.0
        assert await web1.hit(key, limit) > 0
        assert await web2.hit(key, limit) > 0
    finally:
        await web1.aclose()
        await web2.aclose()
