"""Scheduled runs: what each DAG's schedule says, and creating the runs that are due.

Only DAGs that may run on a schedule are considered: registered, not paused, with a current
version that is active and not deleted (a draft or a deprecated version is never scheduled;
manual and test runs are ``trigger_run``'s). The intervals themselves are decided by the
scheduler's pure cron planning; this module reads the facts and writes the runs.

A scheduled run's id is ``scheduled__<interval start>``: creating the same interval twice
(two schedulers, or a retry after a crash) finds the existing run and creates nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pinflow.lifecycle.states import RunType, VersionStatus
from pinflow.services.common import SYSTEM_ACTOR, for_update
from pinflow.services.dispatch import cached_spec
from pinflow.services.runs import RunSpec, insert_run
from pinflow.spec.models import DagSpec, TriggerSpec
from pinflow.spec.validation import validate_conf
from pinflow.store.db import Database
from pinflow.store.tables import Dag, DagRun, WorkflowDefinition


@dataclass(frozen=True)
class ScheduleFacts:
    dag_id: str
    version_id: str
    trigger: TriggerSpec
    last_interval_end: datetime | None  # of the latest scheduled run, if any
    has_scheduled_runs: bool
    next_dagrun_after: datetime | None


def scheduled_dags(db: Database) -> list[ScheduleFacts]:
    """Every DAG whose current, active version has a schedule, with its latest interval."""
    with db.read() as s:
        rows = s.execute(
            select(Dag.dag_id, Dag.next_dagrun_after, WorkflowDefinition)
            .join(WorkflowDefinition, WorkflowDefinition.id == Dag.current_version_id)
            .where(Dag.is_paused.is_(False), Dag.deregistered_at.is_(None))
            .where(WorkflowDefinition.status == VersionStatus.ACTIVE.value)
            .where(WorkflowDefinition.deleted_at.is_(None))
            .order_by(Dag.dag_id)
        ).all()
        facts: list[ScheduleFacts] = []
        for dag_id, next_after, version in rows:
            trigger = cached_spec(s, version.snapshot_digest).trigger
            if trigger.schedule is None:
                continue
            count, last_end = s.execute(
                select(func.count(DagRun.id), func.max(DagRun.data_interval_end)).where(
                    DagRun.dag_id == dag_id, DagRun.run_type == RunType.SCHEDULED.value
                )
            ).one()
            facts.append(
                ScheduleFacts(dag_id, version.id, trigger, last_end, count > 0, next_after)
            )
        return facts


def create_scheduled_runs(
    db: Database,
    dag_id: str,
    *,
    version_id: str,
    intervals: Sequence[tuple[datetime, datetime]],
    next_due: datetime | None,
) -> int:
    """Create a queued run per ``(start, end)`` interval on ``version_id``; returns how many.

    Checked again under the DAG's lock: nothing is created if the DAG was paused or
    deregistered, or its current version changed or stopped being active, meanwhile.
    """
    with db.transaction() as s:
        dag = s.scalars(for_update(select(Dag).where(Dag.dag_id == dag_id))).one_or_none()
        if dag is None or dag.is_paused or dag.deregistered_at is not None:
            return 0
        version = s.get(WorkflowDefinition, version_id)
        if (
            version is None
            or dag.current_version_id != version_id
            or version.status != VersionStatus.ACTIVE
            or version.deleted_at is not None
        ):
            return 0
        spec = cached_spec(s, version.snapshot_digest)
        created = sum(_create(s, version, spec, start, end) for start, end in intervals)
        dag.next_dagrun_after = next_due
        return created


def _create(
    s: Session, version: WorkflowDefinition, spec: DagSpec, start: datetime, end: datetime
) -> int:
    run_id = f"{RunType.SCHEDULED.value}__{start.isoformat()}"
    exists = s.scalars(
        select(DagRun.id).where(DagRun.dag_id == version.dag_id, DagRun.run_id == run_id)
    ).first()
    if exists is not None:
        return 0
    new = RunSpec(
        run_id, RunType.SCHEDULED, SYSTEM_ACTOR, start, start, end, {}, validate_conf(spec, {})
    )
    insert_run(s, version, spec, new, meta={"dataInterval": [start.isoformat(), end.isoformat()]})
    return 1
