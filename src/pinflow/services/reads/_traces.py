"""A finished run as a trace: the run's recorded times and each try's, read in one go (what
``pinflow.services.tracing`` exports as OpenTelemetry spans after the fact)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from pinflow.errors import ConflictError, NotFoundError
from pinflow.lifecycle.states import UNFINISHED_RUN_STATES
from pinflow.store.db import Database
from pinflow.store.tables import DagRun, TaskInstance, TaskInstanceTry

_LIVE = tuple(s.value for s in UNFINISHED_RUN_STATES)


@dataclass(frozen=True)
class TryTrace:
    task_id: str
    map_index: int
    try_number: int
    state: str
    start: datetime
    end: datetime
    hostname: str | None
    error: str | None


@dataclass(frozen=True)
class RunTrace:
    dag_id: str
    run_id: str
    run_type: str
    state: str
    start: datetime
    end: datetime
    version_id: str | None
    snapshot_digest: str
    tries: tuple[TryTrace, ...]  # those that started and ended, in start order


def run_trace(db: Database, dag_id: str, run_id: str) -> RunTrace:
    """The run's trace; a run still queued or running has none yet (its times are not final)."""
    with db.read() as s:
        run = s.scalars(
            select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
        ).one_or_none()
        if run is None:
            raise NotFoundError(f"Run {run_id!r} of DAG {dag_id!r} was not found.")
        if run.state in _LIVE:
            raise ConflictError(f"Run {run_id!r} is {run.state}: a trace is exported once it ends.")
        rows = s.execute(
            select(TaskInstance.task_id, TaskInstance.map_index, TaskInstanceTry)
            .join(TaskInstanceTry, TaskInstanceTry.ti_id == TaskInstance.id)
            .where(TaskInstance.run_pk == run.id)
            .order_by(TaskInstanceTry.start_date, TaskInstanceTry.id)
        ).all()
        tries = tuple(
            TryTrace(
                task_id,
                map_index,
                t.try_number,
                t.state,
                t.start_date,
                t.end_date,
                t.hostname,
                t.error,
            )
            for task_id, map_index, t in rows
            if t.start_date is not None and t.end_date is not None
        )
        start = run.start_date or run.created_at
        return RunTrace(
            dag_id=run.dag_id,
            run_id=run.run_id,
            run_type=run.run_type,
            state=run.state,
            start=start,
            end=run.end_date or max([start, *(t.end for t in tries)]),
            version_id=run.version_id,
            snapshot_digest=run.snapshot_digest,
            tries=tries,
        )


def finished_since(
    db: Database, since: datetime, dag_id: str | None = None
) -> list[tuple[str, str]]:
    """``(dag_id, run_id)`` of the runs that ended at or after ``since``, oldest first."""
    stmt = select(DagRun.dag_id, DagRun.run_id).where(
        DagRun.state.not_in(_LIVE), DagRun.end_date >= since
    )
    if dag_id is not None:
        stmt = stmt.where(DagRun.dag_id == dag_id)
    with db.read() as s:
        return [(d, r) for d, r in s.execute(stmt.order_by(DagRun.end_date, DagRun.id))]
