"""Engine and session factories, chosen by URL: ``sqlite+aiosqlite://`` or ``postgresql+asyncpg://``.

A factory, never a module-level engine, so a test (or a migration tool) can hold a SQLite and a PostgreSQL
engine side by side.

SQLite needs care to be a safe event log:

* WAL lets readers (the web process, a recovering hub) read while the hub writes;
* ``synchronous=FULL`` because a bar's box may lose power mid-question and an event the hub already
  published must still be there after the reboot;
* ``foreign_keys=ON`` because SQLite ignores declared foreign keys otherwise;
* ``busy_timeout`` so a second writer waits for the lock instead of failing at once;
* we emit ``BEGIN IMMEDIATE`` ourselves: Python's sqlite3 module would start a transaction lazily, at the first
  write, after reads that may already be stale. A deferred transaction that later wants the write lock fails
  with "database is locked" however long the busy timeout is. Taking the write lock up front makes writers
  queue in order, and it makes DDL transactional, so a failed migration leaves nothing behind.
  A session that only reads can ask for a plain deferred ``BEGIN`` with :data:`READ_ONLY`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

if TYPE_CHECKING:
    from sqlalchemy.pool import ConnectionPoolEntry

__all__ = [
    "READ_ONLY",
    "SQLITE_BUSY_TIMEOUT_MS",
    "UnsupportedDatabaseURLError",
    "create_engine",
    "default_db_url",
    "session_factory",
]

SQLITE_BUSY_TIMEOUT_MS = 10_000
"""How long a SQLite writer waits for another writer's transaction before giving up."""

READ_ONLY = "quizhub_read_only"
"""Execution option: ``{READ_ONLY: True}`` on a connection starts a deferred (shared) transaction on SQLite."""

_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}


class UnsupportedDatabaseURLError(ValueError):
    """The configured database URL names a backend or driver Quizhub does not support (a configuration error)."""


def default_db_url(data_dir: Path) -> str:
    """The SQLite file Quizhub uses when no database URL is configured: ``{data_dir}/quizhub.db``."""
    return f"sqlite+aiosqlite:///{Path(data_dir) / 'quizhub.db'}"


def create_engine(url: str, **engine_kwargs: Any) -> AsyncEngine:
    """An async engine for ``url``, configured for Quizhub's event log.

    Supported: ``sqlite+aiosqlite:///path/to/file.db`` (the parent folder is created) and
    ``postgresql+asyncpg://user:pass@host:port/db``. Extra keyword arguments go to SQLAlchemy's
    ``create_async_engine`` (e.g. ``pool_size``).
    """
    parsed = make_url(url)
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    if _DRIVERS.get(backend) != driver:
        supported = ", ".join(f"{b}+{d}://" for b, d in _DRIVERS.items())
        raise UnsupportedDatabaseURLError(
            f"database URL {parsed.render_as_string(hide_password=True)!r} is not supported; use one of {supported}"
        )
    if backend == "postgresql":
        # pre_ping: a PostgreSQL restart (or failover) must not hand the hub a dead pooled connection mid-append.
        return create_async_engine(parsed, pool_pre_ping=True, **engine_kwargs)

    database = parsed.database or ":memory:"
    if database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_async_engine(parsed, **engine_kwargs)
    event.listen(engine.sync_engine, "connect", _sqlite_on_connect)
    event.listen(engine.sync_engine, "begin", _sqlite_on_begin)
    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions bound to ``engine``; objects stay readable after commit (no lazy reloads in async code)."""
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def _sqlite_on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # Take transaction control away from the sqlite3 module; _sqlite_on_begin emits BEGIN instead.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def _sqlite_on_begin(connection: Connection) -> None:
    if connection.get_execution_options().get(READ_ONLY):
        connection.exec_driver_sql("BEGIN")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
