"""Task instances as Airflow's ``/api/v2`` shows them (per run or across runs), their tries
(each with its log file), their XComs; marking one success, failed or skipped; notes.

Marking is guarded by the states read under the run's row lock; ``include_upstream`` and
``include_downstream`` follow the graph the run is pinned to; a live try overwritten is closed
in its history row (its late result is refused as stale). The run advances in the same
transaction, and a finished run is re-opened and re-evaluated, so that its state follows its
tasks (Airflow leaves a run "success" after a task in it is marked failed). Changes are
audited (``task.state_set``, ``task.note_set``) with the states they replaced.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from pinflow.errors import ConflictError, InvalidInputError, NotFoundError
from pinflow.lifecycle.states import RunState, TaskState
from pinflow.services.clear import graph_of
from pinflow.services.common import audit, now
from pinflow.services.dag_queries import Page, dag_ids_in, order_clauses, paged, versions_by_id
from pinflow.services.run_queries import (
    DateRange,
    close_live_tries,
    in_range,
    lock_named_run,
    run_row,
)
from pinflow.services.scheduling import SpecCache, advance_run, execute_guarded
from pinflow.services.views import VersionView
from pinflow.store.db import Database
from pinflow.store.tables import DagRun, TaskInstance, TaskInstanceNote, TaskInstanceTry

MARKABLE = frozenset({TaskState.SUCCESS, TaskState.FAILED, TaskState.SKIPPED})
_FINISHED_RUNS = (RunState.SUCCESS.value, RunState.FAILED.value)
_OPERATORS = {"python": "PythonOperator", "bash": "BashOperator", "http": "HttpOperator"}
_SAME_NAME = ("id", "task_id", "state", "map_index", "try_number", "pool", "start_date", "end_date")
TI_ORDER: dict[str, Any] = {name: getattr(TaskInstance, name) for name in (*_SAME_NAME, "dag_id")}
TI_ORDER |= {"task_display_name": TaskInstance.task_id, "run_id": DagRun.run_id}
TI_ORDER |= {"logical_date": DagRun.logical_date, "run_after": DagRun.run_after}
_TI_RANGES = {
    name: TI_ORDER[name] for name in ("start_date", "end_date", "logical_date", "run_after")
}
_TI_RANGES["updated_at"] = TaskInstance.updated_at


@dataclass(frozen=True)
class TaskRef:
    """One task instance by name, as Airflow's URLs give it."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1

    def __str__(self) -> str:
        mapped = f"[{self.map_index}]" if self.map_index >= 0 else ""
        return f"task {self.task_id!r}{mapped} of run {self.run_id!r} of DAG {self.dag_id!r}"


@dataclass(frozen=True)
class TaskInstanceInfo:
    id: int
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    state: TaskState
    try_number: int
    max_tries: int
    pool: str
    pool_slots: int
    hostname: str | None
    pid: int | None
    queued_at: datetime | None
    start_date: datetime | None
    end_date: datetime | None
    snapshot_digest: str | None
    logical_date: datetime | None
    run_after: datetime
    operator: str | None  # None: the task is not in the run's definition any more
    dag_display_name: str
    note: str | None
    version: VersionView | None  # of its latest try, else the run's pin


@dataclass(frozen=True)
class TryInfo:
    ti: TaskInstanceInfo
    try_number: int
    state: TaskState
    start_date: datetime | None
    end_date: datetime | None
    hostname: str | None
    pid: int | None
    snapshot_digest: str
    version: VersionView | None
    error: str | None
    log_path: str | None


@dataclass(frozen=True)
class TaskFilter:
    """``dag_id``/``run_id`` ``None``: every DAG / run (Airflow's ``~``), within ``projects``."""

    dag_id: str | None = None
    run_id: str | None = None
    projects: Collection[str] | None = None
    task_ids: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    pools: tuple[str, ...] = ()
    map_index: int | None = None
    task_id_pattern: str | None = None
    ranges: Mapping[str, DateRange] = field(default_factory=dict)


# --- reads -------------------------------------------------------------------------------------


def _ti_select(f: TaskFilter) -> Any:
    stmt = select(TaskInstance, DagRun).join(DagRun, DagRun.id == TaskInstance.run_pk)
    if f.dag_id is not None:
        stmt = stmt.where(TaskInstance.dag_id == f.dag_id)
    if f.run_id is not None:
        stmt = stmt.where(DagRun.run_id == f.run_id)
    if f.projects is not None:
        stmt = stmt.where(TaskInstance.dag_id.in_(dag_ids_in(f.projects)))
    for column, values in (
        (TaskInstance.task_id, f.task_ids),
        (TaskInstance.state, f.states),
        (TaskInstance.pool, f.pools),
    ):
        if values:
            stmt = stmt.where(column.in_(values))
    if f.map_index is not None:
        stmt = stmt.where(TaskInstance.map_index == f.map_index)
    if f.task_id_pattern:
        stmt = stmt.where(TaskInstance.task_id.ilike(f"%{f.task_id_pattern}%"))
    for name, bounds in f.ranges.items():
        stmt = in_range(stmt, _TI_RANGES[name], bounds)
    return stmt


