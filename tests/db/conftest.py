"""Fixtures for the persistence tests: every test runs once on SQLite and once on the real PostgreSQL.

PostgreSQL isolation: the session creates its own uniquely named database (from template0, so nobody else's
connections to a template can block it) and drops it at the end; other helpers' tests may share the server.
Each test starts from an empty public schema in that database.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from hub.db import Repository, create_engine, migrate
from hub.db.models import metadata

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

    from sqlalchemy.ext.asyncio import AsyncEngine

# Same variable and default as tests/conftest.py (a rootdir conftest is not importable as a module).
POSTGRES_URL = os.environ.get("QUIZHUB_TEST_POSTGRES", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")


async def _admin() -> asyncpg.Connection:
    url = make_url(POSTGRES_URL)
    try:
        return await asyncpg.connect(
            host=url.host, port=url.port or 5432, user=url.username, password=url.password, database=url.database
        )
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(
            f"PostgreSQL at {url.render_as_string(hide_password=True)} is not reachable ({exc}); "
            "start it (`bash scripts/test` does) or set QUIZHUB_TEST_POSTGRES"
        )


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """One database for this test session, created here and dropped at the end (CREATE DATABASE forces a
    checkpoint, which costs seconds on a busy server: once per session, not once per test)."""
    name = f"quizhub_dbtest_{uuid.uuid4().hex[:12]}"

    async def run(sql: str) -> None:
        admin = await _admin()
        try:
            await admin.execute(sql)
        finally:
            await admin.close()

    def run_aside(sql: str) -> None:
        # The first test to need this may already run inside an event loop: use a loop of our own, aside.
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(asyncio.run, run(sql)).result()

    run_aside(f'CREATE DATABASE "{name}" TEMPLATE template0')
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        run_aside(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _empty_postgres(url: str) -> None:
    # Our own database: wiping its public schema gives each test an empty database in milliseconds.
    parsed = make_url(url)
    conn = await asyncpg.connect(
        host=parsed.host,
        port=parsed.port or 5432,
        user=parsed.username,
        password=parsed.password,
        database=parsed.database,
    )
    try:
        await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()


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
        await _empty_postgres(db_url)
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
