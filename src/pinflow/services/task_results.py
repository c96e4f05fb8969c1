"""What an executor calls: claim scheduled tasks, start a try, heartbeat, report its result.

Every function is one transaction and every state change is guarded by the state (and try)
the caller expects. A report that does not match (a duplicate, or a stale result arriving
after the task was cleared) raises ``ConflictError`` and changes nothing: never a lost update.

Task results are not audit events: there are far too many, and the task instance and its try
rows already record who ran what, when, on which snapshot.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Final

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pinflow.errors import ConflictError, InvalidInputError, NotFoundError
from pinflow.lifecycle.run_planning import RetryDecision, retry_decision
from pinflow.lifecycle.states import LIVE_TASK_STATES, RunState, TaskState, can_report
from pinflow.services import common
from pinflow.services.common import for_update
from pinflow.services.scheduling import SpecCache, advance_run, execute_guarded, lock_run
from pinflow.spec.models import TaskSpec, XComRef
from pinflow.store import repo
from pinflow.store.db import Database
from pinflow.store.tables import Dag, DagRun, TaskInstance, TaskInstanceTry, XCom

RETURN_VALUE = "return_value"
# Larger values belong in the artifact store (not there yet): the database keeps small ones.
XCOM_DB_LIMIT_BYTES: Final = 64 * 1024


class _NoXCom(Enum):
    NO_XCOM = "no_xcom"


NO_XCOM: Final = _NoXCom.NO_XCOM
"""``finish_task(xcom=NO_XCOM)``: the try returned nothing to store (``None`` is a value)."""


@dataclass(frozen=True)
class ClaimedTask:
    """A task instance moved to ``queued`` for an executor: everything needed to start it."""

    ti_id: int
    run_pk: int
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int  # the try about to start
    snapshot_digest: str  # the run's pin when claimed; ``start_task`` says what the try runs on
    version_id: str | None
    params: dict[str, Any] = field(default_factory=dict)
    conf: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StartedTask:
    """The try that started, and the definition it runs on (the run's pin at that moment)."""

    ti_id: int
    run_pk: int
    task_id: str
    map_index: int
    try_number: int
    snapshot_digest: str
    version_id: str | None


# --- claim --------------------------------------------------------------------------------------


def claim_scheduled(
    db: Database, *, limit: int, run_pk: int | None = None, now: datetime | None = None
) -> list[ClaimedTask]:
    """Move up to ``limit`` scheduled task instances of running runs to ``queued``.

    Oldest run first, then task instance order. A DAG never has more queued and running task
    instances than its ``max_active_tasks`` (the limit of each run's pinned spec, counted over
    all of the DAG's runs); the DAG row lock keeps two claimers from both filling the last
    slot. Pools are not enforced here: pool slots are the scheduler's to allocate. Rows another
    claimer holds are skipped, not waited for.
    """
    if limit <= 0:
        return []
    stamp = now or common.now()
    with db.transaction() as s:
        specs = SpecCache(s)
        claimed: list[ClaimedTask] = []
        for dag_id in _dags_with_scheduled(s, run_pk):
            if len(claimed) >= limit:
                break
            claimed += _claim_for_dag(
                s, dag_id, limit=limit - len(claimed), run_pk=run_pk, specs=specs, stamp=stamp
            )
        return claimed


def _dags_with_scheduled(s: Session, run_pk: int | None) -> list[str]:
    stmt = (
        select(TaskInstance.dag_id)
        .join(DagRun, DagRun.id == TaskInstance.run_pk)
        .where(TaskInstance.state == TaskState.SCHEDULED.value)
        .where(DagRun.state == RunState.RUNNING.value)
        .group_by(TaskInstance.dag_id)
        .order_by(TaskInstance.dag_id)  # one lock order for DAG rows across claimers
    )
    if run_pk is not None:
        stmt = stmt.where(TaskInstance.run_pk == run_pk)
    return list(s.scalars(stmt))


def _claim_for_dag(
    s: Session, dag_id: str, *, limit: int, run_pk: int | None, specs: SpecCache, stamp: datetime
) -> list[ClaimedTask]:
    if s.scalars(for_update(select(Dag.dag_id).where(Dag.dag_id == dag_id))).first() is None:
        return []
    live = s.scalars(
        select(func.count())
        .select_from(TaskInstance)
        .where(TaskInstance.dag_id == dag_id)
        .where(TaskInstance.state.in_([state.value for state in LIVE_TASK_STATES]))
    ).one()
    stmt = (
        select(TaskInstance, DagRun)
        .join(DagRun, DagRun.id == TaskInstance.run_pk)
        .where(TaskInstance.dag_id == dag_id, TaskInstance.state == TaskState.SCHEDULED.value)
        .where(DagRun.state == RunState.RUNNING.value)
        .order_by(DagRun.id, TaskInstance.id)
        .limit(limit)
        .with_for_update(of=TaskInstance, skip_locked=True)
    )
    if run_pk is not None:
        stmt = stmt.where(TaskInstance.run_pk == run_pk)
    claimed: list[ClaimedTask] = []
    for ti, run in s.execute(stmt).tuples():
        if live >= specs.get(run.snapshot_digest).max_active_tasks:
            continue
        if _queue(s, ti, stamp):
            live += 1
            claimed.append(_claimed(ti, run))
    return claimed


def _queue(s: Session, ti: TaskInstance, stamp: datetime) -> bool:
    return bool(
        execute_guarded(
            s,
            update(TaskInstance)
            .where(TaskInstance.id == ti.id, TaskInstance.state == TaskState.SCHEDULED.value)
            .values(state=TaskState.QUEUED.value, queued_at=stamp, updated_at=stamp),
        )
    )


def _claimed(ti: TaskInstance, run: DagRun) -> ClaimedTask:
    return ClaimedTask(
        ti_id=ti.id,
        run_pk=run.id,
        dag_id=run.dag_id,
        run_id=run.run_id,
        task_id=ti.task_id,
        map_index=ti.map_index,
        try_number=ti.try_number + 1,
        snapshot_digest=run.snapshot_digest,
        version_id=run.version_id,
        params=dict(run.params or {}),
        conf=dict(run.conf or {}),
    )


# --- start, heartbeat ---------------------------------------------------------------------------


def start_task(
    db: Database,
    ti_id: int,
    *,
    try_number: int,
    hostname: str | None = None,
    pid: int | None = None,
    now: datetime | None = None,
) -> StartedTask:
    """``queued`` -> ``running`` for try ``try_number``, recording the definition it runs on.

    The try row stores the run's snapshot digest and version *at this moment*: that is the
    proof of which definition a try ran on, even if the run is re-bound later. XComs left by
    an earlier try are dropped, so a downstream task never reads a stale result.
    """
    stamp = now or common.now()
    with db.transaction() as s:
        run, ti = _lock(s, ti_id)
        _expect(ti, TaskState.QUEUED, try_number - 1, f"start try {try_number} of")
        values = {
            "state": TaskState.RUNNING.value,
            "try_number": try_number,
            "start_date": stamp,
            "end_date": None,
            "heartbeat_at": stamp,
            "next_try_at": None,
            "hostname": hostname,
            "pid": pid,
            "snapshot_digest": run.snapshot_digest,
            "updated_at": stamp,
        }
        _guarded(s, ti, TaskState.QUEUED, try_number - 1, values)
        s.add(
            TaskInstanceTry(
                ti_id=ti.id,
                try_number=try_number,
                state=TaskState.RUNNING.value,
                snapshot_digest=run.snapshot_digest,
                version_id=run.version_id,
                start_date=stamp,
                hostname=hostname,
                pid=pid,
            )
        )
        try:
            s.flush()
        except IntegrityError:
            raise ConflictError(f"Try {try_number} of {_name(ti)} already exists.") from None
        s.execute(
            delete(XCom).where(
                XCom.run_pk == ti.run_pk, XCom.task_id == ti.task_id, XCom.map_index == ti.map_index
            )
        )
        return StartedTask(
            ti.id, run.id, ti.task_id, ti.map_index, try_number, run.snapshot_digest, run.version_id
        )


def heartbeat(db: Database, ti_id: int, *, try_number: int, now: datetime | None = None) -> None:
    """Record that try ``try_number`` is alive. A conflict tells the worker to stop the try."""
    stamp = now or common.now()
    with db.transaction() as s:
        changed = execute_guarded(
            s,
            update(TaskInstance)
            .where(TaskInstance.id == ti_id, TaskInstance.state == TaskState.RUNNING.value)
            .where(TaskInstance.try_number == try_number)
            .values(heartbeat_at=stamp),
        )
        if not changed:
            ti = s.get(TaskInstance, ti_id)
            if ti is None:
                raise NotFoundError(f"Task instance {ti_id} was not found.")
            _expect(ti, TaskState.RUNNING, try_number, f"heartbeat try {try_number} of")
            raise ConflictError(f"Heartbeat for {_name(ti)} lost a race; report again.")


# --- finish -------------------------------------------------------------------------------------


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
) -> TaskState:
    """Report how try ``try_number`` ended; returns the task instance's new state.

    ``skipped`` wins over ``success`` (the task asked to be skipped). A failure becomes
    ``up_for_retry`` while tries remain, else ``failed``. ``xcom`` is stored as the
    ``return_value`` of a successful try (ignored otherwise); it must be JSON and at most
    ``XCOM_DB_LIMIT_BYTES`` once encoded, else ``InvalidInputError`` and nothing changes. The
    run advances in the same transaction, so downstream tasks are scheduled at once.
    """
    stamp = now or common.now()
    with db.transaction() as s:
        run, ti = _lock(s, ti_id)
        _expect(ti, TaskState.RUNNING, try_number, f"report try {try_number} of")
        stored = xcom is not NO_XCOM and success and not skipped
        payload = _encode_xcom(ti, xcom) if stored else None
        decision = _result(s, run, ti, try_number, success=success, skipped=skipped, now=stamp)
        assert can_report(TaskState.RUNNING, decision.state)
        values = {
            "state": decision.state.value,
            "end_date": stamp,
            "next_try_at": decision.next_try_at,
            "updated_at": stamp,
        }
        _guarded(s, ti, TaskState.RUNNING, try_number, values)
        s.execute(
            update(TaskInstanceTry)
            .where(TaskInstanceTry.ti_id == ti.id, TaskInstanceTry.try_number == try_number)
            .values(state=decision.state.value, end_date=stamp, error=error)
        )
        if payload is not None:
            _store_xcom(s, ti, xcom, payload, stamp)
        advance_run(s, run, now=stamp)
        return decision.state


