"""Clear task instances (Airflow's ``clearTaskInstances``) with seed 000's re-bind.

With ``reset_dag_runs`` a cleared run is re-bound to the DAG's current version and its newest
snapshot (unless ``run_on_latest_version`` is false, whose default is the DAG's
``rerun_with_latest_version`` setting). The plan comes from ``pinflow.lifecycle.rebind``;
a dry run returns it and changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from pinflow.errors import InvalidInputError, NotFoundError
from pinflow.lifecycle.rebind import (
    ClearPlan,
    ClearSelection,
    PlanAction,
    graph_of,
    plan_clear,
    select_tasks,
)
from pinflow.lifecycle.states import FAILED_TASK_STATES, RunState, TaskState
from pinflow.services import audit_events as events
from pinflow.services.audit_events import record
from pinflow.services.common import for_update, lock_dag, now
from pinflow.services.engine import _wakeups as wakeups
from pinflow.services.engine._run_rows import create_task_instances
from pinflow.spec.models import DagSpec, ResolvedTask
from pinflow.store import repo
from pinflow.store.db import Database
from pinflow.store.tables import Dag, DagRun, TaskInstance, TaskInstanceTry, WorkflowDefinition


@dataclass(frozen=True)
class RunClear:
    run_id: str
    plan: ClearPlan


@dataclass(frozen=True)
class ClearResult:
    dry_run: bool
    runs: list[RunClear]

    @property
    def cleared_task_ids(self) -> list[tuple[str, str]]:
        return [(r.run_id, t) for r in self.runs for t in r.plan.task_ids(PlanAction.RE_EXECUTED)]


def clear_task_instances(
    db: Database,
    dag_id: str,
    *,
    actor: str,
    task_ids: Sequence[str] | None = None,
    dag_run_id: str | None = None,
    only_failed: bool = True,
    include_upstream: bool = False,
    include_downstream: bool = False,
    reset_dag_runs: bool = True,
    run_on_latest_version: bool | None = None,
    dry_run: bool = False,
) -> ClearResult:
    selection = ClearSelection(
        task_ids=list(task_ids) if task_ids is not None else None,
        only_failed=only_failed,
        include_upstream=include_upstream,
        include_downstream=include_downstream,
    )
    with db.transaction() as s:
        dag = lock_dag(s, dag_id, include_deregistered=False)
        latest = (
            dag.rerun_with_latest_version
            if run_on_latest_version is None
            else run_on_latest_version
        )
        target = _target(s, dag) if (reset_dag_runs and latest) else None
        results: list[RunClear] = []
        for run in _runs(s, dag_id, dag_run_id):
            plan = _plan_run(s, run, selection, target)
            if not plan.task_ids(PlanAction.RE_EXECUTED) and not plan.rebinds:
                continue
            results.append(RunClear(run.run_id, plan))
            if not dry_run:
                _apply(s, run, plan, reset_dag_runs=reset_dag_runs, actor=actor)
        return ClearResult(dry_run, results)


def _target(s: Session, dag: Dag) -> WorkflowDefinition | None:
    if dag.current_version_id is None:
        return None
    return s.get(WorkflowDefinition, dag.current_version_id)


def _runs(s: Session, dag_id: str, dag_run_id: str | None) -> list[DagRun]:
    stmt = for_update(select(DagRun).where(DagRun.dag_id == dag_id))
    if dag_run_id is not None:
        stmt = stmt.where(DagRun.run_id == dag_run_id)
    runs = list(s.scalars(stmt.order_by(DagRun.id)))
    if dag_run_id is not None and not runs:
        raise NotFoundError(f"DAG run {dag_run_id!r} of DAG {dag_id!r} was not found.")
    return runs


def _states(s: Session, run: DagRun) -> dict[str, TaskState]:
    """One state per task; a mapped task counts as failed if any of its elements failed."""
    out: dict[str, TaskState] = {}
    rows = s.execute(
        select(TaskInstance.task_id, TaskInstance.state).where(TaskInstance.run_pk == run.id)
    ).all()
    for task_id, state in rows:
        st = TaskState(state)
        if task_id not in out or st in FAILED_TASK_STATES:
            out[task_id] = st
    return out


def _plan_run(
    s: Session, run: DagRun, sel: ClearSelection, target: WorkflowDefinition | None
) -> ClearPlan:
    pinned = repo.load_spec(s, run.snapshot_digest)
    if sel.task_ids is not None:
        unknown = sorted(set(sel.task_ids) - set(pinned.task_ids) - set(_states(s, run)))
        if unknown:
            raise InvalidInputError(
                f"Unknown task id(s) for run {run.run_id!r}: {', '.join(unknown)}."
            )
    states = _states(s, run)
    selected = select_tasks(graph_of(pinned), states, sel)
    to_version = target.id if target is not None else run.version_id
    to_digest = target.snapshot_digest if target is not None else run.snapshot_digest
    target_spec = pinned if to_digest == run.snapshot_digest else repo.load_spec(s, to_digest)
    if not selected:
        to_version, to_digest, target_spec = run.version_id, run.snapshot_digest, pinned
    return plan_clear(
        states=states,
        selected=selected,
        target=graph_of(target_spec),
        from_version_id=run.version_id,
        to_version_id=to_version,
        from_snapshot=run.snapshot_digest,
        to_snapshot=to_digest,
    )


def _apply(
    s: Session,
    run: DagRun,
    plan: ClearPlan,
    *,
    reset_dag_runs: bool,
    actor: str,
    element: TaskInstance | None = None,
) -> None:
    """Apply ``plan``; with ``element``, its task is that one element only (not re-expanded)."""
    spec = repo.load_spec(s, plan.to_snapshot)
    run.version_id, run.snapshot_digest = plan.to_version_id, plan.to_snapshot
    for task_id in plan.task_ids(PlanAction.RE_EXECUTED):
        if element is not None and task_id == element.task_id:
            task = spec.task(task_id)
            assert task is not None  # the run's own snapshot (an element clear never re-binds)
            _reset_row(s, element, spec.resolve(task))
        else:
            _reset_task(s, run, spec, task_id)
    removed = plan.task_ids(PlanAction.REMOVED)
    if removed:
        for ti in s.scalars(
            select(TaskInstance).where(
                TaskInstance.run_pk == run.id, TaskInstance.task_id.in_(removed)
            )
        ):
            ti.state, ti.end_date, ti.updated_at = TaskState.REMOVED.value, now(), now()
    create_task_instances(s, run, spec, plan.task_ids(PlanAction.NEW))
    if reset_dag_runs:
        run.state, run.end_date = RunState.QUEUED.value, None
        run.clear_number += 1
        wakeups.run_queued(s)
    run.updated_at = now()
    mapped = None if element is None else {element.task_id: element.map_index}
    record(s, actor, events.run_tasks_cleared(run, plan, elements=mapped))


def _reset_task(s: Session, run: DagRun, spec: DagSpec, task_id: str) -> None:
    """Back to ``none`` on the target definition; past tries stay in ``task_instance_try``."""
    task = spec.task(task_id)
    assert task is not None  # planned as re-executed only when the target has it
    resolved = spec.resolve(task)
    # A mapped task re-expands from its (possibly new) input: drop the old elements.
    s.execute(
        delete(TaskInstance).where(
            TaskInstance.run_pk == run.id,
            TaskInstance.task_id == task_id,
            TaskInstance.map_index >= 0,
        )
    )
    ti = s.scalars(
        select(TaskInstance).where(
            TaskInstance.run_pk == run.id,
            TaskInstance.task_id == task_id,
            TaskInstance.map_index == -1,
        )
    ).one_or_none()
    if ti is None:
        create_task_instances(s, run, spec, [task_id])
        return
    _reset_row(s, ti, resolved)


def _reset_row(s: Session, ti: TaskInstance, resolved: ResolvedTask) -> None:
    """One row back to ``none`` (a plain task, or one element of a mapped task)."""
    if ti.state == TaskState.RUNNING.value:
        # The live try is abandoned: close its history row. Its late result will be refused
        # by the expected-state guard in ``finish_task``.
        s.execute(
            update(TaskInstanceTry)
            .where(TaskInstanceTry.ti_id == ti.id, TaskInstanceTry.try_number == ti.try_number)
            .where(TaskInstanceTry.state == TaskState.RUNNING.value)
            .values(state=TaskState.FAILED.value, end_date=now(), error="cleared while running")
        )
    ti.state = TaskState.NONE.value
    ti.max_tries = ti.try_number + resolved.retries
    ti.pool, ti.pool_slots, ti.queue = resolved.pool, resolved.pool_slots, resolved.queue
    ti.next_try_at = ti.start_date = ti.end_date = ti.queued_at = None
    ti.hostname, ti.pid, ti.updated_at = None, None, now()
    ti.first_poke_at, ti.sensor_pokes, ti.trigger = None, 0, None  # a sensor waits afresh


def clear_mapped_element(
    db: Database,
    dag_id: str,
    *,
    actor: str,
    dag_run_id: str,
    task_id: str,
    map_index: int,
    include_downstream: bool = False,
    reset_dag_runs: bool = True,
    dry_run: bool = False,
) -> ClearResult:
    """Clear one element of a mapped task (and, optionally, the tasks downstream of it).

    The run keeps its version: re-binding would re-expand the whole task from the new
    definition, which is a clear of the task, not of one element. The other elements keep
    their state and results; the downstream tasks are reset whole.
    """
    with db.transaction() as s:
        lock_dag(s, dag_id, include_deregistered=False)
        (run,) = _runs(s, dag_id, dag_run_id)
        element = s.scalars(
            for_update(select(TaskInstance)).where(
                TaskInstance.run_pk == run.id,
                TaskInstance.task_id == task_id,
                TaskInstance.map_index == map_index,
            )
        ).one_or_none()
        if element is None or map_index < 0:
            raise NotFoundError(
                f"Run {dag_run_id!r} has no element {map_index} of task {task_id!r}: a mapped "
                "task has elements once it has expanded; send map_index -1 to clear a task."
            )
        graph = graph_of(repo.load_spec(s, run.snapshot_digest))
        below = graph.downstream_closure({task_id}) if include_downstream else set()
        plan = plan_clear(
            states=_states(s, run),
            selected={task_id, *below},
            target=graph,
            from_version_id=run.version_id,
            to_version_id=run.version_id,
            from_snapshot=run.snapshot_digest,
            to_snapshot=run.snapshot_digest,
        )
        if not dry_run:
            _apply(s, run, plan, reset_dag_runs=reset_dag_runs, actor=actor, element=element)
        return ClearResult(dry_run, [RunClear(run.run_id, plan)])
