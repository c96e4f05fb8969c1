"""Runs as Airflow's ``/api/v2`` shows them, and an operator's actions on one run: mark it
success, failed or queued, annotate it, delete it.

Choices (Airflow's behaviour unless said otherwise):
- Mark success: every task instance not ``success``, ``skipped`` or ``removed`` becomes
  ``success`` (a skip or a removal is an outcome already; Airflow overwrites skips too).
- Mark failed: queued and running task instances become ``failed``, the ones that have not
  started ``skipped``. Mark queued: only the run changes; the scheduler starts it again and
  its outcome is re-computed from its tasks.
- A live try that is overwritten is closed in its history row, and its late result is
  refused as stale (the engine's guards, ``lifecycle.try_rules``), never written over the mark.
- Delete removes the run and everything under it (task instances, tries, XComs, the staging
  dir row), as Airflow does, except that live task instances make it a 409 unless forced
  (seed 000's rule for every destructive action). The files to remove are returned.
- Each change is one transaction, guarded by the state read under the run's row lock, and
  audited (``run.state_set``, ``run.note_set``, ``run.deleted``); a change to what the run
  already is writes nothing and records nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from pinflow.errors import ConflictError, NotFoundError
from pinflow.lifecycle.states import LIVE_TASK_STATES, RunState, TaskState
from pinflow.services import audit_events as events
from pinflow.services.audit_events import record
from pinflow.services.common import now
from pinflow.services.engine._run_marks import mark_tasks
from pinflow.services.engine._scheduling import execute_guarded, lock_run
from pinflow.services.reads._run_queries import RunInfo, run_info_in, run_row
from pinflow.store.db import Database
from pinflow.store.tables import DagRun, StagingDir, TaskInstance, TaskInstanceTry

_LIVE = tuple(s.value for s in LIVE_TASK_STATES)


_KEPT_ON_SUCCESS = (TaskState.SUCCESS.value, TaskState.SKIPPED.value, TaskState.REMOVED.value)


_NOT_STARTED = (
    TaskState.NONE.value,
    TaskState.SCHEDULED.value,
    TaskState.UP_FOR_RETRY.value,
    TaskState.UP_FOR_RESCHEDULE.value,
    TaskState.DEFERRED.value,
)


@dataclass(frozen=True)
class DeletedRun:
    run_id: str
    log_paths: tuple[str, ...]
    staging_dirs: tuple[str, ...]


def lock_named_run(s: Session, dag_id: str, run_id: str) -> DagRun:
    run = lock_run(s, run_row(s, dag_id, run_id).id)
    if run is None:
        raise NotFoundError(f"DAG run {run_id!r} of DAG {dag_id!r} was not found.")
    return run


def _task_moves(state: RunState) -> dict[TaskState, tuple[str, ...]]:
    if state == RunState.SUCCESS:
        everything = tuple(t.value for t in TaskState if t.value not in _KEPT_ON_SUCCESS)
        return {TaskState.SUCCESS: everything}
    if state == RunState.FAILED:
        return {TaskState.FAILED: _LIVE, TaskState.SKIPPED: _NOT_STARTED}
    return {}


def set_run_state(
    db: Database, dag_id: str, run_id: str, state: RunState, *, actor: str
) -> RunInfo:
    """Mark the run ``success``, ``failed`` or ``queued`` (see the module doc)."""
    with db.transaction() as s:
        run = lock_named_run(s, dag_id, run_id)
        before = run.state
        if before == state.value:
            return run_info_in(s, run)
        tasks, _ = mark_tasks(s, run.id, _task_moves(state), f"run marked {state.value} by {actor}")
        finished = state in (RunState.SUCCESS, RunState.FAILED)
        values: dict[str, Any] = {"state": state.value, "updated_at": now()}
        values["end_date"] = now() if finished else None
        if not execute_guarded(
            s, update(DagRun).where(DagRun.id == run.id, DagRun.state == before).values(**values)
        ):
            raise ConflictError(f"DAG run {run_id!r} changed meanwhile; reload and retry.")
        s.refresh(run)
        record(s, actor, events.run_state_set(run, old=before, new=state, tasks=tasks))
        return run_info_in(s, run)


def set_run_note(
    db: Database, dag_id: str, run_id: str, note: str | None, *, actor: str
) -> RunInfo:
    with db.transaction() as s:
        run = lock_named_run(s, dag_id, run_id)
        if run.note != note:
            run.note, run.updated_at = note, now()
            record(s, actor, events.run_note_set(run, note))
        return run_info_in(s, run)


def delete_run(
    db: Database, dag_id: str, run_id: str, *, actor: str, force: bool = False
) -> DeletedRun:
    """Delete the run and everything under it; 409 while tasks are live unless ``force``."""
    with db.transaction() as s:
        run = lock_named_run(s, dag_id, run_id)
        tis = select(TaskInstance.id).where(TaskInstance.run_pk == run.id)
        live = s.scalars(
            select(func.count())
            .select_from(TaskInstance)
            .where(TaskInstance.run_pk == run.id, TaskInstance.state.in_(_LIVE))
        ).one()
        if live and not force:
            raise ConflictError(
                f"DAG run {run_id!r} has {live} task instance(s) queued or running; wait for "
                "them to finish, mark the run failed, or delete with force=true."
            )
        logs = s.scalars(
            select(TaskInstanceTry.log_path).where(
                TaskInstanceTry.ti_id.in_(tis.scalar_subquery()),
                TaskInstanceTry.log_path.is_not(None),
            )
        ).all()
        staging = s.scalars(select(StagingDir.path).where(StagingDir.run_pk == run.id)).all()
        record(s, actor, events.run_deleted(run, live_tasks=live, forced=force))
        s.execute(delete(DagRun).where(DagRun.id == run.id))
        return DeletedRun(run_id, tuple(p for p in logs if p), tuple(staging))
