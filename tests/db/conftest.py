"""Fixtures for the persistence tests: every test runs once on SQLite and once on the real PostgreSQL.

PostgreSQL isolation: each test gets its own freshly created database (from template0, so nobody else's
connections to a template can block us) and drops it afterwards; other helpers' tests may share the server.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from hub.db import Repository, create_engine, migrate

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


async def _fresh_postgres_database() -> AsyncIterator[str]:
    name = f"quizhub_dbtest_{uuid.uuid4().hex[:12]}"
    admin = await _admin()
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE template0')
        try:
            yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database URL, on each backend in turn."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'quizhub.db'}"
        return
    async for url in _fresh_postgres_database():
        yield url


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    """A migrated engine on the test's database."""
    eng = create_engine(db_url)
    await migrate(eng)
    try:
        yield eng
    finally:
        await eng.dispose()


@pytest.fixture
def repo(engine: AsyncEngine) -> Repository:
    return Repository.from_engine(engine)
