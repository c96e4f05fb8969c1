"""Backfills as Airflow 3's ``/api/v2/backfills`` shows them (ADR 0040).

A backfill is complete when it is cancelled (``completed_at`` stored) or when none of its
runs is queued or running any more: its ``completed_at`` is then its last run's end. That
second case is read, not written, so no scheduler has to notice it (and two schedulers cannot
disagree about it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pinflow.errors import NotFoundError
from pinflow.lifecycle.states import UNFINISHED_RUN_STATES
from pinflow.services.reads._queries import Page, paged
from pinflow.spec.models import TriggerSpec
from pinflow.store.db import Database
from pinflow.store.tables import Backfill, Dag, DagRun, Snapshot, WorkflowDefinition

_UNFINISHED = [state.value for state in UNFINISHED_RUN_STATES]


@dataclass(frozen=True)
class BackfillView:
    id: int
    dag_id: str
    version_id: str | None
    from_date: datetime
    to_date: datetime
    run_backwards: bool
    dag_run_conf: dict[str, Any]
    reprocess_behavior: str
    max_active_runs: int
    is_paused: bool
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None


def completed_at(s: Session, row: Backfill) -> datetime | None:
    """When the backfill completed (``None``: runs of it are still queued or running)."""
    if row.completed_at is not None:
        return row.completed_at
    unfinished, last_end = s.execute(
        select(
            func.count().filter(DagRun.state.in_(_UNFINISHED)),
            func.max(DagRun.end_date),
        ).where(DagRun.backfill_id == row.id)
    ).one()
    if unfinished:
        return None
    return last_end or row.created_at


def view_of(s: Session, row: Backfill) -> BackfillView:
    return BackfillView(
        id=row.id,
        dag_id=row.dag_id,
        version_id=row.version_id,
        from_date=row.from_date,
        to_date=row.to_date,
        run_backwards=row.run_backwards,
        dag_run_conf=dict(row.dag_run_conf or {}),
        reprocess_behavior=row.reprocess_behavior,
        max_active_runs=row.max_active_runs,
        is_paused=row.is_paused,
        created_at=row.created_at,
        updated_at=row.updated_at,
        completed_at=completed_at(s, row),
    )


def list_backfills(
    db: Database, dag_id: str, *, page: Page = (50, 0)
) -> tuple[list[BackfillView], int]:
    """The DAG's backfills, oldest first."""
    with db.read() as s:
        rows, total = paged(
            s, select(Backfill).where(Backfill.dag_id == dag_id), [Backfill.id.asc()], page
        )
        return [view_of(s, row) for (row,) in rows], total


def get_backfill(db: Database, backfill_id: int) -> BackfillView:
    with db.read() as s:
        row = s.get(Backfill, backfill_id)
        if row is None:
            raise NotFoundError(f"Backfill {backfill_id} was not found.")
        return view_of(s, row)


def dag_of(db: Database, backfill_id: int) -> str:
    """The DAG of a backfill (where authority over it is checked)."""
    with db.read() as s:
        dag_id = s.scalars(select(Backfill.dag_id).where(Backfill.id == backfill_id)).one_or_none()
    if dag_id is None:
        raise NotFoundError(f"Backfill {backfill_id} was not found.")
    return dag_id


def current_trigger(db: Database, dag_id: str) -> TriggerSpec:
    """The schedule of the DAG's current version (what a backfill's dates follow)."""
    with db.read() as s:
        data = s.scalars(
            select(Snapshot.spec["trigger"])
            .join(WorkflowDefinition, WorkflowDefinition.snapshot_digest == Snapshot.digest)
            .join(Dag, Dag.current_version_id == WorkflowDefinition.id)
            .where(Dag.dag_id == dag_id)
        ).one_or_none()
    return TriggerSpec.model_validate(data or {})