def _result(
    s: Session,
    run: DagRun,
    ti: TaskInstance,
    try_number: int,
    *,
    success: bool,
    skipped: bool,
    now: datetime,
) -> RetryDecision:
    if skipped:
        return RetryDecision(TaskState.SKIPPED, None)
    if success:
        return RetryDecision(TaskState.SUCCESS, None)
    spec = repo.load_spec(s, run.snapshot_digest)
    task = spec.task(ti.task_id)
    if task is None:  # the run was re-bound to a version without this task: nothing to retry
        return RetryDecision(TaskState.FAILED, None)
    return retry_decision(spec.resolve(task), try_number, now, max_tries=ti.max_tries)


def _encode_xcom(ti: TaskInstance, value: Any) -> bytes:
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"The return value of {_name(ti)} cannot be stored as JSON: {exc}."
        ) from None
    data = text.encode()
    if len(data) > XCOM_DB_LIMIT_BYTES:
        raise InvalidInputError(
            f"The return value of {_name(ti)} is {len(data)} bytes as JSON; values stored in "
            f"the database are limited to {XCOM_DB_LIMIT_BYTES} bytes.",
            {"size": len(data), "limit": XCOM_DB_LIMIT_BYTES},
        )
    return data


def _store_xcom(s: Session, ti: TaskInstance, value: Any, payload: bytes, stamp: datetime) -> None:
    where = (
        XCom.run_pk == ti.run_pk,
        XCom.task_id == ti.task_id,
        XCom.map_index == ti.map_index,
        XCom.key == RETURN_VALUE,
    )
    s.execute(delete(XCom).where(*where))
    s.add(
        XCom(
            run_pk=ti.run_pk,
            task_id=ti.task_id,
            map_index=ti.map_index,
            key=RETURN_VALUE,
            value=value,
            size=len(payload),
            created_at=stamp,
        )
    )
    s.flush()


