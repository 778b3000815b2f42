"""Broker state that must survive a restart: retained messages and persistent sessions, in SQLite in the data dir.

Retained messages are written through on every change (the hub's retained game state must survive a crash).
Persistent sessions are written when their subscriptions change and when they or the broker go down; messages
queued for an offline session while the broker crashes are lost, the rest is not.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["BrokerStore", "StoredMessage", "StoredSession"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS retained (topic TEXT PRIMARY KEY, payload BLOB NOT NULL, qos INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (client_id TEXT PRIMARY KEY, state TEXT NOT NULL);
"""


@dataclass(frozen=True)
class StoredMessage:
    """A message owed to a session: queued, or in flight with its packet id."""

    topic: str
    payload: bytes
    qos: int
    packet_id: int | None = None
    pubrec_received: bool = False


@dataclass(frozen=True)
class StoredSession:
    """A persistent (clean_session=0) session: who owns it, what it subscribed, and what it is owed."""

    client_id: str
    owner: str | None
    role: str
    subscriptions: dict[str, int] = field(default_factory=dict)
    inflight: list[StoredMessage] = field(default_factory=list)
    queued: list[StoredMessage] = field(default_factory=list)


def _msg_to_json(m: StoredMessage) -> dict[str, object]:
    return {"t": m.topic, "p": base64.b64encode(m.payload).decode(), "q": m.qos, "id": m.packet_id,
            "rec": m.pubrec_received}


def _msg_from_json(d: dict[str, object]) -> StoredMessage:
    packet_id = d.get("id")
    return StoredMessage(str(d["t"]), base64.b64decode(str(d["p"])), int(str(d["q"])),
                         int(str(packet_id)) if packet_id is not None else None, bool(d.get("rec")))


class BrokerStore:
    """A small SQLite file (`broker.sqlite3`) in the data dir; all calls are quick and synchronous."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        # WAL + NORMAL: a commit is an append, not an fsync per retained message; survives a process crash.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        path.chmod(0o600)
        # Which sessions are stored, so a clean-session connect (the common case) costs no SQL at all.
        self._session_ids = {str(cid) for (cid,) in self._db.execute("SELECT client_id FROM sessions")}

    def close(self) -> None:
        """Flush and close the file."""
        self._db.close()

    def load_retained(self) -> list[tuple[str, bytes, int]]:
        """Every retained message as (topic, payload, qos)."""
        return [(str(t), bytes(p), int(q)) for t, p, q in self._db.execute("SELECT topic, payload, qos FROM retained")]

    def put_retained(self, topic: str, payload: bytes, qos: int) -> None:
        """Store or replace the retained message of a topic."""
        self._db.execute("INSERT OR REPLACE INTO retained VALUES (?, ?, ?)", (topic, payload, qos))

    def delete_retained(self, topic: str) -> None:
        """Clear the retained message of a topic."""
        self._db.execute("DELETE FROM retained WHERE topic = ?", (topic,))

    def load_sessions(self) -> list[StoredSession]:
        """Every stored persistent session."""
        out = []
        for (raw,) in self._db.execute("SELECT state FROM sessions"):
            d = json.loads(raw)
            out.append(StoredSession(
                d["client_id"], d["owner"], d["role"], {str(k): int(v) for k, v in d["subs"].items()},
                [_msg_from_json(m) for m in d["inflight"]], [_msg_from_json(m) for m in d["queued"]],
            ))
        return out

    def save_session(self, s: StoredSession) -> None:
        """Store or replace one persistent session."""
        doc = {"client_id": s.client_id, "owner": s.owner, "role": s.role, "subs": s.subscriptions,
               "inflight": [_msg_to_json(m) for m in s.inflight], "queued": [_msg_to_json(m) for m in s.queued]}
        self._db.execute("INSERT OR REPLACE INTO sessions VALUES (?, ?)", (s.client_id, json.dumps(doc)))
        self._session_ids.add(s.client_id)

    def delete_session(self, client_id: str) -> None:
        """Forget a session (it connected with clean_session=1, or was discarded)."""
        if client_id in self._session_ids:
            self._db.execute("DELETE FROM sessions WHERE client_id = ?", (client_id,))
            self._session_ids.discard(client_id)
