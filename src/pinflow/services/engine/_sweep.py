"""The scheduler's passes over every running run: the safety sweep (``schedule_pass``) and
the retry timer (``release_due_retries``).

Reports advance their own runs (``advance_run`` on the hot path); these passes are the safety
net for what no report moves on, on the scheduler's timers (ADR 0009, ADR 0010).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Table, bindparam, exists, select, update

from pinflow.lifecycle.states import DUE_AGAIN_STATES, RunState, TaskState
from pinflow.services import common
from pinflow.services.engine._new_runs import start_queued_runs
from pinflow.services.engine._scheduling import advance_runs
from pinflow.services.engine._sensors import resume_deferred
from pinflow.store.db import Database
from pinflow.store.tables import DagRun, TaskInstance

_TI = cast(Table, TaskInstance.__table__)
_LIVE_OR_READY = [
    state.value for state in (TaskState.SCHEDULED, TaskState.QUEUED, TaskState.RUNNING)
]
_RUNNING_RUNS = select(DagRun.id).where(DagRun.state == RunState.RUNNING.value)
_QUIET_RUNS = _RUNNING_RUNS.where(
    ~exists().where(_TI.c.run_pk == DagRun.id, _TI.c.state.in_(_LIVE_OR_READY))
)
_RELEASE_ALL_DUE_RETRIES = (
    update(_TI)
    .where(_TI.c.state.in_(sorted(DUE_AGAIN_STATES)), _TI.c.next_try_at <= bindparam("due_by"))
    .where(_TI.c.run_pk.in_(_RUNNING_RUNS))
    .values(state=TaskState.SCHEDULED.value, next_try_at=None, updated_at=bindparam("stamp"))
)


def schedule_pass(
    db: Database,
    *,
    now: datetime | None = None,
    retries_due_by: datetime | None = None,
    quiet_only: bool = False,
) -> int:
    """One scheduler pass: start queued runs, then advance every running run.

    ``quiet_only``: only the running runs with no task instance scheduled, queued or running,
    the ones no report will move on: the safety sweep's pass, which must not re-plan a large
    run that is busy every second (its reports plan it; a full pass costs its size).

    One transaction per run, so a slow or conflicting run never holds back the others. Returns
    the number of changes (runs started plus rows changed); 0 means there was nothing to do.
    """
    changes = start_queued_runs(db, now=now) + resume_deferred(db, now=now)
    with db.read() as s:
        stmt = (_QUIET_RUNS if quiet_only else _RUNNING_RUNS).order_by(DagRun.id)
        run_pks = list(common.conn(s).execute(stmt).scalars())
    return changes + advance_runs(db, run_pks, now=now, retries_due_by=retries_due_by)


def release_due_retries(db: Database, *, now: datetime | None = None) -> int:
    """``up_for_retry`` and ``up_for_reschedule`` -> ``scheduled`` for every due retry or poke
    of a running run (one statement), and the check of every due deferred sensor
    (``resume_deferred``): what the scheduler's retry timer does. Returns how many moved."""
    stamp = now or common.now()
    with db.transaction() as s:
        params = {"due_by": stamp, "stamp": stamp}
        released = _rowcount(common.conn(s).execute(_RELEASE_ALL_DUE_RETRIES, params))
    return released + resume_deferred(db, now=stamp)


def _rowcount(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount
