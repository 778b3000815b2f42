"""What one event-log append costs, apart from MQTT: for docs/e2e-performance.md ("where the hub's time goes").

Usage: python bench/_e2eappend.py [--appends 300] [--rounds 3] [--disk-dir DIR] [--tmpfs-dir /dev/shm]
                                  [--baseline-root DIR] [--out bench/results/e2eappend.json]

Times `Repository.append_events` (one event, as the hub appends a buzz) on SQLite in a directory on disk and on
tmpfs (where fsync costs nothing), twice: without a status, and with `status=RUNNING`, which is what the hub passes
with every in-game append (hub/service.py). Beside them, the baseline of the same run: the same two statements
(conditional UPDATE ... RETURNING, INSERT) plus COMMIT through plain `sqlite3` on one connection, with
synchronous=FULL (the hub's setting) and NORMAL. Each repository case runs in its own process, and reports which
path its appends took (the repository's `fast_appends` / `slow_appends` counters, where it has them).

--baseline-root: a checkout of another commit (e.g. `git archive HEAD | tar -x -C /tmp/before`); its repository
cases run in the same rounds as this tree's, cases shuffled per round, so a before/after comparison shares the
box's load. Prints one JSON line per place and writes all of it, with ratios to the raw-sqlite3 FULL baseline, to
--out. Run it without a broker or devices; the box is shared, so quote ratios, not milliseconds.
"""

# ruff: noqa: PLC0415
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCH_DIR]

PAYLOAD = {"type": "buzz.received", "at_us": 123456789, "index": 3, "attempt": 1, "outcome": "accepted",
           "press": {"device": "dev001", "team": "t01", "t_hub_us": 123456000, "uncertainty_us": 250.0}}