def _infos(s: Session, rows: Sequence[tuple[TaskInstance, DagRun]]) -> list[TaskInstanceInfo]:
    ids = [ti.id for ti, _ in rows]
    latest: dict[int, str | None] = dict(
        s.execute(
            select(TaskInstanceTry.ti_id, TaskInstanceTry.version_id)
            .where(TaskInstanceTry.ti_id.in_(ids))
            .order_by(TaskInstanceTry.try_number)
        ).all()
    )
    notes = dict(
        s.execute(
            select(TaskInstanceNote.ti_id, TaskInstanceNote.note).where(
                TaskInstanceNote.ti_id.in_(ids)
            )
        ).all()
    )
    pins = {ti.id: latest.get(ti.id) or run.version_id for ti, run in rows}
    versions = versions_by_id(s, {v for v in pins.values() if v})
    specs = SpecCache(s)
    return [
        _info(ti, run, specs, notes.get(ti.id), versions.get(pins[ti.id] or "")) for ti, run in rows
    ]


# Copied as they are from the row (the other fields are computed).
_TI_COLUMNS = [f.name for f in fields(TaskInstanceInfo) if hasattr(TaskInstance, f.name)]
_TI_COLUMNS.remove("state")
_TRY_COLUMNS = ("try_number", "start_date", "end_date", "hostname", "pid", "snapshot_digest")


def _info(
    ti: TaskInstance, run: DagRun, specs: SpecCache, note: str | None, version: VersionView | None
) -> TaskInstanceInfo:
    spec = specs.get(run.snapshot_digest)
    task = spec.task(ti.task_id)
    return TaskInstanceInfo(
        **{name: getattr(ti, name) for name in _TI_COLUMNS},
        state=TaskState(ti.state),
        run_id=run.run_id,
        logical_date=run.logical_date,
        run_after=run.run_after,
        operator=None if task is None else _OPERATORS.get(task.kind, task.kind),
        dag_display_name=spec.display_name,
        note=note,
        version=version,
    )


def list_task_instances(
    db: Database, f: TaskFilter, *, order_by: Sequence[str] = ("id",), page: Page = (50, 0)
) -> tuple[list[TaskInstanceInfo], int]:
    order = order_clauses(order_by, TI_ORDER, TaskInstance.id.asc())
    with db.read() as s:
        if f.dag_id is not None and f.run_id is not None:
            run_row(s, f.dag_id, f.run_id)
        rows, total = paged(s, _ti_select(f), order, page)
        return _infos(s, [(ti, run) for ti, run in rows]), total


def _one(s: Session, ref: TaskRef) -> TaskInstanceInfo:
    run_row(s, ref.dag_id, ref.run_id)
    f = TaskFilter(ref.dag_id, ref.run_id, task_ids=(ref.task_id,), map_index=ref.map_index)
    rows = s.execute(_ti_select(f)).all()
    if not rows:
        raise NotFoundError(f"The task instance of {ref} was not found.")
    return _infos(s, [(ti, run) for ti, run in rows])[0]


def get_task_instance(db: Database, ref: TaskRef) -> TaskInstanceInfo:
    with db.read() as s:
        return _one(s, ref)


def list_tries(db: Database, ref: TaskRef) -> list[TryInfo]:
    """Every try of the task instance, oldest first (history survives retries and clears)."""
    with db.read() as s:
        ti = _one(s, ref)
        rows = s.scalars(
            select(TaskInstanceTry)
            .where(TaskInstanceTry.ti_id == ti.id)
            .order_by(TaskInstanceTry.try_number)
        ).all()
        versions = versions_by_id(s, {r.version_id for r in rows if r.version_id})
        return [
            TryInfo(
                **{name: getattr(r, name) for name in _TRY_COLUMNS},
                ti=ti,
                state=TaskState(r.state),
                version=versions.get(r.version_id or ""),
                error=r.error,
                log_path=r.log_path,
            )
            for r in rows
        ]


def get_try(db: Database, ref: TaskRef, try_number: int) -> TryInfo:
    """One try; its ``log_path`` names the try's log file (the caller reads it)."""
    for found in list_tries(db, ref):
        if found.try_number == try_number:
            return found
    raise NotFoundError(f"Try {try_number} of {ref} was not found.")


# --- marking and notes -------------------------------------------------------------------------


