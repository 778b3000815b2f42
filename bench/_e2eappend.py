"""What one event-log append costs, apart from MQTT: for docs/e2e-performance.md ("where the hub's time goes").

Usage: python bench/_e2eappend.py [--appends 300] [--disk-dir DIR] [--tmpfs-dir /dev/shm]

Times `Repository.append_events` (one event, as the hub appends a buzz) on SQLite in a directory on disk and on
tmpfs (where fsync costs nothing), and the same two statements (conditional UPDATE ... RETURNING, INSERT) plus
COMMIT through plain `sqlite3` on one connection, with synchronous=FULL (the hub's setting) and NORMAL. Prints
one JSON line per case with p50/p99 in ms. Run it on an otherwise idle process: no broker, no devices.
"""

# ruff: noqa: PLC0415
from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR]
sys.path.insert(0, str(ROOT))

PAYLOAD = {"type": "buzz.received", "at_us": 123456789, "index": 3, "attempt": 1, "outcome": "accepted",
           "press": {"device": "dev001", "team": "t01", "t_hub_us": 123456000, "uncertainty_us": 250.0}}


def stats(values_ns: list[int]) -> dict[str, float]:
    v = sorted(values_ns)
    return {"p50_ms": round(v[len(v) // 2] / 1e6, 3), "p99_ms": round(v[int(len(v) * 0.99)] / 1e6, 3)}


async def repository_case(directory: Path, appends: int) -> dict[str, float]:
    from hub.db import Repository, create_engine, migrate
    from hub.db.events import NewEvent
    from hub.quizfile import demo_quiz
    from hub.quizstore import import_quiz

    engine = create_engine(f"sqlite+aiosqlite:///{directory / 'quizhub.db'}")
    try:
        await migrate(engine)
        repo = Repository.from_engine(engine)
        quiz_id = await import_quiz(repo, demo_quiz()[1])
        game = await repo.create_game(quiz_id, settings={})
        times = []
        for seq in range(1, appends + 1):
            t0 = time.perf_counter_ns()
            await repo.append_events(str(game.id), [NewEvent("buzz.received", PAYLOAD)], expected_next_seq=seq)
            times.append(time.perf_counter_ns() - t0)
        return stats(times)
    finally:
        await engine.dispose()


def raw_case(directory: Path, appends: int, synchronous: str) -> dict[str, float]:
    con = sqlite3.connect(directory / f"raw-{synchronous}.db", isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute(f"PRAGMA synchronous={synchronous}")
    con.execute("CREATE TABLE games (id TEXT PRIMARY KEY, last_seq INTEGER, owner_fence INTEGER)")
    con.execute("CREATE TABLE game_events (game_id TEXT, seq INTEGER, type TEXT, payload TEXT, ts TEXT, "
                "fence INTEGER, PRIMARY KEY (game_id, seq))")
    con.execute("INSERT INTO games VALUES ('g', 0, 0)")
    payload = json.dumps(PAYLOAD)
    times = []
    for seq in range(1, appends + 1):
        t0 = time.perf_counter_ns()
        con.execute("BEGIN IMMEDIATE")
        row = con.execute("UPDATE games SET last_seq = ? WHERE id = 'g' AND last_seq = ? AND owner_fence <= 0 "
                          "RETURNING id", (seq, seq - 1)).fetchone()
        assert row is not None
        con.execute("INSERT INTO game_events VALUES ('g', ?, 'buzz.received', ?, '2026-01-01', NULL)", (seq, payload))
        con.execute("COMMIT")
        times.append(time.perf_counter_ns() - t0)
    con.close()
    return stats(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--appends", type=int, default=300)
    parser.add_argument("--disk-dir", default=None, help="default: a tmp dir under the system's tmp (on disk)")
    parser.add_argument("--tmpfs-dir", default="/dev/shm")
    args = parser.parse_args()
    for label, base in (("disk", args.disk_dir), ("tmpfs", args.tmpfs_dir)):
        with tempfile.TemporaryDirectory(prefix="quizhub-append-", dir=base) as tmp:
            d = Path(tmp)
            out = {"where": label, "dir": str(d.parent), "appends": args.appends}
            out["repository_append_events"] = asyncio.run(repository_case(d, args.appends))
            out["raw_sqlite3_full"] = raw_case(d, args.appends, "FULL")
            out["raw_sqlite3_normal"] = raw_case(d, args.appends, "NORMAL")
            print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
