"""How fast the charts are drawn (issue #16 point 4): a run's Gantt chart with many mapped
elements, and the duration chart of a DAG with many runs.

Seeds a fresh database (SQLite in a temporary home, or a new database on ``--db``'s
PostgreSQL server) by bulk inserts: one DAG ``extract`` -> ``square`` (mapped) -> ``report``,
``--runs`` runs, each with ``--elements`` elements of ``square`` and one try per task
instance, one element in ten with a failed first try (a retry). Then times, over
``--repeat`` calls (median and max, in milliseconds): the Gantt read model of the newest run
(``charts.gantt``), the same plus its geometry and its HTML (what the run page adds), and
the duration chart of the grid's page of 25 runs (``charts.durations`` + geometry + HTML).

    .venv/bin/python bench/charts.py                    # SQLite, 200 runs x 1,000 elements
    .venv/bin/python bench/charts.py --db postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import bulk_insert, fresh_database, print_machine
from version_stats import timed

from pinflow.services.commands._push import register_snapshot
from pinflow.services.reads import VersionView, charts
from pinflow.store import migrate
from pinflow.store.db import Database
from pinflow.testing import make_spec
from pinflow.ui.durations import duration_chart
from pinflow.ui.gantt import gantt_chart
from pinflow.ui.templating import render_text

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PAGE = 25


def _version(db: Database) -> VersionView:
    spec = make_spec(
        "bench_charts",
        {"extract": [], "square": [], "report": []},
        task_fields={"square": {"expand": {"x": {"task_id": "extract"}}}},
    )
    return register_snapshot(db, spec, b"", actor="bench").version


def _instances(v: VersionView, elements: int) -> Iterator[tuple[str, int, int]]:
    yield "extract", -1, 1
    for m in range(elements):
        yield "square", m, 2 if m % 10 == 0 else 1
    yield "report", -1, 1


def _rows(v: VersionView, runs: int, elements: int) -> Iterator[tuple[str, dict[str, Any]]]:
    ti_id = 0
    for i in range(1, runs + 1):
        start = T0 + timedelta(hours=i)
        yield "run", {
            "id": i, "dag_id": v.dag_id, "run_id": f"r{i}", "version_id": v.id,
            "snapshot_digest": v.snapshot_digest, "state": "success", "run_after": start,
            "start_date": start, "end_date": start + timedelta(seconds=60 + i % 30),
            "conf": {}, "params": {}, "updated_at": start, "created_at": start,
        }  # fmt: skip
        for k, (task_id, m, tries) in enumerate(_instances(v, elements)):
            ti_id += 1
            begin = start + timedelta(seconds=k % 50)
            yield "ti", {
                "id": ti_id, "run_pk": i, "dag_id": v.dag_id, "task_id": task_id,
                "map_index": m, "state": "success", "try_number": tries,
                "queued_at": begin, "start_date": begin, "end_date": begin + timedelta(seconds=2),
                "updated_at": start,
            }  # fmt: skip
            for n in range(1, tries + 1):
                yield "try", {
                    "ti_id": ti_id, "try_number": n,
                    "state": "up_for_retry" if n < tries else "success",
                    "snapshot_digest": v.snapshot_digest, "version_id": v.id,
                    "start_date": begin + timedelta(seconds=3 * (n - 1)),
                    "end_date": begin + timedelta(seconds=3 * (n - 1) + 2),
                }  # fmt: skip


def seed(db: Database, v: VersionView, runs: int, elements: int) -> float:
    return bulk_insert(db, _rows(v, runs, elements), flush_on="ti", chunk=5000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="a PostgreSQL server URL (a fresh database); default SQLite")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--elements", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home, fresh_database(Path(home), args.db) as url:
        print_machine(url)
        db = Database(url)
        migrate.upgrade(db)
        v = _version(db)
        took = seed(db, v, args.runs, args.elements)
        print(f"  seeded {args.runs:,} runs x {args.elements + 2:,} task instances in {took:.1f} s")
        newest = f"r{args.runs}"
        now = datetime.now(UTC)

        def page() -> str:
            chart = gantt_chart(charts.gantt(db, v.dag_id, newest), now)
            return render_text("_gantt.html", gantt=chart)

        def grid_durations() -> str:
            chart = duration_chart(charts.durations(db, v.dag_id, limit=PAGE))
            return render_text("_durations.html", durations=chart)

        print(f"  gantt: {len(page()):,} bytes of HTML for {args.elements + 2:,} task instances")
        print(
            "  gantt read              "
            + timed(args.repeat, lambda: charts.gantt(db, v.dag_id, newest))
        )
        print("  gantt read+geometry+HTML " + timed(args.repeat, page))
        print(f"  durations ({PAGE} runs) read+geometry+HTML " + timed(args.repeat, grid_durations))
        db.dispose()
    sys.stdout.flush()


if __name__ == "__main__":
    main()