def _selected(s: Session, run: DagRun, ref: TaskRef, up: bool, down: bool) -> list[TaskInstance]:
    graph = graph_of(SpecCache(s).get(run.snapshot_digest))
    tasks = {ref.task_id}
    if up:
        tasks |= graph.upstream_closure({ref.task_id})
    if down:
        tasks |= graph.downstream_closure({ref.task_id})
    stmt = select(TaskInstance).where(
        TaskInstance.run_pk == run.id, TaskInstance.task_id.in_(tasks)
    )
    rows = list(s.scalars(stmt.order_by(TaskInstance.id).with_for_update()))
    target = [ti for ti in rows if ti.task_id == ref.task_id and ti.map_index == ref.map_index]
    if not target:
        raise NotFoundError(f"The task instance of {ref} was not found.")
    return target + [ti for ti in rows if ti.task_id != ref.task_id]


def _write_marks(s: Session, tis: list[TaskInstance], new: TaskState, actor: str) -> None:
    stamp = now()
    close_live_tries(s, [ti.id for ti in tis], new, f"marked {new.value} by {actor}")
    for ti in tis:
        changed = execute_guarded(
            s,
            update(TaskInstance)
            .where(TaskInstance.id == ti.id, TaskInstance.state == ti.state)
            .values(state=new.value, end_date=stamp, next_try_at=None, updated_at=stamp),
        )
        if not changed:
            raise ConflictError(f"Task {ti.task_id!r} changed state meanwhile; reload and retry.")


def _advance(s: Session, run: DagRun) -> None:
    """Re-open a finished run so its outcome follows its tasks, then advance it."""
    if run.state in _FINISHED_RUNS:
        execute_guarded(
            s,
            update(DagRun)
            .where(DagRun.id == run.id, DagRun.state == run.state)
            .values(state=RunState.RUNNING.value, end_date=None, updated_at=now()),
        )
        s.refresh(run)
    advance_run(s, run)


def set_task_state(
    db: Database,
    ref: TaskRef,
    new_state: TaskState,
    *,
    actor: str,
    include_upstream: bool = False,
    include_downstream: bool = False,
    dry_run: bool = False,
) -> list[TaskInstanceInfo]:
    """Mark the task instance (and relatives) ``new_state``; returns those that change."""
    if new_state not in MARKABLE:
        allowed = ", ".join(sorted(s.value for s in MARKABLE))
        raise InvalidInputError(f"new_state must be one of {allowed}, got {new_state.value!r}.")
    with db.transaction() as s:
        run = lock_named_run(s, ref.dag_id, ref.run_id)
        chosen = _selected(s, run, ref, include_upstream, include_downstream)
        changing = [ti for ti in chosen if ti.state != new_state.value]
        if dry_run or not changing:
            return _infos(s, [(ti, run) for ti in changing])
        before = [{"taskId": t.task_id, "mapIndex": t.map_index, "from": t.state} for t in changing]
        _write_marks(s, changing, new_state, actor)
        meta = {"to": new_state.value, "tasks": before}
        _audit(s, ref, actor, "task.state_set", meta)
        _advance(s, run)
        for ti in changing:
            s.refresh(ti)
        return _infos(s, [(ti, run) for ti in changing])


def set_task_note(db: Database, ref: TaskRef, note: str | None, *, actor: str) -> TaskInstanceInfo:
    """Set (``None``: remove) the note of one task instance."""
    with db.transaction() as s:
        lock_named_run(s, ref.dag_id, ref.run_id)
        ti = _one(s, ref)
        if ti.note != note:
            s.execute(delete(TaskInstanceNote).where(TaskInstanceNote.ti_id == ti.id))
            if note is not None:
                s.add(TaskInstanceNote(ti_id=ti.id, note=note, updated_by=actor, updated_at=now()))
            _audit(s, ref, actor, "task.note_set", {"length": len(note or "")})
            s.flush()
        return _one(s, ref)


def _audit(s: Session, ref: TaskRef, actor: str, action: str, meta: dict[str, Any]) -> None:
    target = f"{ref.dag_id}/{ref.run_id}/{ref.task_id}"
    meta = {"mapIndex": ref.map_index, **meta}
    audit(
        s,
        actor=actor,
        action=action,
        target_type="task_instance",
        target_id=target,
        dag_id=ref.dag_id,
        meta=meta,
    )


def task_instances_of(
    db: Database, dag_id: str, selection: Mapping[str, Collection[str]]
) -> list[TaskInstanceInfo]:
    """The task instances of ``{run_id: task ids}`` in one read, in run and creation order."""
    if not selection:
        return []
    tasks = {t for ids in selection.values() for t in ids}
    stmt = _ti_select(TaskFilter(dag_id=dag_id, task_ids=tuple(sorted(tasks))))
    stmt = stmt.where(DagRun.run_id.in_(list(selection))).order_by(DagRun.id, TaskInstance.id)
    with db.read() as s:
        rows = [(ti, run) for ti, run in s.execute(stmt) if ti.task_id in selection[run.run_id]]
        return _infos(s, rows)