# --- shared ---------------------------------------------------------------------------------------


def _lock(s: Session, ti_id: int) -> tuple[DagRun, TaskInstance]:
    """Lock the run, then the task instance (the module-wide lock order)."""
    run_pk = s.scalars(select(TaskInstance.run_pk).where(TaskInstance.id == ti_id)).one_or_none()
    run = lock_run(s, run_pk) if run_pk is not None else None
    ti = s.scalars(for_update(select(TaskInstance).where(TaskInstance.id == ti_id))).one_or_none()
    if run is None or ti is None:
        raise NotFoundError(f"Task instance {ti_id} was not found.")
    return run, ti


def _name(ti: TaskInstance) -> str:
    mapped = f"[{ti.map_index}]" if ti.map_index >= 0 else ""
    return f"task {ti.task_id!r}{mapped} (task instance {ti.id})"


def _expect(ti: TaskInstance, state: TaskState, try_number: int, action: str) -> None:
    if ti.state != state or ti.try_number != try_number:
        raise ConflictError(
            f"Cannot {action} {_name(ti)}: it is {ti.state} at try {ti.try_number}, expected "
            f"{state.value} at try {try_number}. The report is stale or a duplicate; "
            "nothing was changed.",
            {"state": ti.state, "tryNumber": ti.try_number},
        )


