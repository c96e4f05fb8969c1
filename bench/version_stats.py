"""How fast per-version run statistics stay at scale (issue #18, point 1): 100,000 runs.

Seeds a fresh database (SQLite in a temporary home, or a new database on ``--db``'s
PostgreSQL server) with one DAG of three tasks and two versions, then ``--runs`` runs split
between them by bulk inserts: each run has one task instance per task and one try each, one
run in ten a failed first try of ``load`` (a retry), one in twenty a failed run. Then times
``version_stats`` of one version and ``compare`` of the two (the read model the API, CLI and
UI call), over ``--repeat`` calls: median and max, in milliseconds.

    .venv/bin/python bench/version_stats.py                       # SQLite, 100,000 runs
    .venv/bin/python bench/version_stats.py --db postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import bulk_insert, fresh_database, print_machine

from pinflow.services.commands._push import register_snapshot
from pinflow.services.reads import VersionView
from pinflow.services.reads import version_stats as stats
from pinflow.store import migrate
from pinflow.store.db import Database
from pinflow.testing import make_spec

TASKS = {"extract": [], "transform": ["extract"], "load": ["transform"]}
CHUNK = 5000
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _versions(db: Database) -> tuple[VersionView, VersionView]:
    made = []
    for n in (1, 2):
        spec = make_spec("bench_stats", TASKS, task_fields={"load": {"bash_command": f"echo {n}"}})
        made.append(register_snapshot(db, spec, b"", actor="bench").version)
    return made[0], made[1]


def _rows(
    versions: tuple[VersionView, VersionView], runs: int, every: int = 2
) -> Iterator[tuple[str, Any]]:
    """(table, row) in insertion order: each run, then its task instances and their tries.
    One run in ``every`` is v2's (2: half; 100: v2 is 1% of the history, as a new version)."""
    ti_id = 0
    for i in range(1, runs + 1):
        v = versions[1] if i % every == 1 % every else versions[0]
        start = T0 + timedelta(minutes=i)
        seconds = 10 + (i * 7919) % 50 / (1 if v is versions[0] else 5)
        state = "failed" if i % 15 == 0 else "success"
        yield "run", {
            "id": i, "dag_id": v.dag_id, "run_id": f"r{i}", "version_id": v.id,
            "snapshot_digest": v.snapshot_digest, "state": state, "run_after": start,
            "start_date": start, "end_date": start + timedelta(seconds=seconds), "conf": {},
            "params": {}, "updated_at": start, "created_at": start,
        }  # fmt: skip
        for k, task_id in enumerate(TASKS):
            ti_id += 1
            tries = 2 if task_id == "load" and i % 9 == 0 else 1
            yield "ti", {
                "id": ti_id, "run_pk": i, "dag_id": v.dag_id, "task_id": task_id,
                "state": "success", "try_number": tries, "updated_at": start,
            }  # fmt: skip
            for number in range(1, tries + 1):
                begin = start + timedelta(seconds=k * seconds / 3)
                yield "try", {
                    "ti_id": ti_id, "try_number": number,
                    "state": "failed" if number < tries else "success",
                    "snapshot_digest": v.snapshot_digest, "version_id": v.id,
                    "start_date": begin, "end_date": begin + timedelta(seconds=seconds / 3),
                }  # fmt: skip


def seed(
    db: Database, versions: tuple[VersionView, VersionView], runs: int, every: int = 2
) -> float:
    return bulk_insert(db, _rows(versions, runs, every), flush_on="run", chunk=CHUNK)


def timed(repeat: int, call: Any) -> str:
    """Wall and CPU time per call (median, max; ms). SQLite runs in this process, so its CPU
    time is the query's own, whatever else the machine runs; PostgreSQL's is the server's and
    only the wall time tells."""
    wall, cpu = [], []
    for _ in range(repeat):
        began, began_cpu = time.perf_counter(), time.process_time()
        call()
        wall.append((time.perf_counter() - began) * 1000)
        cpu.append((time.process_time() - began_cpu) * 1000)
    return (
        f"wall median {statistics.median(wall):7.1f} ms  max {max(wall):7.1f} ms   "
        f"client CPU median {statistics.median(cpu):7.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="a PostgreSQL server URL (a fresh database); default SQLite")
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument(
        "--every", type=int, default=2, help="one run in EVERY is v2's (default 2: half)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home, fresh_database(Path(home), args.db) as url:
        print_machine(url)
        db = Database(url)
        migrate.upgrade(db)
        versions = _versions(db)
        print(f"  seeded {args.runs:,} runs in {seed(db, versions, args.runs, args.every):.1f} s")
        one = stats.version_stats(db, versions[1].id)
        print(f"  v2: {one.runs:,} runs, success {one.success_rate:.0%}, p95 {one.p95_seconds} s")
        print(
            "  version_stats  "
            + timed(args.repeat, lambda: stats.version_stats(db, versions[1].id))
        )
        pair = versions[1].id, versions[0].id
        print("  compare        " + timed(args.repeat, lambda: stats.compare(db, *pair)))
        print("  " + stats.compare(db, versions[1].id, versions[0].id).summary)
        db.dispose()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
