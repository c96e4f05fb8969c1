"""A sensor's waits (ADR 0036): the report of a poke that is not done, and the scheduler's
check of a deferred sensor's trigger.

A poke that is not done (``TaskResult.sensor``) ends its try without ending its task
instance: it waits ``up_for_reschedule`` until its next poke is due (the retry timer releases
it, ``_sweep``), or ``deferred`` until the scheduler sees its trigger hold
(``resume_deferred``). Neither holds a process or a slot. Each wait grants the task instance
one more try (``max_tries + 1``), so the next poke spends none of its retries. The decisions
are ``pinflow.lifecycle.sensor_rules``'; every write is guarded on the state and try number
it was decided from, so of two schedulers checking one deferred sensor, one wins and the
other changes nothing.
"""

from __future__ import annotations

import glob
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from pinflow.errors import ConflictError, NotFoundError
from pinflow.lifecycle.sensor_rules import (
    SensorDecision,
    after_check,
    after_poke,
    check_trigger,
    trigger_moment,
)
from pinflow.lifecycle.states import FINISHED_TASK_STATES, RunState, TaskState
from pinflow.lifecycle.try_rules import TryPosition
from pinflow.services import common
from pinflow.services.engine._scheduling import RunRow, advance_run
from pinflow.services.engine._try_rows import TiRow, guarded, guarded_stmt, lock
from pinflow.spec.models import SensorSpec
from pinflow.store.db import Database
from pinflow.store.prepared import Prepared
from pinflow.store.repo import cached_spec
from pinflow.store.tables import DagRun, TaskInstance, TaskInstanceTry

_TI = cast(Table, TaskInstance.__table__)
_TRY = cast(Table, TaskInstanceTry.__table__)
# Not the hot path (a sensor's report, a deferred check): plain statements.
_WAIT = select(_TI.c.first_poke_at, _TI.c.sensor_pokes, _TI.c.trigger, _TI.c.next_try_at).where(
    _TI.c.id == bindparam("ti")
)
_TRY_START = select(_TRY.c.start_date).where(
    _TRY.c.ti_id == bindparam("ti"), _TRY.c.try_number == bindparam("try")
)
_END_TRY = Prepared(
    update(_TRY)
    .where(_TRY.c.ti_id == bindparam("ti"), _TRY.c.try_number == bindparam("try"))
    .values(state=bindparam("v_state"), end_date=bindparam("v_end"), error=bindparam("v_error"))
)
_COLUMNS = ("state", "end_date", "updated_at", "next_try_at", "max_tries")
_WAIT_COLUMNS = ("first_poke_at", "sensor_pokes", "trigger")
_AFTER_POKE = guarded_stmt(*_COLUMNS, *_WAIT_COLUMNS)
_AFTER_CHECK = guarded_stmt(*_COLUMNS, "sensor_pokes")
_DUE_DEFERRED = (
    select(_TI.c.id)
    .join(DagRun, DagRun.id == _TI.c.run_pk)
    .where(_TI.c.state == TaskState.DEFERRED.value, _TI.c.next_try_at <= bindparam("due_by"))
    .where(DagRun.state == RunState.RUNNING.value)
    .order_by(_TI.c.next_try_at)
)


def sensor_of(s: Session, run: RunRow, task_id: str) -> SensorSpec | None:
    task = cached_spec(s, run.snapshot_digest).task(task_id)
    return task.sensor if task is not None else None


