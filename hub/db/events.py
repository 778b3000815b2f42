"""Value types of the event log: what a writer appends and what a reader gets back."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datetime import datetime

__all__ = ["MAX_EVENT_TYPE_LENGTH", "NewEvent", "StoredEvent"]

MAX_EVENT_TYPE_LENGTH = 64

# A JSON "\u0000" escape that is not itself an escaped backslash followed by "u0000".
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append: its type (``"buzz_ruled"``), a JSON object payload, and optionally its time.

    ``ts`` defaults to the time of the append. An invalid event cannot be built, and the payload is normalised
    to what JSON gives back (tuples become lists, keys become strings), so the event a writer appends is equal
    to the event a reader loads, on either backend. Refused, because one backend or the other cannot store
    them: non-JSON values, NaN and infinities, and the NUL character (PostgreSQL's JSONB rejects it).
    """

    type: str
    payload: dict[str, Any] = field(default_factory=dict)
    ts: datetime | None = None

    def __post_init__(self) -> None:
        if not self.type or len(self.type) > MAX_EVENT_TYPE_LENGTH:
            raise ValueError(f"event type must be 1-{MAX_EVENT_TYPE_LENGTH} characters, got {self.type!r}")
        if not isinstance(self.payload, dict):
            raise TypeError(f"event payload must be a JSON object (dict), got {type(self.payload).__name__}")
        if self.ts is not None and self.ts.tzinfo is None:
            raise ValueError(f"event time {self.ts!r} is naive; pass an aware datetime (UTC)")
        try:
            text = json.dumps(self.payload, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{self.type} event payload is not storable JSON: {exc}") from exc
        if _NUL_ESCAPE.search(text):
            raise ValueError(f"{self.type} event payload contains a NUL character, which PostgreSQL cannot store")
        object.__setattr__(self, "payload", json.loads(text))


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as the log holds it: numbered ``seq`` 1, 2, 3, … per game with no gap and no duplicate."""

    game_id: str
    seq: int
    type: str
    payload: dict[str, Any]
    ts: datetime
    fence: int | None
