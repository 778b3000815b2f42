"""Bring a database's schema up to date with Alembic, programmatically, on start.

No alembic.ini: the configuration is built here and Alembic runs on the async engine's own connection (through
``run_sync``), so SQLite and PostgreSQL URLs work the same way and the migration shares the engine's settings.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = [
    "MIGRATIONS_DIR",
    "UnknownSchemaError",
    "alembic_config",
    "current_revision",
    "head_revision",
    "migrate",
]

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

# Any constant works; it only has to be the same in every Quizhub process sharing one PostgreSQL database.
_PG_MIGRATION_LOCK = 0x5155_495A  # "QUIZ"
_LOCKED_RETRY_S = 30.0  # how long start-up waits for another process holding a fresh SQLite file


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic ``Config`` pointing at Quizhub's migrations, optionally bound to an open connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # The migration scripts live in a package; let Alembic import them as files regardless of sys.path.
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision the code knows about."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships its initial revision
        raise RuntimeError("hub/db/migrations/versions holds no revision; the installation is broken")
    return head


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None if it was never migrated."""
    async with engine.connect() as conn:
        return await conn.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())


async def migrate(engine: AsyncEngine) -> None:
    """Upgrade the database behind ``engine`` to the newest revision; a no-op when it is already there.

    Safe when several processes start at once: on PostgreSQL they queue on an advisory lock, on SQLite on the
    write lock of ``BEGIN IMMEDIATE``; whoever comes second finds the schema up to date. The whole upgrade is
    one transaction on both backends, so a failure leaves the previous schema intact.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _LOCKED_RETRY_S
    delay = 0.05
    while True:
        try:
            async with engine.begin() as conn:
                await conn.run_sync(_upgrade)
        except OperationalError as exc:
            # SQLite: several processes opening a fresh file at once race for its one-time switch to WAL, which
            # can report "locked" without waiting on the busy timeout. Waiting a moment and trying again is the fix;
            # anything else, or a lock that outlasts the deadline, is a real error.
            if "database is locked" not in str(exc) or loop.time() + delay > deadline:
                raise
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)
        else:
            return


class UnknownSchemaError(RuntimeError):
    """The database was migrated by a newer Quizhub than this one (an operator's problem: upgrade Quizhub)."""


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
    config = alembic_config(connection)
    current = MigrationContext.configure(connection).get_current_revision()
    known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
    if current is not None and current not in known:
        raise UnknownSchemaError(
            f"the database is at schema revision {current!r}, which this Quizhub does not know (it knows up to "
            f"{head_revision()!r}); a newer Quizhub migrated it: run that version, or restore a backup"
        )
    command.upgrade(config, "head")
