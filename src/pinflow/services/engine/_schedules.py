"""Scheduled runs: what each DAG's schedule says, and creating the runs that are due.

Only DAGs that may run on a schedule are considered: registered, not paused, with a current
version that is active and not deleted (a draft or a deprecated version is never scheduled;
manual and test runs are ``trigger_run``'s). The intervals themselves are decided by the
scheduler's pure cron planning; this module reads the facts and writes the runs.

A scheduled run's id is ``scheduled__<interval start>``: creating the same interval twice
(two schedulers, or a retry after a crash) finds the existing run and creates nothing.

A DAG's position, ``dag.next_dagrun_after``, is when its next run becomes due (Airflow's
``next_dagrun_create_after``), written with the runs. The scheduler's sweep reads only the
DAGs whose position has passed or is unknown (``NULL``), so a sweep costs what is due, not the
number of DAGs. The position belongs to the current version's schedule: a change of current
version must set it back to ``NULL``, or the new schedule is first looked at when the old
position passes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from pinflow.lifecycle.states import RunType, VersionStatus
from pinflow.services.common import SYSTEM_ACTOR, for_update
from pinflow.services.engine._run_rows import RunSpec, insert_run
from pinflow.spec.models import DagSpec, TriggerSpec
from pinflow.spec.validation import validate_conf
from pinflow.store import repo
from pinflow.store.db import Database
from pinflow.store.tables import Dag, DagRun, Snapshot, WorkflowDefinition

# Bind parameters per ``IN`` list: well under SQLite's and PostgreSQL's limits.
_IN_CHUNK = 500


@dataclass(frozen=True)
class ScheduleFacts:
    dag_id: str
    version_id: str
    trigger: TriggerSpec
    last_interval_end: datetime | None  # of the latest scheduled run, if any
    has_scheduled_runs: bool
    next_dagrun_after: datetime | None


def scheduled_dags(db: Database, *, now: datetime) -> list[ScheduleFacts]:
    """The schedulable DAGs to look at ``now``, with their schedule and latest interval.

    Only DAGs whose position says so: ``next_dagrun_after`` has passed, or is unknown
    (``NULL``: never computed, or nothing is due any more, which only the schedule can
    tell). A sweep therefore costs what is due, not the number of DAGs; the positions are
    written by ``create_scheduled_runs``.
    """
    with db.read() as s:
        rows = s.execute(
            select(
                Dag.dag_id,
                Dag.next_dagrun_after,
                WorkflowDefinition.id,
                WorkflowDefinition.snapshot_digest,
            )
            .join(WorkflowDefinition, WorkflowDefinition.id == Dag.current_version_id)
            .where(Dag.is_paused.is_(False), Dag.deregistered_at.is_(None))
            .where(WorkflowDefinition.status == VersionStatus.ACTIVE.value)
            .where(WorkflowDefinition.deleted_at.is_(None))
            .where(or_(Dag.next_dagrun_after.is_(None), Dag.next_dagrun_after <= now))
            .order_by(Dag.dag_id)
        ).all()
        triggers = {row.dag_id: trigger_of(s, row.snapshot_digest) for row in rows}
        rows = [row for row in rows if triggers[row.dag_id].schedule is not None]
        latest = _latest_intervals(s, [row.dag_id for row in rows])
        return [
            ScheduleFacts(
                row.dag_id,
                row.id,
                triggers[row.dag_id],
                *latest.get(row.dag_id, (None, False)),
                row.next_dagrun_after,
            )
            for row in rows
        ]


def next_schedule_at(db: Database) -> datetime | None:
    """The earliest known position of a schedulable DAG: when the next scheduled run is due.

    An idle scheduler sleeps until then instead of sweeping every second. Unknown positions
    (``NULL``) are not counted: whatever resets one (a new current version, an unpause) wakes
    the schedulers, whose next sweep computes it.
    """
    with db.read() as s:
        return s.scalar(
            select(func.min(Dag.next_dagrun_after))
            .join(WorkflowDefinition, WorkflowDefinition.id == Dag.current_version_id)
            .where(Dag.is_paused.is_(False), Dag.deregistered_at.is_(None))
            .where(WorkflowDefinition.status == VersionStatus.ACTIVE.value)
            .where(WorkflowDefinition.deleted_at.is_(None))
        )


# Snapshots never change, so the trigger of a digest is cached for the process's life. It is
# a handful of fields, and only the schedulable versions' digests get here: no eviction, so
# DAGs without a schedule cost a dictionary lookup per sweep however many there are.
_triggers: dict[str, TriggerSpec] = {}


def trigger_of(s: Session, digest: str) -> TriggerSpec:
    """The trigger of a snapshot's spec."""
    trigger = _triggers.get(digest)
    if trigger is None:
        trigger = _load_trigger(s, digest)
        _triggers[digest] = trigger
    return trigger


def _load_trigger(s: Session, digest: str) -> TriggerSpec:
    # Only the trigger: the tasks of a large spec are neither read nor validated.
    data: dict[str, Any] | None = s.scalars(
        select(Snapshot.spec["trigger"]).where(Snapshot.digest == digest)
    ).one()
    return TriggerSpec.model_validate(data or {})


def _latest_intervals(
    s: Session, dag_ids: Sequence[str]
) -> dict[str, tuple[datetime | None, bool]]:
    """Per DAG that has scheduled runs: the end of its latest interval, and ``True``."""
    found: dict[str, tuple[datetime | None, bool]] = {}
    for i in range(0, len(dag_ids), _IN_CHUNK):
        rows = s.execute(
            select(DagRun.dag_id, func.max(DagRun.data_interval_end))
            .where(DagRun.dag_id.in_(dag_ids[i : i + _IN_CHUNK]))
            .where(DagRun.run_type == RunType.SCHEDULED.value)
            .group_by(DagRun.dag_id)
        ).all()
        found.update((dag_id, (last_end, True)) for dag_id, last_end in rows)
    return found


def create_scheduled_runs(
    db: Database,
    dag_id: str,
    *,
    version_id: str,
    intervals: Sequence[tuple[datetime, datetime]],
    next_due: datetime | None,
) -> int:
    """Create a queued run per ``(start, end)`` interval on ``version_id`` and move the DAG's
    position to ``next_due``; returns how many runs were created.

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
        created = 0
        if intervals:  # moving the position alone needs no spec
            spec = repo.load_spec(s, version.snapshot_digest)
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
