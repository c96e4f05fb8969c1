"""What an executor calls: claim scheduled tasks, start a try, heartbeat, report its result.

``claim_scheduled`` lives with the limits it enforces (``services.pools``) and is re-exported
here, so an executor needs this module only.

Every function is one transaction and every state change is guarded by the state (and try)
the caller expects. A report that does not match (a duplicate, or a stale result arriving
after the task was cleared) raises ``ConflictError`` and changes nothing: never a lost update.

Task results are not audit events: there are far too many, and the task instance and its try
rows already record who ran what, when, on which snapshot.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Final

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pinflow.errors import ConflictError, InvalidInputError, NotFoundError
from pinflow.lifecycle.mapping import MISSING, upstream_output
from pinflow.lifecycle.run_planning import RetryDecision, retry_decision
from pinflow.lifecycle.states import TaskState, can_report
from pinflow.services import common
from pinflow.services.common import for_update
from pinflow.services.pools import ClaimedTask, claim_scheduled
from pinflow.services.scheduling import advance_run, execute_guarded, lock_run
from pinflow.spec.models import TaskSpec, XComRef
from pinflow.store import repo
from pinflow.store.db import Database
from pinflow.store.tables import DagRun, TaskInstance, TaskInstanceTry, XCom

__all__ = [
    "NO_XCOM",
    "RETURN_VALUE",
    "XCOM_DB_LIMIT_BYTES",
    "ClaimedTask",
    "StartedTask",
    "claim_scheduled",
    "finish_task",
    "get_inputs",
    "get_xcom",
    "heartbeat",
    "start_task",
]

RETURN_VALUE = "return_value"
# Larger values belong in the artifact store (not there yet): the database keeps small ones.
XCOM_DB_LIMIT_BYTES: Final = 64 * 1024


class _NoXCom(Enum):
    NO_XCOM = "no_xcom"


NO_XCOM: Final = _NoXCom.NO_XCOM
"""``finish_task(xcom=NO_XCOM)``: the try returned nothing to store (``None`` is a value)."""


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
        _begin_try(s, run, ti, try_number, hostname=hostname, pid=pid, stamp=stamp)
        s.execute(
            delete(XCom).filter_by(run_pk=ti.run_pk, task_id=ti.task_id, map_index=ti.map_index)
        )
        return StartedTask(
            ti.id, run.id, ti.task_id, ti.map_index, try_number, run.snapshot_digest, run.version_id
        )


def _begin_try(
    s: Session,
    run: DagRun,
    ti: TaskInstance,
    try_number: int,
    *,
    hostname: str | None,
    pid: int | None,
    stamp: datetime,
) -> None:
    proc = {"hostname": hostname, "pid": pid}
    values = {
        "state": TaskState.RUNNING.value,
        "try_number": try_number,
        "start_date": stamp,
        "end_date": None,
        "heartbeat_at": stamp,
        "next_try_at": None,
        "updated_at": stamp,
        "snapshot_digest": run.snapshot_digest,
        **proc,
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
            **proc,
        )
    )
    name = _name(ti)  # a failed flush expires the row: read what the message needs first
    try:
        s.flush()
    except IntegrityError:
        raise ConflictError(f"Try {try_number} of {name} already exists.") from None


def heartbeat(db: Database, ti_id: int, *, try_number: int, now: datetime | None = None) -> None:
    """Record that try ``try_number`` is alive. A conflict tells the worker to stop the try."""
    stamp = now or common.now()
    with db.transaction() as s:  # the task instance's row lock only: heartbeats are frequent
        ti = _lock_ti(s, ti_id)
        _expect(ti, TaskState.RUNNING, try_number, f"heartbeat try {try_number} of")
        _guarded(s, ti, TaskState.RUNNING, try_number, {"heartbeat_at": stamp})


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
        if skipped or success:
            decision = RetryDecision(TaskState.SKIPPED if skipped else TaskState.SUCCESS, None)
        else:
            decision = _after_failure(s, run, ti, try_number, stamp)
        assert can_report(TaskState.RUNNING, decision.state)
        _end_try(s, ti, try_number, decision, error=error, stamp=stamp)
        if payload is not None:
            _store_xcom(s, ti, xcom, payload, stamp)
        advance_run(s, run, now=stamp, changed=[ti.task_id])
        return decision.state


def _end_try(
    s: Session,
    ti: TaskInstance,
    try_number: int,
    decision: RetryDecision,
    *,
    error: str | None,
    stamp: datetime,
) -> None:
    values = {"state": decision.state.value, "end_date": stamp, "updated_at": stamp}
    _guarded(s, ti, TaskState.RUNNING, try_number, {**values, "next_try_at": decision.next_try_at})
    s.execute(
        update(TaskInstanceTry)
        .where(TaskInstanceTry.ti_id == ti.id, TaskInstanceTry.try_number == try_number)
        .values(state=decision.state.value, end_date=stamp, error=error)
    )


def _after_failure(
    s: Session, run: DagRun, ti: TaskInstance, try_number: int, now: datetime
) -> RetryDecision:
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
    # ``start_task`` dropped this task instance's earlier XComs: this is the only value.
    key = {"run_pk": ti.run_pk, "task_id": ti.task_id, "map_index": ti.map_index}
    s.add(XCom(**key, key=RETURN_VALUE, value=value, size=len(payload), created_at=stamp))
    s.flush()


def _lock(s: Session, ti_id: int) -> tuple[DagRun, TaskInstance]:
    """Lock the run, then the task instance (the module-wide lock order)."""
    run_pk = s.scalars(select(TaskInstance.run_pk).where(TaskInstance.id == ti_id)).one_or_none()
    run = lock_run(s, run_pk) if run_pk is not None else None
    if run is None:
        raise NotFoundError(f"Task instance {ti_id} was not found.")
    return run, _lock_ti(s, ti_id)


def _lock_ti(s: Session, ti_id: int) -> TaskInstance:
    ti = s.scalars(for_update(select(TaskInstance).where(TaskInstance.id == ti_id))).one_or_none()
    if ti is None:
        raise NotFoundError(f"Task instance {ti_id} was not found.")
    return ti


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

    A mapped upstream gives the list of its elements' values, in ``map_index`` order. As in
    Airflow, a missing ``return_value`` (the upstream was skipped, or returned nothing)
    resolves to ``None``; a missing value under another key is a ``NotFoundError``.
    """
    refs = inputs.inputs if isinstance(inputs, TaskSpec) else inputs
    if not refs:
        return {}
    task_ids = sorted({ref.task_id for ref in refs.values()})
    with db.read() as s:
        rows = s.execute(
            select(XCom.task_id, XCom.key, XCom.map_index, XCom.value).where(
                XCom.run_pk == run_pk, XCom.task_id.in_(task_ids)
            )
        )
        stored: dict[tuple[str, str], dict[int, Any]] = {}
        for task_id, key, map_index, value in rows:
            stored.setdefault((task_id, key), {})[map_index] = value
        elements = _element_counts(s, run_pk, task_ids)
    values: dict[str, Any] = {}
    for name, ref in refs.items():
        count = elements.get(ref.task_id, 0)
        value = upstream_output(stored.get((ref.task_id, ref.key), {}), count, mapped=count > 0)
        if value is MISSING and ref.key != RETURN_VALUE:
            raise NotFoundError(f"No XCom {ref.key!r} of task {ref.task_id!r} for {name!r}.")
        values[name] = None if value is MISSING else value
    return values


def _element_counts(s: Session, run_pk: int, task_ids: list[str]) -> dict[str, int]:
    rows = s.execute(
        select(TaskInstance.task_id, func.max(TaskInstance.map_index) + 1)
        .where(TaskInstance.run_pk == run_pk, TaskInstance.task_id.in_(task_ids))
        .where(TaskInstance.map_index >= 0)
        .group_by(TaskInstance.task_id)
    )
    return {task_id: int(count) for task_id, count in rows}


def _xcom_row(s: Session, run_pk: int, task_id: str, key: str, map_index: int) -> XCom | None:
    where = {"run_pk": run_pk, "task_id": task_id, "key": key, "map_index": map_index}
    return s.scalars(select(XCom).filter_by(**where)).one_or_none()