def _guarded(
    s: Session, ti: TaskInstance, state: TaskState, try_number: int, values: dict[str, Any]
) -> None:
    """The write behind a checked report: still conditional, so a check never becomes a race."""
    changed = execute_guarded(
        s,
        update(TaskInstance)
        .where(TaskInstance.id == ti.id, TaskInstance.state == state.value)
        .where(TaskInstance.try_number == try_number)
        .values(**values),
    )
    if not changed:
        raise ConflictError(f"{_name(ti)} changed state meanwhile; nothing was changed.")


# --- XCom reads -----------------------------------------------------------------------------------


def get_xcom(
    db: Database, run_pk: int, task_id: str, key: str = RETURN_VALUE, map_index: int = -1
) -> Any:
    """The stored value; ``NotFoundError`` when the task pushed nothing under ``key``."""
    with db.read() as s:
        row = _xcom_row(s, run_pk, task_id, key, map_index)
        if row is None:
            raise NotFoundError(f"No XCom {key!r} of task {task_id!r} in run {run_pk}.")
        return row.value


def get_inputs(
    db: Database, run_pk: int, inputs: Mapping[str, XComRef] | TaskSpec
) -> dict[str, Any]:
    """Upstream values for a task's ``inputs``, by argument name.

    As in Airflow, a missing ``return_value`` (the upstream was skipped, or returned nothing)
    resolves to ``None``; a missing value under another key is a ``NotFoundError``.
    """
    refs = inputs.inputs if isinstance(inputs, TaskSpec) else inputs
    values: dict[str, Any] = {}
    with db.read() as s:
        for name, ref in refs.items():
            row = _xcom_row(s, run_pk, ref.task_id, ref.key, -1)
            if row is None and ref.key != RETURN_VALUE:
                raise NotFoundError(f"No XCom {ref.key!r} of task {ref.task_id!r} for {name!r}.")
            values[name] = None if row is None else row.value
    return values


def _xcom_row(s: Session, run_pk: int, task_id: str, key: str, map_index: int) -> XCom | None:
    return s.scalars(
        select(XCom).where(
            XCom.run_pk == run_pk,
            XCom.task_id == task_id,
            XCom.key == key,
            XCom.map_index == map_index,
        )
    ).one_or_none()
