"""``dagrun_timeout``: the scheduler fails the running runs that outlived their DAG's timeout
(``lifecycle.timeout_rules``), and says when the next one is due so that its timer wakes it
then (ADR 0010, ADR 0038).

A timed-out run is failed in one transaction: under its row lock, its start re-read, its
unfinished task instances become ``skipped`` (the live tries' history rows are closed with
"run timed out", as an operator's "mark failed" does), the run's state moves with a guarded
``UPDATE … WHERE state = 'running'`` (two schedulers fail it once: the second one's update
matches no row and it changes nothing), and the verdict is audited (``run.finished`` with
``reason: "timed out"``). The ids of the task instances that were live are returned: the
scheduler kills their tries at once (the heartbeat's conflict would, a heartbeat later).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from pinflow.lifecycle.states import RunState
from pinflow.lifecycle.timeout_rules import (
    TIMED_OUT_REASON,
    is_timed_out,
    run_deadline,
    timeout_moves,
)
from pinflow.services import audit_events as events
from pinflow.services import common
from pinflow.services.audit_events import record
from pinflow.services.common import SYSTEM_ACTOR
from pinflow.services.engine import _wakeups as wakeups
from pinflow.services.engine._run_callbacks import TIMED_OUT_REASON as CALLBACK_TIMED_OUT
from pinflow.services.engine._run_callbacks import queue_run_callbacks
from pinflow.services.engine._run_marks import mark_tasks
from pinflow.services.engine._scheduling import execute_guarded, lock_run
from pinflow.store.db import Database
from pinflow.store.repo import SpecCache
from pinflow.store.tables import DagRun

_STARTED = (DagRun.state == RunState.RUNNING.value, DagRun.start_date.is_not(None))
# One row per snapshot the running runs are pinned to, not one per run (ADR 0043): a sweep
# reads each run only when its snapshot's earliest start is past the timeout.
_RUNNING_BY_SNAPSHOT = (
    select(DagRun.snapshot_digest, func.min(DagRun.start_date))
    .where(*_STARTED)
    .group_by(DagRun.snapshot_digest)
)
_RUNNING_OF_SNAPSHOT = select(DagRun.id, DagRun.start_date).where(
    *_STARTED, DagRun.snapshot_digest == bindparam("digest")
)


@dataclass(frozen=True)
class TimeoutSweep:
    """What ``fail_timed_out_runs`` did: the runs it failed, the task instances whose tries it
    stopped, and when the next running run times out (``None``: none will)."""

    failed_runs: tuple[int, ...]
    stopped_tis: tuple[int, ...]
    next_deadline: datetime | None


def fail_timed_out_runs(db: Database, *, now: datetime | None = None) -> TimeoutSweep:
    """Fail every running run past its ``dagrun_timeout`` (one transaction each)."""
    stamp = now or common.now()
    due: list[int] = []
    upcoming: list[datetime] = []
    with db.read() as s:
        specs = SpecCache(s)
        for digest, earliest in s.execute(_RUNNING_BY_SNAPSHOT).all():
            timeout = specs.get(digest).dagrun_timeout
            if timeout is None:
                continue
            if not is_timed_out(earliest, timeout, stamp):
                if (deadline := run_deadline(earliest, timeout)) is not None:
                    upcoming.append(deadline)
                continue
            for run_pk, start in s.execute(_RUNNING_OF_SNAPSHOT, {"digest": digest}).all():
                if is_timed_out(start, timeout, stamp):
                    due.append(run_pk)
                elif (deadline := run_deadline(start, timeout)) is not None:
                    upcoming.append(deadline)
    failed: list[int] = []
    stopped: list[int] = []
    for run_pk in due:
        with db.transaction() as s:
            live = _fail_timed_out(s, run_pk, stamp)
        if live is not None:
            failed.append(run_pk)
            stopped += live
    return TimeoutSweep(tuple(failed), tuple(stopped), min(upcoming, default=None))


def _fail_timed_out(s: Session, run_pk: int, stamp: datetime) -> list[int] | None:
    """The run failed for its timeout, in the caller's transaction; ``None`` if it was not
    (any more) a running run past its timeout: another scheduler, a clear or a mark got there
    first."""
    run = lock_run(s, run_pk)
    if run is None or run.state != RunState.RUNNING.value:
        return None
    spec = SpecCache(s).get(run.snapshot_digest)
    if not is_timed_out(run.start_date, spec.dagrun_timeout, stamp):
        return None
    changed, live = mark_tasks(s, run.id, timeout_moves(), f"run {TIMED_OUT_REASON}")
    if not execute_guarded(
        s,
        update(DagRun)
        .where(DagRun.id == run.id, DagRun.state == RunState.RUNNING.value)
        .values(state=RunState.FAILED.value, end_date=stamp, updated_at=stamp),
    ):
        return None
    wakeups.run_queued(s)  # a slot of max_active_runs is free
    entry = events.run_finished(
        run, RunState.FAILED, [], reason=TIMED_OUT_REASON, stopped_tasks=changed
    )
    record(s, SYSTEM_ACTOR, entry)
    queue_run_callbacks(s, run.id, spec, RunState.FAILED, CALLBACK_TIMED_OUT)
    return live
