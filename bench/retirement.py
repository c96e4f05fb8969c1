"""What the retirement policies cost the scheduler, and the lineage read (issue #18, points 3
and 5; ADR 0031).

Seeds a fresh database (SQLite, or a new database on ``--db``'s PostgreSQL server) with
``--dags`` DAGs of ``--versions`` pushed versions each and ``--runs`` finished runs spread
over them, and gives every DAG the policy ``keep_active=3, purge_deprecated_after=30d``.
Then times the scheduler's pass (``commands.retirement.apply_due``): the first one, which
deprecates every version beyond the three newest (one transaction each), and the idle ones
after it (nothing due: what a pass costs every ``retirement_interval``); and the lineage read
of one DAG (``reads.lineage``, four statements).

    .venv/bin/python bench/retirement.py
    .venv/bin/python bench/retirement.py --db postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import fresh_database, print_machine
from sqlalchemy import insert
from version_stats import timed

from pinflow.services.commands import retirement
from pinflow.services.commands._push import register_snapshot
from pinflow.services.commands._retirement import PolicyInput
from pinflow.services.reads import lineage
from pinflow.store import migrate
from pinflow.store.db import Database
from pinflow.store.tables import DagRun
from pinflow.testing import make_spec

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def seed(db: Database, dags: int, versions: int, runs: int) -> list[tuple[str, str, str]]:
    made = []
    for d in range(dags):
        for n in range(versions):
            spec = make_spec(
                f"bench_retire_{d}", {"a": []}, task_fields={"a": {"bash_command": f"echo {n}"}}
            )
            v = register_snapshot(db, spec, b"", actor="bench").version
            made.append((v.dag_id, v.id, v.snapshot_digest))
    rows: list[dict[str, Any]] = []
    for i in range(runs):
        dag_id, version_id, digest = made[i % len(made)]
        start = T0 + timedelta(minutes=i)
        rows.append(
            {
                "dag_id": dag_id,
                "run_id": f"r{i}",
                "version_id": version_id,
                "snapshot_digest": digest,
                "state": "success" if i % 10 else "failed",
                "run_after": start,
                "start_date": start,
                "end_date": start + timedelta(seconds=5 + i % 30),
                "conf": {},
                "params": {},
                "created_at": start,
                "updated_at": start,
            }
        )
    with db.transaction() as s:
        for at in range(0, len(rows), 5000):
            s.execute(insert(DagRun.__table__), rows[at : at + 5000])
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="a PostgreSQL server URL (a fresh database); default SQLite")
    parser.add_argument("--dags", type=int, default=100)
    parser.add_argument("--versions", type=int, default=10)
    parser.add_argument("--runs", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home, fresh_database(Path(home), args.db) as url:
        print_machine(url)
        db = Database(url)
        migrate.upgrade(db)
        began = time.perf_counter()
        seed(db, args.dags, args.versions, args.runs)
        print(
            f"  seeded {args.dags} DAGs x {args.versions} versions, {args.runs:,} runs "
            f"in {time.perf_counter() - began:.1f} s"
        )
        policy = PolicyInput(keep_active=3, purge_deprecated_after=timedelta(days=30))
        for d in range(args.dags):
            retirement.set_policy(db, f"bench_retire_{d}", policy, actor="bench")
        began = time.perf_counter()
        done = retirement.apply_due(db)
        first = time.perf_counter() - began
        print(
            f"  first pass     {len(done)} deprecations in {first * 1000:.0f} ms "
            f"({first / max(len(done), 1) * 1000:.2f} ms each)"
        )
        print("  idle pass      " + timed(args.repeat, lambda: retirement.apply_due(db)))
        found = lineage.lineage(db, "bench_retire_0")
        total = sum(v.runs.total for v in found.versions)
        print(f"  lineage of one DAG: {len(found.versions)} versions, {total:,} runs")
        print(
            "  lineage        " + timed(args.repeat, lambda: lineage.lineage(db, "bench_retire_0"))
        )
        db.dispose()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
