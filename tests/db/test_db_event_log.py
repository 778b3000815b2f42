"""The append-only event log: order, continuity, atomicity, racing writers and fencing, on both backends."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import text
from sqlmodel.ext.asyncio.session import AsyncSession

from hub.db import (
    FencedOutError,
    NewEvent,
    NotFoundError,
    Repository,
    SequenceConflictError,
    create_engine,
)
from hub.db.models import GameEvent, GameStatus
from hub.db.schemas import QuizCreate

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from hub.db.models import Game


async def _game(repo: Repository) -> Game:
    quiz = await repo.create_quiz(QuizCreate(title="Log test"))
    assert quiz.id is not None
    return await repo.create_game(quiz.id)


def _events(*names: str) -> list[NewEvent]:
    return [NewEvent(name, {"n": name}) for name in names]


async def test_append_assigns_continuous_seqs_and_load_keeps_order(repo: Repository) -> None:
    game = await _game(repo)
    assert await repo.last_seq(game.id) == 0

    first = await repo.append_events(game.id, _events("a", "b", "c"), expected_next_seq=1)
    second = await repo.append_events(game.id, _events("d"), expected_next_seq=4)

    assert [e.seq for e in first + second] == [1, 2, 3, 4]
    loaded = await repo.load_events(game.id)
    assert [(e.seq, e.type, e.payload) for e in loaded] == [(i + 1, n, {"n": n}) for i, n in enumerate("abcd")]
    assert loaded == first + second
    assert await repo.last_seq(game.id) == 4
    assert [e.seq for e in await repo.load_events(game.id, after_seq=2)] == [3, 4]
    assert [e.seq for e in await repo.load_events(game.id, after_seq=1, limit=2)] == [2, 3]
    assert await repo.load_events(game.id, after_seq=4) == []


async def test_logs_of_different_games_are_numbered_independently(repo: Repository) -> None:
    one, two = await _game(repo), await _game(repo)
    await repo.append_events(one.id, _events("a", "b"), expected_next_seq=1)
    stored = await repo.append_events(two.id, _events("x"), expected_next_seq=1)
    assert stored[0].seq == 1
    assert [e.type for e in await repo.load_events(one.id)] == ["a", "b"]
    assert [e.type for e in await repo.load_events(two.id)] == ["x"]


async def test_wrong_expected_seq_is_a_conflict_and_writes_nothing(repo: Repository) -> None:
    game = await _game(repo)
    await repo.append_events(game.id, _events("a", "b"), expected_next_seq=1)

    for stale in (1, 2, 4):
        with pytest.raises(SequenceConflictError) as info:
            await repo.append_events(game.id, _events("late"), expected_next_seq=stale)
        assert (info.value.expected_next_seq, info.value.actual_next_seq) == (stale, 3)
        assert "another writer" in str(info.value)

    assert [e.type for e in await repo.load_events(game.id)] == ["a", "b"]
    assert await repo.last_seq(game.id) == 2


async def test_empty_append_checks_without_writing(repo: Repository) -> None:
    game = await _game(repo)
    assert await repo.append_events(game.id, [], expected_next_seq=1) == []
    with pytest.raises(SequenceConflictError):
        await repo.append_events(game.id, [], expected_next_seq=2)
    assert await repo.last_seq(game.id) == 0


async def test_sequence_numbers_start_at_one(repo: Repository) -> None:
    game = await _game(repo)
    with pytest.raises(ValueError, match="start at 1"):
        await repo.append_events(game.id, _events("a"), expected_next_seq=0)


async def test_unknown_game(repo: Repository) -> None:
    with pytest.raises(NotFoundError):
        await repo.append_events("nosuchgame", _events("a"), expected_next_seq=1)
    with pytest.raises(NotFoundError):
        await repo.last_seq("nosuchgame")
    assert await repo.load_events("nosuchgame") == []


_FAIL_ON_BOOM = {
    "sqlite": [
        (
            "CREATE TRIGGER boom BEFORE INSERT ON game_events WHEN NEW.type = 'boom' "
            "BEGIN SELECT RAISE(ABORT, 'boom refused'); END"
        )
    ],
    "postgresql": [
        (
            "CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN IF NEW.type = 'boom' THEN RAISE EXCEPTION 'boom refused'; END IF; RETURN NEW; END $$"
        ),
        "CREATE TRIGGER boom BEFORE INSERT ON game_events FOR EACH ROW EXECUTE FUNCTION boom()",
    ],
}
_DROP_BOOM = {
    "sqlite": ["DROP TRIGGER boom"],
    "postgresql": ["DROP TRIGGER boom ON game_events", "DROP FUNCTION boom()"],
}


async def test_a_batch_failing_in_the_database_writes_nothing(
    repo: Repository, engine: AsyncEngine, backend: str
) -> None:
    game = await _game(repo)
    await repo.append_events(game.id, _events("a"), expected_next_seq=1)
    # The database refuses the batch's second row after the counter was bumped: all of it must roll back.
    async with engine.begin() as conn:
        for sql in _FAIL_ON_BOOM[backend]:
            await conn.exec_driver_sql(sql)
    try:
        with pytest.raises(Exception, match="boom refused"):
            await repo.append_events(game.id, _events("ok", "boom"), expected_next_seq=2)
    finally:
        async with engine.begin() as conn:
            for sql in _DROP_BOOM[backend]:
                await conn.exec_driver_sql(sql)
    assert await repo.last_seq(game.id) == 1
    assert [e.seq for e in await repo.load_events(game.id)] == [1]
    # ... and the log carries on without a gap.
    assert (await repo.append_events(game.id, _events("b"), expected_next_seq=2))[0].seq == 2


async def test_status_changes_with_the_event_that_causes_it(repo: Repository) -> None:
    game = await _game(repo)
    await repo.append_events(game.id, _events("started"), expected_next_seq=1, status=GameStatus.RUNNING)
    running = await repo.get_game(game.id)
    assert running is not None
    assert (running.status, running.finished_at) == (GameStatus.RUNNING, None)
    assert running.started_at is not None
    with pytest.raises(SequenceConflictError):  # refused append: the status does not change either
        await repo.append_events(game.id, _events("over"), expected_next_seq=1, status=GameStatus.FINISHED)
    unchanged = await repo.get_game(game.id)
    assert unchanged is not None
    assert unchanged.status is GameStatus.RUNNING
    await repo.append_events(game.id, _events("over"), expected_next_seq=2, status=GameStatus.FINISHED)
    finished = await repo.get_game(game.id)
    assert finished is not None
    assert (finished.status, finished.started_at) == (GameStatus.FINISHED, running.started_at)
    assert finished.finished_at is not None
    assert game.id not in [g.id for g in await repo.list_running_games()]


async def test_payload_json_round_trips_unicode_and_nesting(repo: Repository) -> None:
    game = await _game(repo)
    payload = {
        "team": "Ünïcödé Ømega — 日本語チーム 🎉",
        "quote": 'she said "\\o/"\n\ttab',
        "nested": {"order": [3, 1, 2], "mixed": [1, 2.5, None, True, False, {"deep": {"er": []}}], "empty": {}},
        "big": 2**53 + 1,
        "small": -1.5e-9,
        "none": None,
    }
    await repo.append_events(game.id, [NewEvent("buzz", payload)], expected_next_seq=1)
    (loaded,) = await repo.load_events(game.id)
    assert loaded.payload == payload


async def test_event_times_round_trip_as_aware_utc(repo: Repository) -> None:
    game = await _game(repo)
    when = datetime(2026, 11, 22, 21, 30, 15, 123456, tzinfo=UTC)
    elsewhere = datetime(2026, 11, 23, 4, 30, 0, 1, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    before = datetime.now(UTC)
    stored = await repo.append_events(
        game.id, [NewEvent("a", ts=when), NewEvent("b", ts=elsewhere), NewEvent("c")], expected_next_seq=1
    )
    loaded = await repo.load_events(game.id)
    assert loaded == stored
    assert [e.ts for e in loaded[:2]] == [when, elsewhere]
    assert all(e.ts.tzinfo is not None and e.ts.utcoffset() == timedelta(0) for e in loaded)
    assert before <= loaded[2].ts <= datetime.now(UTC)


async def test_racing_appenders_exactly_one_wins(engine: AsyncEngine, db_url: str) -> None:
    repo = Repository.from_engine(engine)
    game = await _game(repo)
    # Separate engines: separate pools and connections, as separate hub processes would have.
    engines = [create_engine(db_url) for _ in range(6)]
    try:
        repos = [Repository.from_engine(e) for e in engines]
        outcomes = await asyncio.gather(
            *(r.append_events(game.id, _events(f"w{i}", f"w{i}"), expected_next_seq=1) for i, r in enumerate(repos)),
            return_exceptions=True,
        )
    finally:
        await asyncio.gather(*(e.dispose() for e in engines))

    winners = [o for o in outcomes if isinstance(o, list)]
    losers = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(winners) == 1, outcomes
    assert all(isinstance(o, SequenceConflictError) for o in losers), losers
    assert await repo.load_events(game.id) == winners[0]
    assert await repo.last_seq(game.id) == 2


async def test_writer_waits_for_an_open_transaction_then_sees_the_conflict(engine: AsyncEngine) -> None:
    repo = Repository.from_engine(engine)
    game = await _game(repo)
    async with engine.connect() as other:
        # Another writer, mid-transaction: it has bumped the counter and written #1 but not committed yet.
        await other.begin()
        await other.execute(text("UPDATE games SET last_seq = 1 WHERE id = :g"), {"g": game.id})
        await other.execute(
            text("INSERT INTO game_events (game_id, seq, type, payload, ts) VALUES (:g, 1, 'other', '{}', :ts)"),
            {"g": game.id, "ts": datetime.now(UTC).replace(tzinfo=None)},
        )
        racing = asyncio.create_task(repo.append_events(game.id, _events("mine"), expected_next_seq=1))
        await asyncio.sleep(0.3)
        assert not racing.done(), "the second writer must wait for the first, not read around it"
        await other.commit()
    with pytest.raises(SequenceConflictError) as info:
        await racing
    assert info.value.actual_next_seq == 2
    assert [e.type for e in await repo.load_events(game.id)] == ["other"]


async def test_competing_writers_with_retry_leave_no_gap_or_duplicate(engine: AsyncEngine, db_url: str) -> None:
    repo = Repository.from_engine(engine)
    game = await _game(repo)
    engines = [create_engine(db_url) for _ in range(4)]

    async def writer(worker: int, own: Repository) -> int:
        conflicts = 0
        for n in range(8):
            while True:
                try:
                    nxt = await own.last_seq(game.id) + 1
                    await own.append_events(game.id, [NewEvent("e", {"w": worker, "n": n})], expected_next_seq=nxt)
                    break
                except SequenceConflictError:
                    conflicts += 1
        return conflicts

    try:
        await asyncio.gather(*(writer(i, Repository.from_engine(e)) for i, e in enumerate(engines)))
    finally:
        await asyncio.gather(*(e.dispose() for e in engines))

    log = await repo.load_events(game.id)
    assert [e.seq for e in log] == list(range(1, 33))
    assert sorted((e.payload["w"], e.payload["n"]) for e in log) == [(w, n) for w in range(4) for n in range(8)]
    for w in range(4):  # each writer's own events stay in its order
        assert [e.payload["n"] for e in log if e.payload["w"] == w] == list(range(8))


async def test_stale_fence_is_refused(repo: Repository) -> None:
    game = await _game(repo)
    await repo.append_events(game.id, _events("unfenced"), expected_next_seq=1)  # never claimed: no lease needed

    claimed = await repo.claim_game(game.id, 5)
    assert claimed.owner_fence == 5
    for stale in (None, 0, 4):
        with pytest.raises(FencedOutError) as info:
            await repo.append_events(game.id, _events("stale"), expected_next_seq=2, fence=stale)
        assert (info.value.fence, info.value.owner_fence) == (stale, 5)
        assert "must stop writing" in str(info.value)

    stored = await repo.append_events(game.id, _events("owner"), expected_next_seq=2, fence=5)
    assert stored[0].fence == 5
    assert [(e.seq, e.type, e.fence) for e in await repo.load_events(game.id)] == [
        (1, "unfenced", None),
        (2, "owner", 5),
    ]


async def test_fence_is_checked_before_sequence(repo: Repository) -> None:
    game = await _game(repo)
    await repo.claim_game(game.id, 3)
    # Stale in both ways: the writer must learn it lost the game, not that it should reload and retry.
    with pytest.raises(FencedOutError):
        await repo.append_events(game.id, _events("x"), expected_next_seq=9, fence=2)


async def test_a_newer_fence_on_append_locks_out_the_old_owner(repo: Repository) -> None:
    game = await _game(repo)
    await repo.claim_game(game.id, 1)
    await repo.append_events(game.id, _events("old"), expected_next_seq=1, fence=1)
    # The successor writes with its newer token before (or instead of) claiming: the old owner is out.
    await repo.append_events(game.id, _events("new"), expected_next_seq=2, fence=2)
    with pytest.raises(FencedOutError):
        await repo.append_events(game.id, _events("zombie"), expected_next_seq=3, fence=1)
    game_now = await repo.get_game(game.id)
    assert game_now is not None
    assert game_now.owner_fence == 2


async def test_claim_game(repo: Repository) -> None:
    game = await _game(repo)
    assert (await repo.claim_game(game.id, 7)).owner_fence == 7
    assert (await repo.claim_game(game.id, 7)).owner_fence == 7  # a restarted owner re-claims
    with pytest.raises(FencedOutError):
        await repo.claim_game(game.id, 6)
    with pytest.raises(NotFoundError):
        await repo.claim_game("nosuchgame", 1)
    with pytest.raises(ValueError, match="non-negative"):
        await repo.claim_game(game.id, -1)


async def test_deleting_a_game_deletes_its_log(repo: Repository, engine: AsyncEngine) -> None:
    game = await _game(repo)
    await repo.append_events(game.id, _events("a", "b"), expected_next_seq=1)
    await repo.delete_game(game.id)
    async with engine.connect() as conn:
        left = (await conn.execute(text("SELECT count(*) FROM game_events"))).scalar_one()
    assert left == 0


def test_events_that_a_backend_cannot_store_cannot_be_built() -> None:
    with pytest.raises(ValueError, match="not storable JSON"):
        NewEvent("a", {"x": float("nan")})
    with pytest.raises(ValueError, match="not storable JSON"):
        NewEvent("a", {"x": {1, 2}})
    with pytest.raises(ValueError, match="NUL character"):
        NewEvent("a", {"name": "bad\x00name"})
    assert NewEvent("a", {"x": "a\\u0000 literal"}).payload == {"x": "a\\u0000 literal"}
    assert NewEvent("a", {"t": (1, 2)}).payload == {"t": [1, 2]}  # as a reader will load it


def test_invalid_events_cannot_be_built() -> None:
    with pytest.raises(ValueError, match="1-64"):
        NewEvent("")
    with pytest.raises(ValueError, match="1-64"):
        NewEvent("x" * 65)
    with pytest.raises(ValueError, match="naive"):
        NewEvent("a", ts=datetime(2026, 1, 1))  # noqa: DTZ001 - the naive datetime is the point
    with pytest.raises(TypeError, match="JSON object"):
        NewEvent("a", [1, 2])  # type: ignore[arg-type]


async def test_sqlite_appends_through_the_lean_writer_and_stores_what_sqlalchemy_stores(
    repo: Repository, engine: AsyncEngine, backend: str
) -> None:
    # Every append on an SQLite file, a status change included, runs in plain sqlite3 (hub/db/sqlite_append.py). It
    # must leave the same text in the file as SQLAlchemy's own writes, or ORDER BY ts and reads would differ.
    assert repo.append_path == ("sqlite3" if backend == "sqlite" else "sqlalchemy")
    game, other = await _game(repo), await _game(repo)
    at = datetime(2026, 11, 22, 7, 30, 1, 5, tzinfo=timezone(timedelta(hours=3)))
    appended = await repo.append_events(
        game.id, [NewEvent("a", {"é": [1, None]}, ts=at)], expected_next_seq=1, status=GameStatus.RUNNING
    )
    async with AsyncSession(engine) as session:  # the reference: the same row written by the ORM
        session.add(GameEvent(game_id=game.id, seq=2, type="b", payload={"é": [1, None]}, ts=at, fence=None))
        await session.commit()
    await repo.set_game_status(other.id, GameStatus.RUNNING)  # the reference: a status change through SQLAlchemy
    assert (await repo.load_events(game.id))[:1] == appended
    async with engine.connect() as conn:
        rows = (await conn.execute(text("SELECT ts, payload, fence FROM game_events ORDER BY seq"))).all()
        # The start time's stored form (SQLite keeps text): same length and type as SQLAlchemy's.
        started = "length(started_at), typeof(started_at)" if backend == "sqlite" else "started_at IS NOT NULL"
        games = (
            await conn.execute(
                text(f"SELECT status, {started} FROM games WHERE id IN (:a, :b)"), {"a": game.id, "b": other.id}
            )
        ).all()
    assert len(rows) == 2
    assert rows[0] == rows[1]
    assert len(games) == 2
    assert games[0] == games[1]
    assert games[0][0] == "running"


async def test_an_in_game_append_with_its_status_takes_the_lean_path_on_sqlite(repo: Repository, backend: str) -> None:
    # The hub passes the game's status with nearly every append (hub/service.py: RUNNING for every in-game event),
    # so the lean writer must take those too, not only status-less appends.
    game = await _game(repo)
    await repo.append_events(game.id, _events("started"), expected_next_seq=1, status=GameStatus.RUNNING)
    started = await repo.get_game(game.id)
    assert started is not None
    assert started.started_at is not None
    for seq in range(2, 6):
        await repo.append_events(game.id, _events(f"buzz{seq}"), expected_next_seq=seq, fence=3,
                                 status=GameStatus.RUNNING)
    if backend == "sqlite":
        assert (repo.fast_appends, repo.slow_appends) == (5, 0)
    else:
        assert (repo.fast_appends, repo.slow_appends) == (0, 5)
    running = await repo.get_game(game.id)
    assert running is not None
    # The first start time is kept, the token the appends carried is remembered, the game is not finished.
    assert (running.status, running.started_at, running.finished_at) == (GameStatus.RUNNING, started.started_at, None)
    assert (running.last_seq, running.owner_fence) == (5, 3)

    # A stale owner's append is still refused, status and all: nothing written, nothing moved.
    with pytest.raises(FencedOutError):
        await repo.append_events(game.id, _events("zombie"), expected_next_seq=6, fence=2, status=GameStatus.FINISHED)
    still = await repo.get_game(game.id)
    assert still is not None
    assert (still.status, still.finished_at, still.last_seq) == (GameStatus.RUNNING, None, 5)

    # A status change lands through the same path, in the same transaction as its event.
    await repo.append_events(game.id, _events("over"), expected_next_seq=6, fence=3, status=GameStatus.FINISHED)
    finished = await repo.get_game(game.id)
    assert finished is not None
    assert (finished.status, finished.started_at, finished.last_seq) == (GameStatus.FINISHED, started.started_at, 6)
    assert finished.finished_at is not None
    assert game.id not in [g.id for g in await repo.list_running_games()]
    assert [e.type for e in await repo.load_events(game.id)][-2:] == ["buzz5", "over"]
    if backend == "sqlite":
        # Only the refused append went down to SQLAlchemy, to be refused again with its reason.
        assert (repo.fast_appends, repo.slow_appends) == (6, 1)


async def test_a_repeated_status_costs_the_lean_append_no_extra_pages(
    repo: Repository, db_url: str, backend: str
) -> None:
    # Naming `status` in an UPDATE makes SQLite rewrite both indexes over it even for the same value: 5 WAL pages
    # (and their fsync) per append instead of 3. An append whose status is already the game's writes what a
    # status-less one writes.
    if backend != "sqlite":
        pytest.skip("the WAL is SQLite's")
    wal = Path(db_url.split("///", 1)[1] + "-wal")
    game = await _game(repo)
    await repo.append_events(game.id, _events("started"), expected_next_seq=1, status=GameStatus.RUNNING)
    grown = []
    for seq, status in ((2, None), (3, GameStatus.RUNNING), (4, None), (5, GameStatus.RUNNING)):
        before = wal.stat().st_size
        await repo.append_events(game.id, [NewEvent("buzz", {"n": 1})], expected_next_seq=seq, status=status)
        grown.append(wal.stat().st_size - before)
    assert grown[0] > 0
    assert grown == [grown[0]] * 4
    assert repo.slow_appends == 0
