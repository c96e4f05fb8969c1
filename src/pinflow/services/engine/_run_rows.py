"""Creating a run's rows: the run, pinned to its version's snapshot, and its task instances.
Shared by a trigger (``commands.runs``), a schedule (``engine.schedules``) and a clear that
adds the tasks a new version brought."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pinflow.errors import ConflictError
from pinflow.lifecycle.states import RunState, RunType, TaskState
from pinflow.services import audit_events as events
from pinflow.services.audit_events import record
from pinflow.services.common import now
from pinflow.services.engine import _wakeups as wakeups
from pinflow.spec.models import DagSpec
from pinflow.store.tables import DagRun, TaskInstance, WorkflowDefinition

_INSERT_TASK_INSTANCES = insert(cast(Table, TaskInstance.__table__))


@dataclass(frozen=True)
class RunSpec:
    """What a new run is: everything but the version it is pinned to."""

    run_id: str
    run_type: RunType
    triggered_by: str
    logical_date: datetime
    interval_start: datetime
    interval_end: datetime
    conf: dict[str, Any]
    params: dict[str, Any]
    note: str | None = None


def insert_run(
    s: Session,
    version: WorkflowDefinition,
    spec: DagSpec,
    new: RunSpec,
    *,
    meta: dict[str, Any] | None = None,
) -> DagRun:
    """Create a queued run pinned to ``version`` and its snapshot, its task instances, and
    the ``run.triggered`` audit event (manual, test and scheduled runs alike)."""
    stamp = now()
    run = DagRun(
        dag_id=version.dag_id,
        run_id=new.run_id,
        version_id=version.id,
        snapshot_digest=version.snapshot_digest,
        run_type=new.run_type.value,
        state=RunState.QUEUED.value,
        logical_date=new.logical_date,
        data_interval_start=new.interval_start,
        data_interval_end=new.interval_end,
        run_after=max(stamp, new.interval_end),
        conf=new.conf,
        params=new.params,
        note=new.note,
        triggered_by=new.triggered_by,
        created_at=stamp,
        updated_at=stamp,
    )
    s.add(run)
    try:
        s.flush()
    except IntegrityError:  # a concurrent insert of the same run_id won the race
        raise ConflictError(f"A run with run_id {new.run_id!r} already exists.") from None
    create_task_instances(s, run, spec, spec.task_ids)
    wakeups.run_queued(s)
    record(s, new.triggered_by, events.run_triggered(run, version, new.run_type, meta))
    return run


def create_task_instances(s: Session, run: DagRun, spec: DagSpec, task_ids: list[str]) -> None:
    """One task instance per task (map_index -1; mapped tasks expand when their input exists).

    One executemany through Core: a 10,000-task run is created in one statement (batched),
    without an ORM object per row; nothing in this transaction needs the rows as objects.
    """
    if not task_ids:
        return
    stamp = now()
    rows: list[dict[str, Any]] = []
    for task_id in task_ids:
        task = spec.task(task_id)
        assert task is not None
        resolved = spec.resolve(task)
        rows.append(
            {
                "run_pk": run.id,
                "dag_id": run.dag_id,
                "task_id": task_id,
                "map_index": -1,
                "state": TaskState.NONE.value,
                "try_number": 0,
                "max_tries": resolved.retries,
                "pool": resolved.pool,
                "pool_slots": resolved.pool_slots,
                "queue": resolved.queue,
                "updated_at": stamp,
            }
        )
    s.flush()  # the caller's pending ORM writes first, in the order they were made
    s.execute(_INSERT_TASK_INSTANCES, rows)
