"""Starting queued runs: ``queued`` -> ``running``, oldest first, within each DAG's
``max_active_runs``; and a first step of each run that started (``start_new_runs``).

Lock order: the DAG row first (its running runs are counted against it), then its queued
runs (``SKIP LOCKED``: a run locked elsewhere is passed over, not waited for). One
transaction per DAG.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from pinflow.lifecycle.states import RunState
from pinflow.services import common
from pinflow.services.common import for_update
from pinflow.services.engine._scheduling import advance_runs, execute_guarded
from pinflow.store.db import Database
from pinflow.store.prepared import Prepared
from pinflow.store.repo import SpecCache
from pinflow.store.tables import Backfill, Dag, DagRun

DEFAULT_START_LIMIT = 100


def start_queued_runs(
    db: Database, *, limit: int = DEFAULT_START_LIMIT, now: datetime | None = None
) -> int:
    """Move queued runs to ``running``, oldest first, within each DAG's ``max_active_runs``.

    The limit is the one of each run's pinned spec, counted against the DAG's running runs. A
    run that does not fit holds back the newer queued runs of its DAG (first in, first out).
    A backfill's runs are counted against the backfill's own ``max_active_runs`` instead, and
    wait while it is paused (ADR 0040). Runs of paused or deregistered DAGs stay queued. One
    transaction per DAG; returns how many runs started.
    """
    return len(_start_queued(db, limit=limit, now=now))


def start_new_runs(db: Database, *, now: datetime | None = None) -> int:
    """``start_queued_runs``, then a first step of each run that started (what a trigger
    waits for). Returns the number of changes, as ``schedule_pass`` does."""
    started = _start_queued(db, limit=DEFAULT_START_LIMIT, now=now)
    return len(started) + advance_runs(db, started, now=now, retries_due_by=None)


_QUEUED_DAGS = Prepared(  # every poll for new runs asks this
    select(DagRun.dag_id)
    .join(Dag, Dag.dag_id == DagRun.dag_id)
    .where(DagRun.state == RunState.QUEUED.value, Dag.is_paused.is_(False))
    .where(Dag.deregistered_at.is_(None))
    .group_by(DagRun.dag_id)
    .order_by(func.min(DagRun.id))
)


def _start_queued(db: Database, *, limit: int, now: datetime | None) -> list[int]:
    with db.read() as s:
        dag_ids = [dag_id for (dag_id,) in _QUEUED_DAGS.execute(common.conn(s)).fetchall()]
    started: list[int] = []
    for dag_id in dag_ids:
        if len(started) >= limit:
            break
        with db.transaction() as s:
            started += _start_runs_of_dag(s, dag_id, limit - len(started), now or common.now())
    return started


def _start_runs_of_dag(s: Session, dag_id: str, limit: int, stamp: datetime) -> list[int]:
    dag = s.scalars(for_update(select(Dag).where(Dag.dag_id == dag_id))).one_or_none()
    if dag is None or dag.is_paused or dag.deregistered_at is not None:
        return []
    running = s.scalars(
        select(func.count())
        .select_from(DagRun)
        .where(DagRun.dag_id == dag_id, DagRun.state == RunState.RUNNING.value)
        .where(DagRun.backfill_id.is_(None))
    ).one()
    queued = _queued(s, DagRun.dag_id == dag_id, DagRun.backfill_id.is_(None), limit=limit)
    specs = SpecCache(s)
    candidates: list[DagRun] = []
    for run in queued:
        if running >= specs.get(run.snapshot_digest).max_active_runs:
            break  # first in, first out: no newer run of the DAG overtakes this one
        candidates.append(run)
        running += 1
    # A backfill's runs count against its own max_active_runs, not the DAG's (ADR 0040).
    for backfill_id, free in _backfill_slots(s, dag_id).items():
        if free > 0 and len(candidates) < limit:
            room = min(free, limit - len(candidates))
            candidates += _queued(s, DagRun.backfill_id == backfill_id, limit=room)
    started: list[int] = []
    for run in candidates:
        if execute_guarded(
            s,
            update(DagRun)
            .where(DagRun.id == run.id, DagRun.state == RunState.QUEUED.value)
            .values(
                state=RunState.RUNNING.value, start_date=stamp, end_date=None, updated_at=stamp
            ),
        ):
            started.append(run.id)
    return started


def _queued(s: Session, *where: ColumnElement[bool], limit: int) -> list[DagRun]:
    """Queued runs, oldest first; a run locked elsewhere is passed over, not waited for."""
    return list(
        s.scalars(
            select(DagRun)
            .where(DagRun.state == RunState.QUEUED.value, *where)
            .order_by(DagRun.run_after, DagRun.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )


def _backfill_slots(s: Session, dag_id: str) -> dict[int, int]:
    """Free slots of each of the DAG's backfills that may start runs (not paused, not
    cancelled), oldest backfill first."""
    busy = (
        select(func.count())
        .where(DagRun.backfill_id == Backfill.id, DagRun.state == RunState.RUNNING.value)
        .correlate(Backfill)
        .scalar_subquery()
    )
    rows = s.execute(
        select(Backfill.id, Backfill.max_active_runs - busy)
        .where(Backfill.dag_id == dag_id, Backfill.is_paused.is_(False))
        .where(Backfill.completed_at.is_(None))
        .order_by(Backfill.id)
    ).all()
    return {backfill_id: int(free) for backfill_id, free in rows}
