"""Migrations: the initial revision creates exactly the models' schema, on both backends, idempotently."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from hub.db import Repository, UnknownSchemaError, create_engine, current_revision, head_revision, migrate
from hub.db.models import metadata
from hub.db.schemas import QuizCreate

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": True})
    return list(compare_metadata(context, metadata))


async def test_migrated_schema_equals_the_models(empty_db_url: str) -> None:
    engine = create_engine(empty_db_url)
    try:
        assert await current_revision(engine) is None
        await migrate(engine)
        assert await current_revision(engine) == head_revision()
        async with engine.connect() as conn:
            assert await conn.run_sync(_diff) == []
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
        assert tables == set(metadata.tables) | {"alembic_version"}
    finally:
        await engine.dispose()


async def test_the_schema_comparison_would_notice_a_difference(empty_db_url: str) -> None:
    # Guard for the test above: an empty diff must mean "equal", not "comparison broken".
    engine = create_engine(empty_db_url)
    try:
        await migrate(engine)
        async with engine.begin() as conn:
            await conn.execute(text("DROP INDEX ix_games_status"))
            await conn.execute(text("ALTER TABLE devices ADD COLUMN color VARCHAR(8)"))
        async with engine.connect() as conn:
            diff = await conn.run_sync(_diff)
        kinds = sorted(entry[0] for entry in diff)
        assert kinds == ["add_index", "remove_column"], diff
    finally:
        await engine.dispose()


async def test_migrating_twice_is_a_no_op(empty_db_url: str) -> None:
    engine = create_engine(empty_db_url)
    try:
        await migrate(engine)
        repo = Repository.from_engine(engine)
        quiz = await repo.create_quiz(QuizCreate(title="kept"))
        await migrate(engine)
        assert await current_revision(engine) == head_revision()
        assert [q.id for q in await repo.list_quizzes()] == [quiz.id]
        async with engine.connect() as conn:
            versions = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
        assert versions == [head_revision()]
    finally:
        await engine.dispose()


async def test_processes_starting_together_migrate_once(empty_db_url: str) -> None:
    # Two hubs (or a hub and a web process) booting at the same moment against one empty database.
    engines = [create_engine(empty_db_url) for _ in range(3)]
    try:
        await asyncio.gather(*(migrate(e) for e in engines))
        assert {await current_revision(e) for e in engines} == {head_revision()}
        async with engines[0].connect() as conn:
            assert await conn.run_sync(_diff) == []
    finally:
        await asyncio.gather(*(e.dispose() for e in engines))


async def test_a_database_from_a_newer_quizhub_is_refused_with_a_sentence(empty_db_url: str) -> None:
    engine = create_engine(empty_db_url)
    try:
        await migrate(engine)
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
        try:
            with pytest.raises(UnknownSchemaError, match="a newer Quizhub migrated it"):
                await migrate(engine)
        finally:  # the session's PostgreSQL database serves the following tests
            async with engine.begin() as conn:
                await conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": head_revision()})
    finally:
        await engine.dispose()
