"""Task instances as Airflow's ``/api/v2`` shows them (per run or across runs) and their
tries (each with its log file). Marking one and its notes are ``commands.task_states``'s."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pinflow.errors import NotFoundError
from pinflow.lifecycle.states import TaskState
from pinflow.services.reads._dag_queries import versions_by_id
from pinflow.services.reads._queries import Page, dag_ids_in, order_clauses, paged
from pinflow.services.reads._run_queries import (
    DateRange,
    in_range,
    run_row,
)
from pinflow.services.reads._views import VersionView
from pinflow.store.db import Database
from pinflow.store.repo import SpecCache
from pinflow.store.tables import (
    DagRun,
    TaskInstance,
    TaskInstanceNote,
    TaskInstanceTry,
    TaskLogChunk,
)

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
    queue: str
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
    # When a retry, a rescheduled sensor's next poke or a deferred sensor's next check is due.
    next_try_at: datetime | None = None


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
    interrupted: bool = False  # ended by the infrastructure, retried without spending a retry
    rendered_fields: dict[str, Any] | None = None  # its templated fields as rendered (ADR 0034)


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
_TRY_COLUMNS = (
    "try_number",
    "start_date",
    "end_date",
    "hostname",
    "pid",
    "snapshot_digest",
    "interrupted",
)


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
                rendered_fields=r.rendered_fields,
            )
            for r in rows
        ]


def rendered_fields(db: Database, ti: TaskInstanceInfo) -> dict[str, Any]:
    """The rendered template fields of the task instance's latest try (``{}``: none)."""
    with db.read() as s:
        found = s.scalar(
            select(TaskInstanceTry.rendered_fields).where(
                TaskInstanceTry.ti_id == ti.id, TaskInstanceTry.try_number == ti.try_number
            )
        )
    return dict(found or {})


@dataclass(frozen=True)
class SentLog:
    """The log a remote worker sent for a try: its last ``limit`` characters, and how many
    there are in all."""

    text: str
    size: int


def sent_log(db: Database, ti_id: int, try_number: int, *, limit: int) -> SentLog | None:
    """The log a remote worker sent for try ``try_number`` (``TaskLogChunk``), or ``None``
    when it sent none (a local try's log is its file). Reads only the pieces that hold the
    last ``limit`` characters."""
    key = (TaskLogChunk.ti_id == ti_id, TaskLogChunk.try_number == try_number)
    with db.read() as s:
        sizes = s.execute(
            select(TaskLogChunk.seq, func.length(TaskLogChunk.content))
            .where(*key)
            .order_by(TaskLogChunk.seq.desc())
        ).all()
        if not sizes:
            return None
        total, first = 0, sizes[-1][0]
        for seq, length in sizes:
            total += length
            first = seq
            if total >= limit:
                break
        pieces = s.scalars(
            select(TaskLogChunk.content)
            .where(*key, TaskLogChunk.seq >= first)
            .order_by(TaskLogChunk.seq)
        ).all()
        size = sum(length for _, length in sizes)
    text = "".join(pieces)
    return SentLog(text[-limit:] if len(text) > limit else text, size)


def get_try(db: Database, ref: TaskRef, try_number: int) -> TryInfo:
    """One try; its ``log_path`` names the try's log file (the caller reads it)."""
    for found in list_tries(db, ref):
        if found.try_number == try_number:
            return found
    raise NotFoundError(f"Try {try_number} of {ref} was not found.")


# --- marking and notes -------------------------------------------------------------------------


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
