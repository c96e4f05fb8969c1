"""Task instances as Airflow's ``/api/v2`` shows them (per run or across runs), their tries
(each with its log file), their XComs; marking one success, failed or skipped; notes.

Marking is guarded by the states read under the run's row lock; ``include_upstream`` and
``include_downstream`` follow the graph the run is pinned to; a live try overwritten is closed
in its history row (its late result is refused as stale). The run advances in the same
transaction, and a finished run is re-opened and re-evaluated, so that its state follows its
tasks (Airflow leaves a run "success" after a task in it is marked failed). Changes are
audited (``task.state_set``, ``task.note_set``) with the states they replaced.
"""

from __future__ import annotations

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from pinflow.errors import ConflictError, InvalidInputError, NotFoundError
from pinflow.lifecycle.rebind import graph_of
from pinflow.lifecycle.states import RunState, TaskState
from pinflow.services import audit_events as events
from pinflow.services.audit_events import record
from pinflow.services.commands._run_states import lock_named_run
from pinflow.services.common import now
from pinflow.services.engine._run_marks import close_live_tries
from pinflow.services.engine._scheduling import advance_run, execute_guarded
from pinflow.services.reads._task_queries import TaskInstanceInfo, TaskRef, _infos, _one
from pinflow.store.db import Database
from pinflow.store.repo import SpecCache
from pinflow.store.tables import DagRun, TaskInstance, TaskInstanceNote

MARKABLE = frozenset({TaskState.SUCCESS, TaskState.FAILED, TaskState.SKIPPED})


_FINISHED_RUNS = (RunState.SUCCESS.value, RunState.FAILED.value)


def _selected(s: Session, run: DagRun, ref: TaskRef, up: bool, down: bool) -> list[TaskInstance]:
    graph = graph_of(SpecCache(s).get(run.snapshot_digest))
    tasks = {ref.task_id}
    if up:
        tasks |= graph.upstream_closure({ref.task_id})
    if down:
        tasks |= graph.downstream_closure({ref.task_id})
    stmt = select(TaskInstance).where(
        TaskInstance.run_pk == run.id, TaskInstance.task_id.in_(tasks)
    )
    rows = list(s.scalars(stmt.order_by(TaskInstance.id).with_for_update()))
    target = [ti for ti in rows if ti.task_id == ref.task_id and ti.map_index == ref.map_index]
    if not target:
        raise NotFoundError(f"The task instance of {ref} was not found.")
    return target + [ti for ti in rows if ti.task_id != ref.task_id]


def _write_marks(s: Session, tis: list[TaskInstance], new: TaskState, actor: str) -> None:
    stamp = now()
    close_live_tries(s, [ti.id for ti in tis], new, f"marked {new.value} by {actor}")
    for ti in tis:
        changed = execute_guarded(
            s,
            update(TaskInstance)
            .where(TaskInstance.id == ti.id, TaskInstance.state == ti.state)
            .values(state=new.value, end_date=stamp, next_try_at=None, updated_at=stamp),
        )
        if not changed:
            raise ConflictError(f"Task {ti.task_id!r} changed state meanwhile; reload and retry.")


def _advance(s: Session, run: DagRun) -> None:
    """Re-open a finished run so its outcome follows its tasks, then advance it."""
    if run.state in _FINISHED_RUNS:
        execute_guarded(
            s,
            update(DagRun)
            .where(DagRun.id == run.id, DagRun.state == run.state)
            .values(state=RunState.RUNNING.value, end_date=None, updated_at=now()),
        )
        s.refresh(run)
    advance_run(s, run)


def set_task_state(
    db: Database,
    ref: TaskRef,
    new_state: TaskState,
    *,
    actor: str,
    include_upstream: bool = False,
    include_downstream: bool = False,
    dry_run: bool = False,
) -> list[TaskInstanceInfo]:
    """Mark the task instance (and relatives) ``new_state``; returns those that change."""
    if new_state not in MARKABLE:
        allowed = ", ".join(sorted(s.value for s in MARKABLE))
        raise InvalidInputError(f"new_state must be one of {allowed}, got {new_state.value!r}.")
    with db.transaction() as s:
        run = lock_named_run(s, ref.dag_id, ref.run_id)
        chosen = _selected(s, run, ref, include_upstream, include_downstream)
        changing = [ti for ti in chosen if ti.state != new_state.value]
        if dry_run or not changing:
            return _infos(s, [(ti, run) for ti in changing])
        marked = events.task_state_set(ref, new_state, changing)  # the states it replaces
        _write_marks(s, changing, new_state, actor)
        record(s, actor, marked)
        _advance(s, run)
        for ti in changing:
            s.refresh(ti)
        return _infos(s, [(ti, run) for ti in changing])


def set_task_note(db: Database, ref: TaskRef, note: str | None, *, actor: str) -> TaskInstanceInfo:
    """Set (``None``: remove) the note of one task instance."""
    with db.transaction() as s:
        lock_named_run(s, ref.dag_id, ref.run_id)
        ti = _one(s, ref)
        if ti.note != note:
            s.execute(delete(TaskInstanceNote).where(TaskInstanceNote.ti_id == ti.id))
            if note is not None:
                s.add(TaskInstanceNote(ti_id=ti.id, note=note, updated_by=actor, updated_at=now()))
            record(s, actor, events.task_note_set(ref, note))
            s.flush()
        return _one(s, ref)
