"""What a scheduler needs to hand a started try to an executor, and what it records.

Reads are kept off the path from one task's end to the next one's start where they can be:
a snapshot's spec is parsed once per process (snapshots never change), a run's context once
per run, and upstream XCom values are read only for a task that takes them. Where the try
logs and the run's staging dir are recorded after the try is on its way, in batches
(``record_dispatches``), so that clearing a DAG's history finds both.

Paths are deterministic: the staging dir depends only on the run (``<staging>/<dag_id>/<run>``),
so a cleared and re-run task finds what its upstreams staged; the log of a try depends only
on the try, so a re-run never overwrites an earlier try's log.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, exists, func, select, update
from sqlalchemy.orm import Session

from pinflow.errors import NotFoundError
from pinflow.lifecycle.mapping import element, mapped_lists, upstream_output, upstream_refs
from pinflow.lifecycle.states import TIMED_WAIT_STATES, RunState
from pinflow.services import common
from pinflow.services.common import now
from pinflow.services.engine._xcom_store import mapped_list, outputs_by_index
from pinflow.spec.models import ResolvedTask, TaskSpec, XComRef
from pinflow.store import repo
from pinflow.store.db import Database
from pinflow.store.dialect import PreparedInsertOrIgnore
from pinflow.store.prepared import Prepared
from pinflow.store.tables import (
    Dag,
    DagRun,
    StagingDir,
    TaskInstance,
    TaskInstanceTry,
)


@dataclass(frozen=True)
class RunContext:
    """What a task sees of its run, beyond params and conf (fixed for the run's life)."""

    run_pk: int
    dag_id: str
    run_id: str
    run_type: str
    logical_date: datetime | None
    data_interval_start: datetime | None
    data_interval_end: datetime | None


@dataclass(frozen=True)
class TaskDefinition:
    task: TaskSpec
    resolved: ResolvedTask
    requirements: tuple[str, ...] = ()  # the version's (ADR 0032)


def run_context(db: Database, run_pk: int) -> RunContext:
    with db.read() as s:
        run = s.get(DagRun, run_pk)
        if run is None:
            raise NotFoundError(f"DAG run {run_pk} was not found.")
        return RunContext(
            run_pk=run.id,
            dag_id=run.dag_id,
            run_id=run.run_id,
            run_type=run.run_type,
            logical_date=run.logical_date,
            data_interval_start=run.data_interval_start,
            data_interval_end=run.data_interval_end,
        )


def task_definition(source: Database | Session, digest: str, task_id: str) -> TaskDefinition:
    """A task of a snapshot, with the DAG's defaults applied (cached: snapshots never change).
    ``source``: where to read it the first time (the caller's session, or a read of its own)."""
    spec = repo.known_spec(digest)
    if spec is None:
        with reading(source) as s:
            spec = repo.cached_spec(s, digest)
    task = spec.task(task_id)
    if task is None:
        raise NotFoundError(f"Task {task_id!r} is not in snapshot {digest}.")
    return TaskDefinition(task, spec.resolve(task), tuple(spec.requirements))


def resolve_arguments(
    source: Database | Session, run_pk: int, task: TaskSpec, map_index: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The upstream values bound to ``task``'s arguments, and its mapped elements.

    Reads nothing when the task takes no upstream value. A value in the artifact store is not
    loaded: it is a ``StoredValue`` (or, for a mapped element, a ``StoredElement``), which
    ``xcom_store.request_arguments`` turns into a reference for the worker.
    """
    if not task.inputs and not task.mapped:
        return {}, {}
    with reading(source) as s:
        return _resolve(s, run_pk, task.inputs), _mapped(s, run_pk, task, map_index)


@contextmanager
def reading(source: Database | Session) -> Iterator[Session]:
    """``source`` itself when it is a session (the caller's transaction), else a read of its
    own: so that a path that already holds a transaction reads in it, and others only when
    they must."""
    if isinstance(source, Session):
        yield source
        return
    with source.read() as s:
        yield s


@dataclass(frozen=True)
class DispatchRecord:
    """Where one try logs; and, for the first try of a run seen, the run's staging dir."""

    ti_id: int
    try_number: int
    log_file: Path
    run_pk: int | None = None
    staging_dir: str | None = None


_TRY = cast(Table, TaskInstanceTry.__table__)
_TI = cast(Table, TaskInstance.__table__)
_ATTACH_STAGING = PreparedInsertOrIgnore(
    cast(Table, StagingDir.__table__),
    ("run_pk", "path", "created_at", "attached_at"),
    key=("run_pk",),
)
# Built once: these run for every try, where building a statement costs more than running it.
_SET_LOG_PATH = (
    update(_TRY)
    .where(_TRY.c.ti_id == bindparam("ti"), _TRY.c.try_number == bindparam("try"))
    .values(log_path=bindparam("path"))
)
_LAST_ELEMENTS = Prepared(
    select(_TI.c.task_id, func.max(_TI.c.map_index))
    .where(_TI.c.run_pk == bindparam("run_pk"))
    .where(_TI.c.task_id.in_(bindparam("task_ids", expanding=True)))
    .where(_TI.c.map_index >= 0)
    .group_by(_TI.c.task_id)
)


def record_dispatches(db: Database, records: Sequence[DispatchRecord]) -> None:
    """Remember where tries log and runs stage, so that clearing history finds both.

    Bookkeeping, not on the path to a task's start: the scheduler batches it. One transaction.
    """
    if not records:
        return
    with db.transaction() as s:
        paths = [{"ti": r.ti_id, "try": r.try_number, "path": str(r.log_file)} for r in records]
        common.conn(s).execute(_SET_LOG_PATH, paths)
        for record in records:
            if record.run_pk is not None and record.staging_dir is not None:
                attach_staging(s, record.run_pk, record.staging_dir)


def attach_staging(s: Session, run_pk: int, path: str) -> None:
    """Record where run ``run_pk`` stages (a local path, or its URI on the shared store), so
    that deleting the run removes it: one row per run, made on the first dispatch; a re-run
    re-attaches the same path."""
    stamp = now()
    values = {"run_pk": run_pk, "path": path, "created_at": stamp, "attached_at": stamp}
    _ATTACH_STAGING.execute(common.conn(s), values)


def _values_by_task(s: Session, run_pk: int, refs: Iterable[XComRef]) -> dict[tuple[str, str], Any]:
    """Each upstream's output: one value, or the list of a mapped upstream's outputs."""
    wanted = {(r.task_id, r.key) for r in refs}
    if not wanted:
        return {}
    task_ids = sorted({t for t, _ in wanted})
    stored = outputs_by_index(s, run_pk, task_ids)
    params = {"run_pk": run_pk, "task_ids": task_ids}
    last_elements = dict(_LAST_ELEMENTS.execute(common.conn(s), params).fetchall())
    values: dict[tuple[str, str], Any] = {}
    by_index: dict[tuple[str, str], dict[int, Any]] = {}
    for (task_id, key, map_index), value in stored.items():
        by_index.setdefault((task_id, key), {})[map_index] = value
    for task_id, key in wanted:
        found = by_index.get((task_id, key), {})
        if task_id in last_elements:  # the reader planning uses too: they agree on elements
            values[(task_id, key)] = upstream_output(found, last_elements[task_id] + 1, mapped=True)
        else:
            values[(task_id, key)] = found.get(-1)
    return values


def _resolve(s: Session, run_pk: int, refs: Mapping[str, XComRef]) -> dict[str, Any]:
    """Upstream values by argument name; a missing value is ``None`` (as in Airflow)."""
    values = _values_by_task(s, run_pk, refs.values())
    return {name: values[(ref.task_id, ref.key)] for name, ref in refs.items()}


def _mapped(s: Session, run_pk: int, task: TaskSpec, map_index: int) -> dict[str, Any]:
    """The element of each mapped list for ``map_index`` (several lists: their product, in
    Airflow's order, the last argument varying fastest); literal lists come from the spec."""
    if not task.mapped or map_index < 0:
        return {}
    upstream = _resolve(s, run_pk, upstream_refs(task))
    lists = mapped_lists(task, {name: mapped_list(values) for name, values in upstream.items()})
    try:
        return element(lists, map_index)
    except IndexError:
        raise NotFoundError(
            f"map_index {map_index} is out of range of the mapped lists {list(lists)}."
        ) from None


def bundle_bytes(db: Database, digest: str) -> bytes:
    with db.read() as s:
        return repo.load_bundle(s, digest)


def has_unfinished_runs(db: Database) -> bool:
    """A run is running, or queued on a DAG that may start it (not paused, registered)."""
    startable = and_(
        DagRun.state == RunState.QUEUED.value,
        exists().where(
            Dag.dag_id == DagRun.dag_id, Dag.is_paused.is_(False), Dag.deregistered_at.is_(None)
        ),
    )
    with db.read() as s:
        stmt = select(DagRun.id).where((DagRun.state == RunState.RUNNING.value) | startable)
        return s.scalars(stmt.limit(1)).first() is not None


def next_retry_at(db: Database) -> datetime | None:
    """When the earliest waiting retry, sensor poke or deferred sensor check of a running run
    is due (the scheduler wakes then)."""
    with db.read() as s:
        return s.scalars(
            select(TaskInstance.next_try_at)
            .join(DagRun, DagRun.id == TaskInstance.run_pk)
            .where(TaskInstance.state.in_(sorted(TIMED_WAIT_STATES)))
            .where(DagRun.state == RunState.RUNNING.value)
            .order_by(TaskInstance.next_try_at)
            .limit(1)
        ).first()
