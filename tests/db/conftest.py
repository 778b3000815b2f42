"""Fixtures for the persistence tests: every test runs once on SQLite and once on the real PostgreSQL.

PostgreSQL isolation: the session creates its own uniquely named database (from template0, so nobody else's
connections to a template can block it) and drops it at the end; other helpers' tests may share the server.
Each test starts from an empty public schema in that database.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from hub.db import Repository, create_engine, migrate
from hub.db.models import metadata
from tests.services import create_database, drop_database, reset_schema

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncEngine

@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """One database for this test session, created here and dropped at the end (CREATE DATABASE forces a
    checkpoint, which costs seconds on a busy server: once per session, not once per test)."""
    url = create_database("quizhub_dbtest")
    try:
        yield url
    finally:
        drop_database(url)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """Each backend in turn; every test of this package that touches a database runs on both."""
    return str(request.param)


@pytest.fixture
def db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """The test's database URL: a fresh SQLite file, or this session's PostgreSQL database."""
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'quizhub.db'}"
    return str(request.getfixturevalue("postgres_database"))


@pytest.fixture
async def empty_db_url(db_url: str, backend: str) -> str:
    """The URL of a database with no tables at all (for the migration tests)."""
    if backend == "postgresql":
        reset_schema(db_url)  # our own database: wiping its public schema empties it in milliseconds
    return db_url


@pytest.fixture
async def engine(db_url: str, backend: str) -> AsyncIterator[AsyncEngine]:
    """A migrated engine on a database whose tables are empty."""
    eng = create_engine(db_url)
    try:
        await migrate(eng)  # a quick no-op on the session's PostgreSQL database after its first test
        if backend == "postgresql":
            # DELETE, not TRUNCATE: for a few rows it is far cheaper (TRUNCATE swaps and fsyncs files).
            async with eng.begin() as conn:
                for table in reversed(metadata.sorted_tables):
                    await conn.execute(table.delete())
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture
def repo(engine: AsyncEngine) -> Repository:
    return Repository.from_engine(engine)
