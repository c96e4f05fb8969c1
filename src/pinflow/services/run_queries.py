"""Runs as Airflow's ``/api/v2`` shows them, and an operator's actions on one run: mark it
success, failed or queued, annotate it, delete it.

Choices (Airflow's behaviour unless said otherwise):
- Mark success: every task instance not ``success``, ``skipped`` or ``removed`` becomes
  ``success`` (a skip or a removal is an outcome already; Airflow overwrites skips too).
- Mark failed: queued and running task instances become ``failed``, the ones that have not
  started ``skipped``. Mark queued: only the run changes; the scheduler starts it again and
  its outcome is re-computed from its tasks.
- A live try that is overwritten is closed in its history row, and its late result is
  refused as stale (``task_results``' guards), never written over the mark.
- Delete removes the run and everything under it (task instances, tries, XComs, the staging
  dir row), as Airflow does, except that live task instances make it a 409 unless forced
  (seed 000's rule for every destructive action). The files to remove are returned.
- Each change is one transaction, guarded by the state read under the run's row lock, and
  audited (``run.state_set``, ``run.note_set``, ``run.deleted``); a change to what the run
  already is writes nothing and records nothing.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from pinflow.errors import ConflictError, NotFoundError
from pinflow.lifecycle.states import FINISHED_TASK_STATES, LIVE_TASK_STATES, RunState, TaskState
from pinflow.runtime.artifacts import ArtifactRef, ArtifactStore
from pinflow.services import xcom_store
from pinflow.services.common import audit, now
from pinflow.services.dag_queries import (
    Page,
    dag_ids_in,
    order_clauses,
    paged,
    pattern,
    versions_by_id,
)
from pinflow.services.scheduling import execute_guarded, lock_run
from pinflow.services.views import RunView, VersionView, run_view
from pinflow.store.db import Database
from pinflow.store.tables import Dag, DagRun, StagingDir, TaskInstance, TaskInstanceTry, XCom

_LIVE = tuple(s.value for s in LIVE_TASK_STATES)
_KEPT_ON_SUCCESS = (TaskState.SUCCESS.value, TaskState.SKIPPED.value, TaskState.REMOVED.value)
_NOT_STARTED = (TaskState.NONE.value, TaskState.SCHEDULED.value, TaskState.UP_FOR_RETRY.value)
RUN_ORDER: dict[str, Any] = {
    "id": DagRun.id,
    "state": DagRun.state,
    "dag_id": DagRun.dag_id,
    "run_id": DagRun.run_id,
    "dag_run_id": DagRun.run_id,
    "logical_date": DagRun.logical_date,
    "run_after": DagRun.run_after,
    "start_date": DagRun.start_date,
    "end_date": DagRun.end_date,
    "updated_at": DagRun.updated_at,
}
RANGE_FIELDS = ("logical_date", "start_date", "end_date", "run_after", "updated_at")


@dataclass(frozen=True)
class DateRange:
    gte: datetime | None = None
    gt: datetime | None = None
    lte: datetime | None = None
    lt: datetime | None = None


@dataclass(frozen=True)
class RunFilter:
    """``dag_id`` ``None``: every DAG (Airflow's ``~``), within ``projects`` (``None``: all)."""

    dag_id: str | None = None
    projects: Collection[str] | None = None
    states: tuple[str, ...] = ()
    run_types: tuple[str, ...] = ()
    run_id_pattern: str | None = None
    ranges: Mapping[str, DateRange] = field(default_factory=dict)


@dataclass(frozen=True)
class RunInfo:
    """A run, its DAG's display name, and the versions it ran on: those of its tries in the
    order they were first used, then the one it is pinned to now (a clear may re-bind it)."""

    run: RunView
    dag_display_name: str
    versions: list[VersionView]
    updated_at: datetime | None = None


@dataclass(frozen=True)
class DeletedRun:
    run_id: str
    log_paths: tuple[str, ...]
    staging_dirs: tuple[str, ...]


# --- reads -------------------------------------------------------------------------------------


def in_range(stmt: Any, column: Any, r: DateRange) -> Any:
    """``stmt`` restricted to ``column`` within ``r`` (each bound optional)."""
    for bound, op in ((r.gte, "__ge__"), (r.gt, "__gt__"), (r.lte, "__le__"), (r.lt, "__lt__")):
        if bound is not None:
            stmt = stmt.where(getattr(column, op)(bound))
    return stmt


def _run_select(f: RunFilter) -> Any:
    stmt = select(DagRun)
    if f.dag_id is not None:
        stmt = stmt.where(DagRun.dag_id == f.dag_id)
    if f.projects is not None:
        stmt = stmt.where(DagRun.dag_id.in_(dag_ids_in(f.projects)))
    if f.states:
        stmt = stmt.where(DagRun.state.in_(f.states))
    if f.run_types:
        stmt = stmt.where(DagRun.run_type.in_(f.run_types))
    if f.run_id_pattern:
        stmt = stmt.where(DagRun.run_id.ilike(pattern(f.run_id_pattern)))
    for name, bounds in f.ranges.items():
        stmt = in_range(stmt, getattr(DagRun, name), bounds)
    return stmt


def _infos(s: Session, runs: Sequence[DagRun]) -> list[RunInfo]:
    pks = [r.id for r in runs]
    used = s.execute(
        select(TaskInstance.run_pk, TaskInstanceTry.version_id, func.min(TaskInstanceTry.id))
        .join(TaskInstance, TaskInstance.id == TaskInstanceTry.ti_id)
        .where(TaskInstance.run_pk.in_(pks), TaskInstanceTry.version_id.is_not(None))
        .group_by(TaskInstance.run_pk, TaskInstanceTry.version_id)
        .order_by(func.min(TaskInstanceTry.id))
    ).all()
    per_run: dict[int, list[str]] = {pk: [] for pk in pks}
    for run_pk, version_id, _ in used:
        per_run[run_pk].append(str(version_id))
    for run in runs:
        if run.version_id is not None and run.version_id not in per_run[run.id]:
            per_run[run.id].append(run.version_id)
    views = versions_by_id(s, {v for ids in per_run.values() for v in ids})
    infos = []
    for run in runs:
        versions = [views[v] for v in per_run[run.id] if v in views]
        pinned = views.get(run.version_id or "")
        name = pinned.name if pinned is not None and pinned.name else run.dag_id
        infos.append(RunInfo(run_view(run), name, versions, run.updated_at))
    return infos


def list_runs(
    db: Database, f: RunFilter, *, order_by: Sequence[str] = ("id",), page: Page = (50, 0)
) -> tuple[list[RunInfo], int]:
    """Runs matching ``f`` and the total before paging; a named DAG must exist."""
    order = order_clauses(order_by, RUN_ORDER, DagRun.id.asc())
    with db.read() as s:
        if f.dag_id is not None and s.get(Dag, f.dag_id) is None:
            raise NotFoundError(f"DAG {f.dag_id!r} was not found.")
        rows, total = paged(s, _run_select(f), order, page)
        return _infos(s, [row for (row,) in rows]), total


def run_row(s: Session, dag_id: str, run_id: str) -> DagRun:
    row = s.scalars(
        select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
    ).one_or_none()
    if row is None:
        raise NotFoundError(f"DAG run {run_id!r} of DAG {dag_id!r} was not found.")
    return row


def get_run(db: Database, dag_id: str, run_id: str) -> RunInfo:
    with db.read() as s:
        return _infos(s, [run_row(s, dag_id, run_id)])[0]


def run_info_in(s: Session, run: DagRun) -> RunInfo:
    s.flush()
    return _infos(s, [run])[0]


# --- writes ------------------------------------------------------------------------------------


def lock_named_run(s: Session, dag_id: str, run_id: str) -> DagRun:
    run = lock_run(s, run_row(s, dag_id, run_id).id)
    if run is None:
        raise NotFoundError(f"DAG run {run_id!r} of DAG {dag_id!r} was not found.")
    return run


def close_live_tries(s: Session, ti_ids: Sequence[int], state: TaskState, reason: str) -> None:
    """The history rows of live tries being overwritten end with ``state`` and ``reason``."""
    s.execute(
        update(TaskInstanceTry)
        .where(TaskInstanceTry.ti_id.in_(ti_ids), TaskInstanceTry.state.in_(_LIVE))
        .values(state=state.value, end_date=now(), error=reason)
    )


def _mark_tasks(s: Session, run: DagRun, moves: dict[TaskState, tuple[str, ...]], why: str) -> int:
    """Guarded moves of the run's task instances: ``{new state: from states}``."""
    changed = 0
    for new, olds in moves.items():
        ids = list(
            s.scalars(
                select(TaskInstance.id).where(
                    TaskInstance.run_pk == run.id, TaskInstance.state.in_(olds)
                )
            )
        )
        if not ids:
            continue
        close_live_tries(s, ids, new, why)
        values: dict[str, Any] = {"state": new.value, "updated_at": now(), "next_try_at": None}
        if new in FINISHED_TASK_STATES:
            values["end_date"] = now()
        changed += execute_guarded(
            s,
            update(TaskInstance)
            .where(TaskInstance.id.in_(ids), TaskInstance.state.in_(olds))
            .values(**values),
        )
    return changed


def _task_moves(state: RunState) -> dict[TaskState, tuple[str, ...]]:
    if state == RunState.SUCCESS:
        everything = tuple(t.value for t in TaskState if t.value not in _KEPT_ON_SUCCESS)
        return {TaskState.SUCCESS: everything}
    if state == RunState.FAILED:
        return {TaskState.FAILED: _LIVE, TaskState.SKIPPED: _NOT_STARTED}
    return {}


def set_run_state(
    db: Database, dag_id: str, run_id: str, state: RunState, *, actor: str
) -> RunInfo:
    """Mark the run ``success``, ``failed`` or ``queued`` (see the module doc)."""
    with db.transaction() as s:
        run = lock_named_run(s, dag_id, run_id)
        before = run.state
        if before == state.value:
            return run_info_in(s, run)
        tasks = _mark_tasks(s, run, _task_moves(state), f"run marked {state.value} by {actor}")
        finished = state in (RunState.SUCCESS, RunState.FAILED)
        values: dict[str, Any] = {"state": state.value, "updated_at": now()}
        values["end_date"] = now() if finished else None
        if not execute_guarded(
            s, update(DagRun).where(DagRun.id == run.id, DagRun.state == before).values(**values)
        ):
            raise ConflictError(f"DAG run {run_id!r} changed meanwhile; reload and retry.")
        s.refresh(run)
        _audit(s, run, actor, "run.state_set", {"from": before, "to": state.value, "tasks": tasks})
        return run_info_in(s, run)


def set_run_note(
    db: Database, dag_id: str, run_id: str, note: str | None, *, actor: str
) -> RunInfo:
    with db.transaction() as s:
        run = lock_named_run(s, dag_id, run_id)
        if run.note != note:
            run.note, run.updated_at = note, now()
            _audit(s, run, actor, "run.note_set", {"length": len(note or "")})
        return run_info_in(s, run)


def delete_run(
    db: Database, dag_id: str, run_id: str, *, actor: str, force: bool = False
) -> DeletedRun:
    """Delete the run and everything under it; 409 while tasks are live unless ``force``."""
    with db.transaction() as s:
        run = lock_named_run(s, dag_id, run_id)
        tis = select(TaskInstance.id).where(TaskInstance.run_pk == run.id)
        live = s.scalars(
            select(func.count())
            .select_from(TaskInstance)
            .where(TaskInstance.run_pk == run.id, TaskInstance.state.in_(_LIVE))
        ).one()
        if live and not force:
            raise ConflictError(
                f"DAG run {run_id!r} has {live} task instance(s) queued or running; wait for "
                "them to finish, mark the run failed, or delete with force=true."
            )
        logs = s.scalars(
            select(TaskInstanceTry.log_path).where(
                TaskInstanceTry.ti_id.in_(tis.scalar_subquery()),
                TaskInstanceTry.log_path.is_not(None),
            )
        ).all()
        staging = s.scalars(select(StagingDir.path).where(StagingDir.run_pk == run.id)).all()
        meta = {"state": run.state, "versionId": run.version_id, "liveTasks": live, "forced": force}
        _audit(s, run, actor, "run.deleted", meta)
        s.execute(delete(DagRun).where(DagRun.id == run.id))
        return DeletedRun(run_id, tuple(p for p in logs if p), tuple(staging))


def _audit(s: Session, run: DagRun, actor: str, action: str, meta: dict[str, Any]) -> None:
    target = f"{run.dag_id}/{run.run_id}"
    audit(
        s,
        actor=actor,
        action=action,
        target_type="dag_run",
        target_id=target,
        dag_id=run.dag_id,
        meta=meta,
    )


# --- XComs: a run's outputs --------------------------------------------------------------------


@dataclass(frozen=True)
class XComFilter:
    """``None`` for the DAG, the run or the task: every one (Airflow's ``~``)."""

    dag_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None
    projects: Collection[str] | None = None
    key: str | None = None
    map_index: int | None = None


@dataclass(frozen=True)
class XComInfo:
    """One XCom. A value in the artifact store has ``stored`` set and ``value`` ``None`` in
    lists; ``get_xcom`` reads it."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    key: str
    value: Any
    size: int
    timestamp: datetime
    logical_date: datetime | None
    run_after: datetime
    stored: ArtifactRef | None = None


def _xcom_select(f: XComFilter) -> Any:
    stmt = select(XCom, DagRun).join(DagRun, DagRun.id == XCom.run_pk)
    for column, value in (
        (DagRun.dag_id, f.dag_id),
        (DagRun.run_id, f.run_id),
        (XCom.task_id, f.task_id),
        (XCom.key, f.key),
        (XCom.map_index, f.map_index),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if f.projects is not None:
        stmt = stmt.where(DagRun.dag_id.in_(dag_ids_in(f.projects)))
    return stmt


def list_xcoms(db: Database, f: XComFilter, *, page: Page = (50, 0)) -> tuple[list[XComInfo], int]:
    """The XComs ``f`` selects, in run, task, map index and key order; a named run must exist."""
    order: list[Any] = [DagRun.id, XCom.task_id, XCom.map_index, XCom.key]
    with db.read() as s:
        if f.dag_id is not None and f.run_id is not None:
            run_row(s, f.dag_id, f.run_id)
        rows, total = paged(s, _xcom_select(f), order, page)
        return [_xcom_info(x, run) for x, run in rows], total


def _xcom_info(x: XCom, run: DagRun) -> XComInfo:
    return XComInfo(
        dag_id=run.dag_id,
        run_id=run.run_id,
        task_id=x.task_id,
        map_index=x.map_index,
        key=x.key,
        value=x.value,
        size=x.size,
        timestamp=x.created_at,
        logical_date=run.logical_date,
        run_after=run.run_after,
        stored=xcom_store.artifact_of(x),
    )


def get_xcom(
    db: Database,
    dag_id: str,
    run_id: str,
    task_id: str,
    *,
    key: str,
    map_index: int = -1,
    artifacts: ArtifactStore,
) -> XComInfo:
    """One XCom with its value, read from ``artifacts`` when it is stored there
    (``DataLostError`` when the artifact is missing or altered)."""
    f = XComFilter(dag_id, run_id, task_id, key=key, map_index=map_index)
    found, _ = list_xcoms(db, f, page=(1, 0))
    if not found:
        raise NotFoundError(f"XCom {key!r} of task {task_id!r} in run {run_id!r} was not found.")
    x = found[0]
    if x.stored is None:
        return x
    mapped = f"[{map_index}]" if map_index >= 0 else ""
    what = f"XCom {key!r} of task {task_id!r}{mapped} in run {run_id!r}"
    return replace(x, value=xcom_store.read_artifact(artifacts, x.stored, what))
