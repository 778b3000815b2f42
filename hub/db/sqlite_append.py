"""The event log's hot append on SQLite, in plain ``sqlite3`` on one writer thread.

Why: the hub must log a buzz before it locks the other buzzers, so this append is on the buzz→lock path. Through
SQLAlchemy's ORM session and aiosqlite it cost about 5.6 ms on the e2e bench, of which the disk (fsync) was 0.3 ms;
the rest was session set-up, statement compilation and two thread hops per statement. Here the same two statements
run on one long-lived connection in one thread: one hop per append.

It writes exactly what :meth:`hub.db.repository.Repository.append_events` writes (same conditional UPDATE, same
rows, same text formats for JSON and timestamps), so reads through SQLAlchemy see no difference; the repository
tests run on it. Every append on an SQLite file comes here, a status change included: the hub passes the game's
status with nearly every append (hub/service.py), so after the compare-and-set a second UPDATE in the same
transaction moves the status and stamps ``started_at`` / ``finished_at`` the first time, as the repository's
``_status_changes`` does, and matches no row when the status is already that. Anything the fast path cannot decide
(a refused append: which error to raise; a constraint the status change breaks) goes back to the repository's own
path, which refuses it too and says why.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC
from typing import TYPE_CHECKING

from hub.db.events import StoredEvent
from hub.db.models import GameStatus

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from hub.db.events import NewEvent

__all__ = ["SqliteAppender"]

_UPDATE = (
    "UPDATE games SET last_seq = ?, owner_fence = ? WHERE id = ? AND last_seq = ? AND owner_fence <= ? RETURNING id"
)
# Moving the game to a status, the first start / finish time kept (as the repository's _status_changes). A second
# statement that matches only when something changes: the hub passes RUNNING with every in-game append, and an
# UPDATE that names `status` rewrites its two indexes (ix_games_status, the live join-code index) even when the value
# is the same — 5 pages to the WAL and its fsync per append instead of 3.
_STATUS: dict[GameStatus, str] = {
    GameStatus.LOBBY: "UPDATE games SET status = ? WHERE id = ? AND status != ?",
    GameStatus.RUNNING: "UPDATE games SET status = ?, started_at = COALESCE(started_at, ?) "
    "WHERE id = ? AND (status != ? OR started_at IS NULL)",
    GameStatus.FINISHED: "UPDATE games SET status = ?, finished_at = COALESCE(finished_at, ?) "
    "WHERE id = ? AND (status != ? OR finished_at IS NULL)",
}
_INSERT = "INSERT INTO game_events (game_id, seq, type, payload, ts, fence) VALUES (?, ?, ?, ?, ?, ?)"


def _sqlite_ts(ts: datetime) -> str:
    # SQLAlchemy's SQLite DateTime text for the naive UTC value UTCDateTime binds, so ORDER BY ts and reads through
    # the ORM stay identical to the repository's own path.
    if ts.tzinfo is None:
        raise ValueError(f"naive datetime {ts!r} given to the database; pass an aware datetime (UTC)")
    return ts.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


class SqliteAppender:
    """Appends events to one SQLite file's log from a dedicated thread. Create it on the event loop's thread."""

    def __init__(self, path: str, busy_timeout_ms: int) -> None:
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="quizhub-log")
        self._conn: sqlite3.Connection | None = None
        self.appended = 0  # appends committed here (observable: tests and benches check the hot path is taken)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            # isolation_level=None: we issue BEGIN IMMEDIATE ourselves, as the engine does, so the write lock is
            # taken before the compare-and-set reads the row.
            conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}")
            self._conn = conn
        return self._conn

    async def append(
        self,
        game_id: str,
        events: Sequence[NewEvent],
        *,
        expected_next_seq: int,
        fence: int | None,
        now: datetime,
        status: GameStatus | None = None,
    ) -> list[StoredEvent] | None:
        """Append as the repository would; None if the log refused it (the caller finds out why and raises)."""
        stored = [
            StoredEvent(game_id, expected_next_seq + i, e.type, e.payload, e.ts or now, fence)
            for i, e in enumerate(events)
        ]
        loop = asyncio.get_running_loop()
        write = functools.partial(
            self._write, game_id, stored, expected_next_seq=expected_next_seq, fence=fence, status=status, now=now
        )
        ok = await loop.run_in_executor(self._executor, write)
        if not ok:
            return None
        self.appended += 1
        return stored

    def _write(
        self,
        game_id: str,
        stored: list[StoredEvent],
        *,
        expected_next_seq: int,
        fence: int | None,
        status: GameStatus | None,
        now: datetime,
    ) -> bool:
        conn = self._connection()
        held = 0 if fence is None else fence
        new_last = expected_next_seq - 1 + len(stored)
        rows = [(game_id, s.seq, s.type, json.dumps(s.payload), _sqlite_ts(s.ts), fence) for s in stored]
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute(_UPDATE, (new_last, held, game_id, expected_next_seq - 1, held)).fetchone() is None:
                conn.execute("ROLLBACK")
                return False
            if status is not None:
                stamp = () if status is GameStatus.LOBBY else (_sqlite_ts(now),)
                try:
                    conn.execute(_STATUS[status], (status.value, *stamp, game_id, status.value))
                except sqlite3.IntegrityError:
                    # The status change breaks a constraint (a finished game's join code taken meanwhile): the
                    # repository's path hits the same and raises as it always has.
                    conn.execute("ROLLBACK")
                    return False
            conn.executemany(_INSERT, rows)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return True

    def close_soon(self) -> None:
        """Close the connection and let the thread end, without waiting (for a finalizer)."""
        with contextlib.suppress(RuntimeError):  # already shut down (interpreter exit): the process closes the file
            self._executor.submit(self._close_connection)
        self._executor.shutdown(wait=False)

    def _close_connection(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
