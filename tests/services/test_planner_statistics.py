"""PostgreSQL's planner statistics of the busiest tables, refreshed by the scheduler when they
changed past autovacuum's analyse threshold (ADR 0046)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import insert, select, text

from pinflow.executors.local import LocalExecutor
from pinflow.scheduler.safety import SafetyNet
from pinflow.services.commands._push import register_snapshot
from pinflow.services.commands._runs import trigger_run
from pinflow.services.engine import statistics
from pinflow.settings import Settings
from pinflow.store.db import Database
from pinflow.store.dialect import STATISTICS_LOCK_KEY
from pinflow.store.tables import DagRun, TaskInstance
from pinflow.testing import make_spec

WIDE = {f"t{i:02d}": [] for i in range(60)}  # a run writes 60 task instances


def _stats(db: Database, table: str) -> tuple[int, int, int]:
    """``n_mod_since_analyze``, the number of analyses (manual and automatic) and the rows
    ever inserted of ``table``."""
    with db.engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT n_mod_since_analyze, analyze_count + autoanalyze_count, n_tup_ins"
                " FROM pg_stat_user_tables WHERE relname = :t AND schemaname = current_schema()"
            ),
            {"t": table},
        ).one()
    return int(row[0]), int(row[1]), int(row[2])


def _counted_insertions(db: Database, until: Callable[[int, int], bool], what: str) -> int:
    """The task instances PostgreSQL has counted as inserted, read every 50 ms until
    ``until(previous, now)`` holds. A backend publishes its counters when idle at most once a
    second, or when it exits: the pool's connections are closed first, and the wait is
    bounded (another process's bookkeeping: there is no event to wait on)."""
    db.engine.dispose()
    deadline = time.monotonic() + 10.0
    now = _stats(db, "task_instance")[2]
    while True:
        time.sleep(0.05)
        previous, now = now, _stats(db, "task_instance")[2]
        if until(previous, now):
            return now
        assert time.monotonic() < deadline, f"PostgreSQL's counters never showed {what}"


def _inserted(db: Database) -> int:
    """The insertions counted so far, once every count still pending has come in (two reads
    50 ms apart agree)."""
    return _counted_insertions(db, lambda previous, now: previous == now, "counters that settle")


def _published(db: Database, inserted: int) -> None:
    """Wait until PostgreSQL counts ``inserted`` task instances."""
    _counted_insertions(db, lambda _, now: now >= inserted, f"{inserted} insertions")


def _analysed(db: Database) -> None:
    """Start from statistics that are fresh."""
    with db.engine.begin() as conn:
        for table in statistics.HOT_TABLES:
            conn.execute(text(f"ANALYZE {table}"))


def _a_wide_run_after_fresh_statistics(db: Database) -> int:
    """Fresh statistics, then one run of ``WIDE`` counted; the insertions counted before it."""
    register_snapshot(db, make_spec("wide", WIDE), actor="t")
    _analysed(db)
    start = _inserted(db)
    trigger_run(db, dag_id="wide", actor="t")
    _published(db, start + 60)
    return start


def test_a_table_changed_past_the_threshold_is_analysed_once(pg_db: Database) -> None:
    db = pg_db
    register_snapshot(db, make_spec("wide", WIDE), actor="t")
    _analysed(db)
    start = _inserted(db)
    _, analyses, _ = _stats(db, "task_instance")
    for _ in range(2):  # 120 task instances: past 50 + 10% of the (empty) table analysed
        trigger_run(db, dag_id="wide", actor="t")
    _published(db, start + 120)

    assert "task_instance" in statistics.refresh_statistics(db)
    after, analyses_after, _ = _stats(db, "task_instance")
    assert (after, analyses_after) == (0, analyses + 1)
    # Fresh now: the next check reads the counters and analyses nothing.
    assert "task_instance" not in statistics.refresh_statistics(db)
    assert _stats(db, "task_instance")[1] == analyses + 1


def test_changes_below_the_threshold_leave_the_statistics_alone(pg_db: Database) -> None:
    db = pg_db
    register_snapshot(db, make_spec("small", {"a": [], "b": ["a"]}), actor="t")
    trigger_run(db, dag_id="small", actor="t")
    with db.engine.begin() as conn:  # 3,000 more task instances: a threshold of 350 changes
        run_pk = conn.execute(select(DagRun.id)).scalar_one()
        rows = [{"run_pk": run_pk, "dag_id": "small", "task_id": f"bulk_{i}"} for i in range(3000)]
        conn.execute(insert(TaskInstance), rows)
    start = _inserted(db)
    _analysed(db)
    _, analyses, _ = _stats(db, "task_instance")
    trigger_run(db, dag_id="small", actor="t")  # 2 task instances
    _published(db, start + 2)

    assert _stats(db, "task_instance")[0] == 2
    assert "task_instance" not in statistics.refresh_statistics(db)
    assert _stats(db, "task_instance")[1] == analyses


def test_one_scheduler_analyses_at_a_time_the_others_skip(pg_db: Database) -> None:
    db = pg_db
    _a_wide_run_after_fresh_statistics(db)
    with db.engine.connect() as other:  # another scheduler, in the middle of its own refresh
        with other.begin():
            lock = text("SELECT pg_try_advisory_xact_lock(:key)")
            held = other.execute(lock, {"key": STATISTICS_LOCK_KEY})
            assert held.scalar() is True
            assert statistics.refresh_statistics(db) == []
        assert "task_instance" in statistics.refresh_statistics(db)


def test_only_postgresql_has_statistics_to_refresh(db: Database) -> None:
    register_snapshot(db, make_spec("wide", WIDE), actor="t")
    trigger_run(db, dag_id="wide", actor="t")
    analysed = statistics.refresh_statistics(db)
    if db.dialect_ops.name == "sqlite":  # SQLite plans without gathered statistics
        assert analysed == []
    else:
        assert set(analysed) <= set(statistics.HOT_TABLES)


@pytest.mark.parametrize("interval", [10.0, 0.0])
def test_the_schedulers_sweep_refreshes_them_every_interval(
    pg_db: Database, tmp_path: Path, interval: float
) -> None:
    """At its first sweep and then every ``statistics_interval`` (0: never)."""
    db = pg_db
    start = _a_wide_run_after_fresh_statistics(db)
    settings = Settings(home=tmp_path, statistics_interval=interval)
    executor = LocalExecutor.from_settings(settings)  # not started: it runs nothing here
    safety = SafetyNet(db, executor, settings, hostname="h", pid=1, note_retry=lambda: None)
    _, analyses, _ = _stats(db, "task_instance")

    safety.sweep()
    assert _stats(db, "task_instance")[1] == analyses + (1 if interval else 0)
    trigger_run(db, dag_id="wide", actor="t")
    _published(db, start + 120)
    safety.sweep()  # stale again, but the interval has not passed
    assert _stats(db, "task_instance")[1] == analyses + (1 if interval else 0)
