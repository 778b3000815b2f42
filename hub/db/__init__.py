"""Persistence: tables, engine factory, migrations and the repository (the only module that writes SQL).

Typical start-up::

    engine = create_engine(settings.db_url or default_db_url(settings.data_dir))
    await migrate(engine)
    repo = Repository.from_engine(engine)
"""

from hub.db.engine import READ_ONLY, UnsupportedDatabaseURLError, create_engine, default_db_url, session_factory
from hub.db.errors import (
    AlreadyExistsError,
    FencedOutError,
    InUseError,
    NotFoundError,
    RepositoryError,
    SequenceConflictError,
)
from hub.db.events import NewEvent, StoredEvent
from hub.db.migrate import UnknownSchemaError, current_revision, head_revision, migrate
from hub.db.repository import DeviceHealth, NewResult, Repository
from hub.db.tokens import hash_token, new_token

__all__ = [
    "READ_ONLY",
    "AlreadyExistsError",
    "DeviceHealth",
    "FencedOutError",
    "InUseError",
    "NewEvent",
    "NewResult",
    "NotFoundError",
    "Repository",
    "RepositoryError",
    "SequenceConflictError",
    "StoredEvent",
    "UnknownSchemaError",
    "UnsupportedDatabaseURLError",
    "create_engine",
    "current_revision",
    "default_db_url",
    "hash_token",
    "head_revision",
    "migrate",
    "new_token",
    "session_factory",
]
