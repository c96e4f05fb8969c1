"""Starting runs: each run is pinned to a version and to the exact snapshot it executes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pinflow.errors import ConflictError, InvalidInputError, NotFoundError
from pinflow.lifecycle import version_rules as rules
from pinflow.lifecycle.states import RunState, RunType, TaskState, VersionStatus
from pinflow.services import wakeups
from pinflow.services.common import audit, enforce, for_update, now
from pinflow.services.versions import facts
from pinflow.services.views import RunView, run_view
from pinflow.spec.models import DagSpec
from pinflow.spec.validation import validate_conf
from pinflow.store import repo
from pinflow.store.db import Database
from pinflow.store.tables import Dag, DagRun, TaskInstance, WorkflowDefinition

_RUN_ID = re.compile(r"^[A-Za-z0-9_.:+\-]{1,250}$")
_INSERT_TASK_INSTANCES = insert(cast(Table, TaskInstance.__table__))


def trigger_run(
    db: Database,
    *,
    dag_id: str | None = None,
    version_id: str | None = None,
    conf: dict[str, Any] | None = None,
    run_id: str | None = None,
    logical_date: datetime | None = None,
    note: str | None = None,
    actor: str,
    run_type: RunType | None = None,
) -> RunView:
    """Start a run of ``version_id``, or of the DAG's current version when only ``dag_id`` is given.

    Drafts get test runs, active versions real ones; deprecated versions are refused with the
    seed's message. ``conf`` is validated against the version's params.
    """
    with db.transaction() as s:
        version = _resolve_version(s, dag_id, version_id)
        enforce(rules.START_RUN, facts(version))
        if conf is not None and not isinstance(conf, dict):
            raise InvalidInputError("conf must be a JSON object (a mapping of names to values).")
        spec = repo.load_spec(s, version.snapshot_digest)
        params = validate_conf(spec, conf)
        stamp = now()
        kind = run_type or (
            RunType.TEST if version.status == VersionStatus.DRAFT else RunType.MANUAL
        )
        rid = run_id or f"{kind.value}__{stamp.isoformat()}"
        if not _RUN_ID.match(rid):
            raise InvalidInputError(
                "run_id may only contain letters, digits and _ . : + - (at most 250 characters)."
            )
        if s.scalars(select(DagRun.id).filter_by(dag_id=version.dag_id, run_id=rid)).first():
            raise ConflictError(
                f"A run with run_id {rid!r} already exists for DAG {version.dag_id!r}."
            )
        day = logical_date or stamp
        run = insert_run(
            s,
            version,
            spec,
            RunSpec(rid, kind, actor, day, day, day, dict(conf or {}), params, note),
            meta={"confKeys": sorted((conf or {}).keys())},
        )
        return run_view(run)


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
    audit(
        s,
        actor=new.triggered_by,
        action="run.triggered",
        target_type="dag_run",
        target_id=f"{run.dag_id}/{run.run_id}",
        dag_id=run.dag_id,
        meta={
            "versionId": version.id,
            "version": version.version,
            "snapshot": version.snapshot_digest,
            "runType": new.run_type.value,
            **(meta or {}),
        },
    )
    return run


def _resolve_version(s: Session, dag_id: str | None, version_id: str | None) -> WorkflowDefinition:
    if version_id is not None:
        row = s.get(WorkflowDefinition, version_id)
        if row is None or (dag_id is not None and row.dag_id != dag_id):
            raise NotFoundError(f"Workflow version {version_id!r} was not found.")
        _require_registered(s, row.dag_id)
        return row
    if dag_id is None:
        raise NotFoundError("Name a DAG or a version to run.")
    dag = _require_registered(s, dag_id)
    if dag.current_version_id is None:
        raise ConflictError(
            f"DAG {dag_id!r} has no current version to run: publish a version, or start a run "
            "of a specific version."
        )
    row = s.get(WorkflowDefinition, dag.current_version_id)
    assert row is not None  # the FK guarantees it
    return row


def _require_registered(s: Session, dag_id: str) -> Dag:
    # Locked: a trigger racing a deregister must see its outcome, never slip a run in after it.
    dag = s.scalars(for_update(select(Dag).where(Dag.dag_id == dag_id))).one_or_none()
    if dag is None or dag.deregistered_at is not None:
        raise NotFoundError(f"DAG {dag_id!r} was not found.")
    return dag


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
                "updated_at": stamp,
            }
        )
    s.flush()  # the caller's pending ORM writes first, in the order they were made
    s.execute(_INSERT_TASK_INSTANCES, rows)


def get_run(db: Database, dag_id: str, run_id: str) -> RunView:
    with db.read() as s:
        row = s.scalars(
            select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
        ).one_or_none()
        if row is None:
            raise NotFoundError(f"DAG run {run_id!r} of DAG {dag_id!r} was not found.")
        return run_view(row)