def report_sensor(
    s: Session,
    run: RunRow,
    ti: TiRow,
    running: TryPosition,
    *,
    outcome: str,
    trigger: dict[str, Any] | None,
    stamp: datetime,
) -> TaskState:
    """Record a sensor's try that did not end (``reschedule``, ``defer``, ``timeout``), in the
    caller's transaction; ``finish_in`` has checked that the try is the running one."""
    found = sensor_of(s, run, ti.task_id)
    sensor = found or SensorSpec()
    first_poke_at, pokes, _, _ = common.conn(s).execute(_WAIT, {"ti": ti.id}).one()
    if first_poke_at is None:
        params = {"ti": ti.id, "try": running.try_number}
        first_poke_at = common.conn(s).execute(_TRY_START, params).scalar() or stamp
    problem = check_trigger(trigger or {}) if outcome == "defer" else None
    if found is None:  # a stale or forged report: the task is no sensor in its version
        problem = f"the try reported a sensor's {outcome!r}, but the task is not a sensor"
        decision = SensorDecision(TaskState.FAILED, None, problem)
    elif problem is not None:
        decision = SensorDecision(TaskState.FAILED, None, f"cannot defer: {problem}")
    else:
        decision = after_poke(
            sensor,
            outcome,
            first_poke_at=first_poke_at,
            pokes=pokes + 1,
            now=stamp,
            trigger=trigger,
        )
    finished = decision.state in FINISHED_TASK_STATES
    values = _values(ti, decision, stamp, finished=finished)
    values.update(v_first_poke_at=first_poke_at, v_sensor_pokes=pokes + 1, v_trigger=trigger)
    guarded(s, ti, running, stmt=_AFTER_POKE, values=values)
    _end_try(s, ti.id, running.try_number, decision, stamp)
    advance_run(s, run, now=stamp, changed=[ti.task_id])
    return decision.state


def resume_deferred(db: Database, *, now: datetime | None = None) -> int:
    """Check the trigger of every deferred sensor that is due (of a running run), one
    transaction each: it succeeds when the trigger holds, ends by its timeout, or waits on.
    Returns how many changed state."""
    stamp = now or common.now()
    with db.read() as s:
        due = list(common.conn(s).execute(_DUE_DEFERRED, {"due_by": stamp}).scalars())
    changed = 0
    for ti_id in due:
        try:
            with db.transaction() as s:
                changed += _check(s, ti_id, stamp)
        except (ConflictError, NotFoundError):  # checked, cleared or deleted meanwhile
            continue
    return changed


def trigger_fired(trigger: dict[str, Any] | None, now: datetime) -> bool:
    """Whether a deferred sensor's trigger holds, checked here on the scheduler's host: a
    moment reached, or a file (a glob pattern) that exists, which assumes that the sensor's
    path is on a filesystem the scheduler shares with the workers (ADR 0036)."""
    if not trigger:
        return False
    at = trigger_moment(trigger)
    if at is not None:
        return now >= at
    if trigger.get("kind") == "file":
        recursive = bool(trigger.get("recursive", False))
        return bool(glob.glob(str(trigger["path"]), recursive=recursive))
    return False


def _check(s: Session, ti_id: int, stamp: datetime) -> int:
    run, ti = lock(s, ti_id)
    if ti.state != TaskState.DEFERRED.value:
        return 0
    first_poke_at, checks, trigger, next_try_at = common.conn(s).execute(_WAIT, {"ti": ti_id}).one()
    if next_try_at is None or next_try_at > stamp:
        return 0  # checked meanwhile
    sensor = sensor_of(s, run, ti.task_id) or SensorSpec()
    decision = after_check(
        sensor,
        trigger,
        fired=trigger_fired(trigger, stamp),
        first_poke_at=first_poke_at or stamp,
        checks=checks + 1,
        now=stamp,
    )
    finished = decision.state in FINISHED_TASK_STATES
    values = _values(ti, decision, stamp, finished=finished)
    values["v_sensor_pokes"] = checks + 1
    deferred = TryPosition(TaskState.DEFERRED, ti.try_number)
    guarded(s, ti, deferred, stmt=_AFTER_CHECK, values=values)
    if finished:
        _end_try(s, ti.id, ti.try_number, decision, stamp)
        advance_run(s, run, now=stamp, changed=[ti.task_id])
    return 1 if finished else 0


def _values(
    ti: TiRow, decision: SensorDecision, stamp: datetime, *, finished: bool
) -> dict[str, Any]:
    # A reschedule grants one more try: the next poke spends none of the task's retries.
    rescheduled = decision.state == TaskState.UP_FOR_RESCHEDULE
    return {
        "v_state": decision.state.value,
        "v_end_date": stamp,
        "v_updated_at": stamp,
        "v_next_try_at": None if finished else decision.next_try_at,
        "v_max_tries": ti.max_tries + 1 if rescheduled else ti.max_tries,
    }


def _end_try(
    s: Session, ti_id: int, try_number: int, decision: SensorDecision, stamp: datetime
) -> None:
    params = {
        "ti": ti_id,
        "try": try_number,
        "v_state": decision.state.value,
        "v_end": stamp,
        "v_error": decision.error,
    }
    _END_TRY.execute(common.conn(s), params)
