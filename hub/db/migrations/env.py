"""Alembic environment for Quizhub: run from :func:`hub.db.migrate.migrate`, never from an alembic.ini.

The caller passes an open synchronous ``Connection`` (the async engine's, through ``run_sync``) in
``config.attributes["connection"]``; this file only binds Alembic to it.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from hub.db.models import metadata

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise TypeError(
        "Quizhub migrations run through hub.db.migrate(engine), which passes a connection; "
        "offline SQL generation and the alembic CLI without one are not supported"
    )

context.configure(
    connection=connection,
    target_metadata=metadata,
    # Batch mode lets later revisions alter SQLite tables (copy-and-move) with the same op.* calls.
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