def stats(values_ns: list[int]) -> dict[str, float]:
    v = sorted(values_ns)
    return {"p50_ms": round(v[len(v) // 2] / 1e6, 3), "p99_ms": round(v[int(len(v) * 0.99)] / 1e6, 3)}


async def repository_case(directory: Path, appends: int, status: str | None) -> dict[str, Any]:
    from hub.db import Repository, create_engine, migrate
    from hub.db.events import NewEvent
    from hub.db.models import GameStatus
    from hub.quizfile import demo_quiz
    from hub.quizstore import import_quiz

    engine = create_engine(f"sqlite+aiosqlite:///{directory / 'quizhub.db'}")
    try:
        await migrate(engine)
        repo = Repository.from_engine(engine)
        quiz_id = await import_quiz(repo, demo_quiz()[1])
        game = await repo.create_game(quiz_id, settings={})
        as_status = None if status is None else GameStatus(status)
        times = []
        for seq in range(1, appends + 1):
            t0 = time.perf_counter_ns()
            await repo.append_events(str(game.id), [NewEvent("buzz.received", PAYLOAD)], expected_next_seq=seq,
                                     status=as_status)
            times.append(time.perf_counter_ns() - t0)
        import hub

        return {"ns": times, "hub": str(Path(hub.__file__).parent), "fast_appends": getattr(repo, "fast_appends", None),
                "slow_appends": getattr(repo, "slow_appends", None)}
    finally:
        await engine.dispose()


def raw_case(directory: Path, appends: int, synchronous: str) -> list[int]:
    db = directory / f"raw-{synchronous}.db"
    db.unlink(missing_ok=True)
    con = sqlite3.connect(db, isolation_level=None)
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
    return times


def run_repository_case(root: Path, directory: Path, appends: int, status: str | None) -> dict[str, Any]:
    """One repository case in a fresh process importing `hub` from ``root`` (this tree or --baseline-root)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--case", "--root", str(root), "--dir", str(directory),
           "--appends", str(appends)]
    if status is not None:
        cmd += ["--status", status]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=600)
    return dict(json.loads(res.stdout.strip().splitlines()[-1]))


def git(*args: str) -> str:
    res = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False)
    return res.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--appends", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3, help="each case this many times, shuffled per round")
    parser.add_argument("--disk-dir", default=None, help="default: a tmp dir under the system's tmp (on disk)")
    parser.add_argument("--tmpfs-dir", default="/dev/shm")
    parser.add_argument("--baseline-root", default=None, help="another checkout whose repository to time alongside")
    parser.add_argument("--out", default=None, help="write the results as JSON here (e.g. bench/results/...)")
    parser.add_argument("--case", action="store_true", help=argparse.SUPPRESS)  # child: one repository case
    parser.add_argument("--root", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--dir", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--status", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        sys.path.insert(0, args.root)
        case_dir = Path(tempfile.mkdtemp(prefix="case-", dir=args.dir))
        print(json.dumps(asyncio.run(repository_case(case_dir, args.appends, args.status))))
        return

    trees = {"after": ROOT} if args.baseline_root is None else {"before": Path(args.baseline_root), "after": ROOT}
    cases: list[tuple[str, str | None, str | None]] = [("raw_sqlite3_full", None, None),
                                                        ("raw_sqlite3_normal", None, None)]
    for tree in trees:
        cases += [(f"{tree}:append_events", tree, None), (f"{tree}:append_events_status_running", tree, "running")]
    started = datetime.now(UTC)
    load_start = list(os.getloadavg())
    places = []
    for label, base in (("disk", args.disk_dir), ("tmpfs", args.tmpfs_dir)):
        with tempfile.TemporaryDirectory(prefix="quizhub-append-", dir=base) as tmp:
            d = Path(tmp)
            samples: dict[str, list[int]] = {name: [] for name, _, _ in cases}
            paths: dict[str, list[Any]] = {name: [] for name, tree, _ in cases if tree}
            for _ in range(args.rounds):
                for name, tree, status in random.sample(cases, len(cases)):
                    if tree is None:
                        samples[name] += raw_case(d, args.appends, name.rsplit("_", 1)[1].upper())
                    else:
                        got = run_repository_case(trees[tree], d, args.appends, status)
                        samples[name] += got["ns"]
                        if Path(got["hub"]) != trees[tree].resolve() / "hub":
                            raise SystemExit(f"{name} imported hub from {got['hub']}, not from {trees[tree]}")
                        paths[name].append({"fast": got["fast_appends"], "slow": got["slow_appends"]})
            floor = stats(samples["raw_sqlite3_full"])
            out: dict[str, Any] = {"where": label, "dir": str(d.parent), "appends": args.appends,
                                   "rounds": args.rounds}
            for name, _, _ in cases:
                s: dict[str, Any] = stats(samples[name])
                s["x_raw_full_p50"] = round(s["p50_ms"] / floor["p50_ms"], 2)
                s["x_raw_full_p99"] = round(s["p99_ms"] / floor["p99_ms"], 2)
                if name in paths:
                    s["paths_per_round"] = paths[name]
                out[name] = s
            if "before" in trees:
                out["after_over_before_p50"] = {
                    kind: round(out[f"after:{kind}"]["p50_ms"] / out[f"before:{kind}"]["p50_ms"], 3)
                    for kind in ("append_events", "append_events_status_running")
                }
            print(json.dumps(out), flush=True)
            places.append(out)
    if args.out:
        result = {
            "benchmark": "one event-log append: Repository.append_events (with and without a status) vs plain sqlite3",
            "timestamp": started.isoformat(timespec="seconds"),
            "duration_s": round((datetime.now(UTC) - started).total_seconds(), 1),
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                        "sqlite": sqlite3.sqlite_version, "loadavg_start": load_start,
                        "loadavg_end": list(os.getloadavg())},
            "trees": {k: str(v) for k, v in trees.items()},
            "git": git("rev-parse", "--short", "HEAD"),
            "uncommitted_in_hub": len(git("status", "--porcelain", "--", "hub").splitlines()),
            "note": "Shared 2-core box (other engineers' tests running): quote ratios to raw_sqlite3_full and "
                    "after/before of the same run, not milliseconds.",
            "results": places,
        }
        path = Path(args.out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
