"""Column types that behave the same on SQLite and PostgreSQL.

SQLite has no time zones and no JSONB; PostgreSQL has both. These types hide the difference so a row read back
is equal to the row written, whichever backend stored it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

__all__ = ["JSONType", "UTCDateTime", "utcnow"]


def utcnow() -> datetime:
    """The current time, time-zone aware, in UTC: the only kind of datetime the database layer stores."""
    return datetime.now(UTC)


# JSONB on PostgreSQL (indexable, compact, compared by value); SQLAlchemy's JSON (TEXT with json.dumps) on SQLite.
# none_as_null: a Python None in a nullable column is SQL NULL, not the JSON text "null", on both backends.
JSONType = sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A ``timestamptz`` on PostgreSQL; on SQLite a naive UTC timestamp that reads back as an aware UTC datetime.

    Naive datetimes are refused on the way in: we cannot know which zone the caller meant, and guessing
    would shift an event log by hours.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r} given to the database; pass an aware datetime (UTC)")
        value = value.astimezone(UTC)
        # SQLite stores text; a fixed zone-less format keeps ORDER BY on the column chronological.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:  # noqa: ARG002 - fixed signature
        if value is None:
            return None
        if not isinstance(value, datetime):  # pragma: no cover - both drivers hand back datetimes
            raise TypeError(f"the database returned {value!r} for a timestamp column")
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
