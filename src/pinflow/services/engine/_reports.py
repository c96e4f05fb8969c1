"""Finishing tries: how a try ended (``finish_task``), its value stored, its run advanced.

A report is for the try that runs now (``pinflow.lifecycle.try_rules``): one that does not
match (a duplicate, or a stale result arriving after the task was cleared) raises
``ConflictError`` and changes nothing, never a lost update. Every refusal is raised before
anything is written. What the try becomes is ``try_rules``' decision too: ``skipped`` wins
over ``success``, a failure is retried while tries remain, and only a successful try's value
is stored. The run advances in the same transaction (``advance_run``), so downstream tasks
are scheduled at once.

Task results are not audit events: there are far too many, and the task instance and its try
rows already record who ran what, when, on which snapshot.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from enum import Enum
from typing import Any, Final, NamedTuple, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from pinflow.lifecycle.run_planning import RetryDecision
from pinflow.lifecycle.states import TaskState, can_report
from pinflow.lifecycle.try_rules import (
    TryPosition,
    after_failure,
    after_interruption,
    keeps_return_value,
    position_while_running,
    report_outcome,
)
from pinflow.runtime.contract import XCOM_DB_LIMIT
from pinflow.services import common
from pinflow.services.engine import _xcom_store as xcom_store
from pinflow.services.engine._assets import emit_outlet_events
from pinflow.services.engine._flow import decide_flow, skip_decided
from pinflow.services.engine._scheduling import RunRow, advance_run
from pinflow.services.engine._sensors import report_sensor
from pinflow.services.engine._try_rows import (
    TiRow,
    confirm,
    expect,
    guarded_params,
    guarded_stmt,
    lock,
)
from pinflow.services.engine._wakeups import run_queued
from pinflow.services.engine._xcom_store import TryIdentity, XComColumns
from pinflow.services.xcom_values import RETURN_VALUE
from pinflow.store.db import Database
from pinflow.store.prepared import Prepared, Together
from pinflow.store.repo import cached_spec
from pinflow.store.tables import TaskInstanceTry, XCom

# The default of ``finish_task``'s ``xcom_db_limit``: larger values belong in the artifact store.
XCOM_DB_LIMIT_BYTES: Final = XCOM_DB_LIMIT
# The default of ``Settings.max_interruptions``: interruptions in a row retried for free.
MAX_INTERRUPTIONS: Final = 3


class _NoXCom(Enum):
    NO_XCOM = "no_xcom"


NO_XCOM: Final = _NoXCom.NO_XCOM
"""``finish_task(xcom=NO_XCOM)``: the try returned nothing to store (``None`` is a value)."""


_TRY = cast(Table, TaskInstanceTry.__table__)
_END = guarded_stmt("state", "end_date", "updated_at", "next_try_at")
# An interrupted try is granted one more try, so that its retry spends none of the task's.
_END_INTERRUPTED = guarded_stmt("state", "end_date", "updated_at", "next_try_at", "max_tries")
_END_TRY = Prepared(
    update(_TRY)
    .where(_TRY.c.ti_id == bindparam("ti"), _TRY.c.try_number == bindparam("try"))
    .values(
        state=bindparam("v_state"),
        end_date=bindparam("v_end"),
        error=bindparam("v_error"),
        interrupted=bindparam("v_interrupted"),
    )
)
# The end of a try: its task instance (guarded) and its try row, in one round trip (ADR 0048).
_ENDING = Together(_END, _END_TRY)
_ENDING_INTERRUPTED = Together(_END_INTERRUPTED, _END_TRY)
# Whether each of a task instance's latest earlier tries was an interruption, newest first.
_EARLIER_INTERRUPTIONS = Prepared(
    select(_TRY.c.interrupted)
    .where(_TRY.c.ti_id == bindparam("ti"), _TRY.c.try_number < bindparam("try"))
    .order_by(_TRY.c.try_number.desc())
    .limit(bindparam("n"))
)
_XCOM_COLUMNS = (
    "run_pk",
    "task_id",
    "map_index",
    "key",
    "value",
    "size",
    "artifact_uri",
    "artifact_sha256",
    "value_length",
    "created_at",
)
_INSERT_XCOM = Prepared(
    insert(cast(Table, XCom.__table__)).values({c: bindparam(c) for c in _XCOM_COLUMNS})
)


def finish_task(
    db: Database,
    ti_id: int,
    *,
    try_number: int,
    success: bool,
    error: str | None = None,
    xcom: Any = NO_XCOM,
    skipped: bool = False,
    now: datetime | None = None,
    xcom_db_limit: int = XCOM_DB_LIMIT_BYTES,
    interrupted: bool = False,
    max_interruptions: int = MAX_INTERRUPTIONS,
    wake: bool = False,
    also: Callable[[Session], None] | None = None,
    sensor: str | None = None,
    trigger: dict[str, Any] | None = None,
) -> TaskState:
    """Report how try ``try_number`` ended; returns the task instance's new state.

    ``wake``: the report comes from another process than the schedulers' (a remote worker's,
    through the execution API), so its commit wakes them (``wakeups``) to claim what became
    ready. ``also``: more to write in the same transaction once the report is accepted (the
    end of the try's log), so that it is written with the result or not at all.

    ``skipped`` wins over ``success`` (the task asked to be skipped). A failure becomes
    ``up_for_retry`` while tries remain, else ``failed``. ``xcom`` is stored as the
    ``return_value`` of a successful try (ignored otherwise): a JSON value of at most
    ``xcom_db_limit`` bytes once encoded, or a ``xcom_store.StoredXCom`` (the reference to the
    try's artifact, recorded without reading it); else ``InvalidInputError`` and nothing
    changes. The run advances in the same transaction, so downstream tasks are scheduled at
    once.

    ``interrupted``: the infrastructure ended the failed try (``TaskResult.interrupted``). It is
    retried at once with one more try granted, so it spends none of the task's retries, up to
    ``max_interruptions`` interruptions in a row; the try row records it (``interrupted``).

    ``sensor``/``trigger``: a sensor's try that did not end (``TaskResult.sensor``): it waits
    ``up_for_reschedule`` or ``deferred``, or ends by its timeout (``_sensors``).
    """
    report = TaskReport(
        ti_id,
        try_number,
        success,
        error,
        xcom,
        skipped,
        xcom_db_limit,
        interrupted=interrupted,
        max_interruptions=max_interruptions,
        sensor=sensor,
        trigger=trigger,
    )
    with db.transaction() as s:
        state = finish_in(s, report, now or common.now())
        if also is not None:
            also(s)
        if wake:
            run_queued(s)
        return state


class TaskReport(NamedTuple):
    """How one try ended, as ``finish_task`` takes it (``report_and_claim`` takes several)."""

    ti_id: int
    try_number: int
    success: bool
    error: str | None = None
    xcom: Any = NO_XCOM
    skipped: bool = False
    xcom_db_limit: int = XCOM_DB_LIMIT_BYTES  # for an inline value (the settings' limit)
    interrupted: bool = False  # the infrastructure ended the try (``finish_task``)
    max_interruptions: int = MAX_INTERRUPTIONS
    sensor: str | None = None  # a sensor's try that did not end (``TaskResult.sensor``)
    trigger: dict[str, Any] | None = None  # what a deferred sensor waits on


def finish_in(s: Session, report: TaskReport, stamp: datetime) -> TaskState:
    """``finish_task`` in the caller's transaction. Every refusal (``ConflictError``,
    ``NotFoundError``, ``InvalidInputError``) is raised before anything is written."""
    try_number, success, skipped, error = (
        report.try_number,
        report.success,
        report.skipped,
        report.error,
    )
    run, ti = lock(s, report.ti_id)
    running = position_while_running(try_number)
    expect(ti, running, f"report try {try_number} of")
    if report.sensor is not None and not report.success:
        return report_sensor(
            s, run, ti, running, outcome=report.sensor, trigger=report.trigger, stamp=stamp
        )
    xcom = report.xcom
    stored = xcom is not NO_XCOM and keeps_return_value(success=success, skipped=skipped)
    payload = _encode_xcom(run, ti, xcom, report.xcom_db_limit) if stored else None
    ended = report_outcome(success=success, skipped=skipped)
    forgiven = False
    if ended is not None:
        decision = RetryDecision(ended, None)
    elif report.interrupted and (retry := _interruption(s, run, ti, report, stamp)) is not None:
        decision, forgiven = retry, True
        error = f"interrupted: {error} (retried at once; no retry spent)"
    else:
        decision = _after_failure(s, run, ti, try_number, stamp)
        if report.interrupted:
            error = (
                f"{error} (interrupted {report.max_interruptions} times in a row before: "
                "counted as a failure)"
            )
    value = None if xcom is NO_XCOM else xcom
    flow = decide_flow(s, run, ti, value) if decision.state == TaskState.SUCCESS else None
    if flow is not None and flow.error is not None:  # fails the try, as Airflow raises
        failure = _after_failure(s, run, ti, try_number, stamp)
        decision, error, payload = failure, flow.error, None
    assert can_report(TaskState.RUNNING, decision.state)
    # the first write
    _end_try(s, ti, running, decision, error=error, stamp=stamp, interrupted=forgiven)
    if payload is not None:
        _store_xcom(s, ti, payload, stamp)
    decided = skip_decided(s, run, flow, stamp) if flow is not None and flow.skip else []
    if decision.state == TaskState.SUCCESS:
        _emit_outlet_events(s, run, ti, stamp)
    advance_run(s, run, now=stamp, changed=[ti.task_id, *decided])
    return decision.state


def _emit_outlet_events(s: Session, run: RunRow, ti: TiRow, stamp: datetime) -> None:
    """A success updates the task's outlets: their events are written with it (ADR 0037)."""
    task = cached_spec(s, run.snapshot_digest).task(ti.task_id)
    if task is not None and task.outlets:
        source = (run.dag_id, run.run_id, ti.task_id, ti.map_index)
        emit_outlet_events(s, task.outlets, source, stamp)


def _end_try(
    s: Session,
    ti: TiRow,
    running: TryPosition,
    decision: RetryDecision,
    *,
    error: str | None,
    stamp: datetime,
    interrupted: bool = False,
) -> None:
    values: dict[str, Any] = {
        "v_state": decision.state.value,
        "v_end_date": stamp,
        "v_updated_at": stamp,
        "v_next_try_at": decision.next_try_at,
    }
    if interrupted:
        values["v_max_tries"] = ti.max_tries + 1
    params = {
        **guarded_params(ti, running, values),
        "try": running.try_number,
        "v_end": stamp,
        "v_error": error,
        "v_interrupted": interrupted,
    }
    ended, _ = (_ENDING_INTERRUPTED if interrupted else _ENDING).execute(common.conn(s), [params])
    confirm(ti, ended)


def _after_failure(
    s: Session, run: RunRow, ti: TiRow, try_number: int, now: datetime
) -> RetryDecision:
    spec = cached_spec(s, run.snapshot_digest)
    task = spec.task(ti.task_id)  # None: the run was re-bound to a version without this task
    resolved = spec.resolve(task) if task is not None else None
    return after_failure(resolved, try_number, now, max_tries=ti.max_tries)


def _interruption(
    s: Session, run: RunRow, ti: TiRow, report: TaskReport, now: datetime
) -> RetryDecision | None:
    """The free retry of an interrupted try, or ``None`` when it counts as a failure."""
    bound = report.max_interruptions
    in_a_row = 0
    if bound > 0:
        params = {"ti": ti.id, "try": report.try_number, "n": bound}
        for (was_interrupted,) in _EARLIER_INTERRUPTIONS.execute(common.conn(s), params).fetchall():
            if not was_interrupted:
                break
            in_a_row += 1
    spec = cached_spec(s, run.snapshot_digest)
    task = spec.task(ti.task_id)
    resolved = spec.resolve(task) if task is not None else None
    return after_interruption(resolved, now, in_a_row=in_a_row, max_interruptions=bound)


def _encode_xcom(run: RunRow, ti: TiRow, value: Any, limit: int) -> XComColumns:
    of = TryIdentity(run.dag_id, run.run_id, ti.task_id, ti.map_index, ti.try_number)
    return xcom_store.encode_xcom(of, value, limit=limit)


def _store_xcom(s: Session, ti: TiRow, payload: XComColumns, stamp: datetime) -> None:
    # ``start_task`` dropped this task instance's earlier XComs: this is the only value.
    row = {
        "run_pk": ti.run_pk,
        "task_id": ti.task_id,
        "map_index": ti.map_index,
        "key": RETURN_VALUE,
        **payload.as_dict(),
        "created_at": stamp,
    }
    _INSERT_XCOM.execute(common.conn(s), row)
