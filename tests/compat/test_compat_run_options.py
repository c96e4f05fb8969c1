"""Airflow DAG files with ``dagrun_timeout`` and ``depends_on_past`` run by the real scheduler
and local executor (real task processes), on SQLite and PostgreSQL (ADR 0038). Driven by the
scheduler's own steps (which wait on the executor's pipe) and drains: no sleeps."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update
from tests.compat.run_dag_files import PAST, TIMEOUT
from tests.scheduler.helpers import (
    DRAIN_TIMEOUT,
    push_dag,
    run_state,
    task_instances,
    tries_of,
)

from pinflow.runtime.paths import staging_path
from pinflow.scheduler.loop import Scheduler
from pinflow.services.commands._clear import clear_task_instances
from pinflow.services.commands._runs import trigger_run
from pinflow.services.engine import fail_timed_out_runs, schedule_pass
from pinflow.settings import Settings
from pinflow.store.db import Database
from pinflow.store.tables import AuditEvent, DagRun


def _step_until(scheduler: Scheduler, done: object, what: str) -> None:
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while not done():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what} never happened"
        scheduler.step(0.05)  # waits on the executor's pipe and the timers, not a sleep


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


def _finished_events(db: Database, dag_id: str) -> list[dict[str, object]]:
    with db.read() as s:
        return [
            dict(meta)
            for meta in s.scalars(
                select(AuditEvent.meta).where(
                    AuditEvent.action == "run.finished", AuditEvent.dag_id == dag_id
                )
            )
        ]


def test_a_run_past_its_dagrun_timeout_fails_skips_its_tasks_and_kills_the_live_try(
    db: Database, scheduler: Scheduler, settings: Settings, tmp_path: Path
) -> None:
    push_dag(db, tmp_path / "dags", "timeout", TIMEOUT)
    trigger_run(db, dag_id="timeout", run_id="r1", actor="tester")
    scheduler.wake()
    pid_file = staging_path(settings.staging_dir, "timeout", "r1") / "sleeper.pid"
    _step_until(scheduler, lambda: pid_file.exists() and pid_file.read_text(), "the sleeper")
    pid = int(pid_file.read_text())
    assert scheduler._timers.deadline is not None  # the timer waits for the run's deadline
    with db.transaction() as s:  # the run started two hours ago: its hour is over
        s.execute(
            update(DagRun)
            .where(DagRun.dag_id == "timeout")
            .values(start_date=datetime.now(UTC) - timedelta(hours=2))
        )
    scheduler._timers.deadline = 0.0  # what the timer set at the start would say by now
    _step_until(scheduler, lambda: run_state(db, "timeout", "r1") == "failed", "the timeout")
    assert scheduler.drain(DRAIN_TIMEOUT)
    assert _gone(pid)
    tis = task_instances(db, "timeout", "r1")
    assert {t: ti.state for t, ti in tis.items()} == {"sleeper": "skipped", "after": "skipped"}
    (first,) = tries_of(db, tis["sleeper"].id)
    assert (first.state, first.error) == ("skipped", "run timed out")
    [event] = _finished_events(db, "timeout")
    assert (event["outcome"], event["reason"], event["stoppedTasks"]) == ("failed", "timed out", 2)
    # A second scheduler (or a second sweep) finds nothing to fail: the run fails once.
    assert fail_timed_out_runs(db).failed_runs == ()
    assert len(_finished_events(db, "timeout")) == 1


def test_depends_on_past_holds_the_next_run_until_the_past_one_succeeds(
    db: Database, scheduler: Scheduler, tmp_path: Path
) -> None:
    flag, order = tmp_path / "ready", tmp_path / "order.txt"
    push_dag(db, tmp_path / "dags", "past", PAST.format(flag=str(flag), order=str(order)))
    day = datetime(2024, 3, 1, tzinfo=UTC)
    trigger_run(db, dag_id="past", run_id="r1", logical_date=day, actor="tester")
    scheduler.wake()
    assert scheduler.drain(DRAIN_TIMEOUT)
    assert run_state(db, "past", "r1") == "failed"  # the first run has no past: it ran
    trigger_run(db, dag_id="past", run_id="r2", logical_date=day + timedelta(days=1), actor="t")
    scheduler.wake()
    _step_until(scheduler, lambda: run_state(db, "past", "r2") == "running", "run 2's start")
    schedule_pass(db)
    schedule_pass(db)
    assert task_instances(db, "past", "r2")["load"].state == "none"  # waits on r1's failure
    flag.touch()
    clear_task_instances(
        db, "past", actor="alice", task_ids=["load"], only_failed=False, dag_run_id="r1"
    )
    scheduler.wake()
    assert scheduler.drain(DRAIN_TIMEOUT)  # r1's success wakes r2 up
    assert (run_state(db, "past", "r1"), run_state(db, "past", "r2")) == ("success", "success")
    assert order.read_text().split() == ["r1", "r1", "r2"]
