"""Moving runs forward: start queued runs, schedule ready tasks, hand them out, finish runs.

The decisions are ``pinflow.lifecycle.run_planning``'s; this module applies them. Every write is
a guarded ``UPDATE … WHERE state = :expected``, so a decision computed from state that changed
meanwhile (a clear, a concurrent report) writes nothing instead of overwriting newer state.

Lock order, everywhere task instances change: the DAG row (only to count against its limits),
then the run row, then task instance rows. ``advance_run`` expects the caller to hold the run's
row lock (``lock_run``), which is what serialises two reports finishing the two upstreams of a
join task: the second one sees the first one's result and schedules the join.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Update, func, select, update
from sqlalchemy.orm import Session

from pinflow.lifecycle.run_planning import RunPlan, TaskMove, plan_run
from pinflow.lifecycle.states import (
    FINISHED_TASK_STATES,
    LIVE_TASK_STATES,
    RunState,
    TaskState,
)
from pinflow.services import common
from pinflow.services.common import SYSTEM_ACTOR, audit, for_update
from pinflow.spec.models import DagSpec
from pinflow.store import repo
from pinflow.store.db import Database
from pinflow.store.tables import Dag, DagRun, TaskInstance

DEFAULT_START_LIMIT = 100


def execute_guarded(session: Session, stmt: Update) -> int:
    """Run a guarded UPDATE and return how many rows matched its expected state."""
    result = cast(CursorResult[Any], session.execute(stmt))
    return result.rowcount


def lock_run(session: Session, run_pk: int) -> DagRun | None:
    return session.scalars(for_update(select(DagRun).where(DagRun.id == run_pk))).one_or_none()


class SpecCache:
    """Specs by snapshot digest for one unit of work: a snapshot never changes, so parse once."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._specs: dict[str, DagSpec] = {}

    def get(self, digest: str) -> DagSpec:
        if digest not in self._specs:
            self._specs[digest] = repo.load_spec(self._session, digest)
        return self._specs[digest]


# --- one run ------------------------------------------------------------------------------------


def advance_run(
    session: Session,
    run: DagRun,
    *,
    now: datetime | None = None,
    retries_due_by: datetime | None = None,
) -> int:
    """Apply one scheduling step to a running run, in the caller's transaction.

    Ready tasks become ``scheduled``, skips and upstream failures cascade, ``up_for_retry``
    tasks whose ``next_try_at`` is at or before ``retries_due_by`` (default: now) are scheduled
    again, and a run whose task instances have all finished gets its outcome. Runs that are not
    ``running`` (queued ones wait for ``start_queued_runs``) are left alone. The caller should
    hold the run's row lock. Returns the number of rows changed.
    """
    if run.state != RunState.RUNNING:
        return 0
    stamp = now or common.now()
    spec = repo.load_spec(session, run.snapshot_digest)
    plan = plan_run(spec, _task_states(session, run.id), spec.error_strategy)
    applied = [_apply_move(session, run.id, move, stamp) for move in plan.moves]
    changes = sum(applied)
    changes += _release_due_retries(session, run.id, retries_due_by or stamp, stamp)
    # A plan that met a changed state anywhere was computed from a stale picture; it may still
    # move tasks (each move is guarded) but it must not finish the run.
    if plan.outcome is not None and all(applied):
        changes += _finish_run(session, run, plan, stamp)
    return changes


def _task_states(session: Session, run_pk: int) -> dict[str, list[TaskState]]:
    rows = session.execute(
        select(TaskInstance.task_id, TaskInstance.state)
        .where(TaskInstance.run_pk == run_pk)
        .order_by(TaskInstance.id)
    ).all()
    states: dict[str, list[TaskState]] = {}
    for task_id, state in rows:
        states.setdefault(task_id, []).append(TaskState(state))
    return states


def _apply_move(session: Session, run_pk: int, move: TaskMove, stamp: datetime) -> int:
    values: dict[str, Any] = {"state": move.to_state.value, "updated_at": stamp}
    if move.to_state in FINISHED_TASK_STATES:
        values.update(end_date=stamp, next_try_at=None)
    return execute_guarded(
        session,
        update(TaskInstance)
        .where(
            TaskInstance.run_pk == run_pk,
            TaskInstance.task_id == move.task_id,
            TaskInstance.state == move.from_state.value,
        )
        .values(**values),
    )


def _release_due_retries(session: Session, run_pk: int, due_by: datetime, stamp: datetime) -> int:
    return execute_guarded(
        session,
        update(TaskInstance)
        .where(
            TaskInstance.run_pk == run_pk,
            TaskInstance.state == TaskState.UP_FOR_RETRY.value,
            TaskInstance.next_try_at <= due_by,
        )
        .values(state=TaskState.SCHEDULED.value, next_try_at=None, updated_at=stamp),
    )


def _finish_run(session: Session, run: DagRun, plan: RunPlan, stamp: datetime) -> int:
    assert plan.outcome is not None
    changed = execute_guarded(
        session,
        update(DagRun)
        .where(DagRun.id == run.id, DagRun.state == RunState.RUNNING.value)
        .values(state=plan.outcome.value, end_date=stamp, updated_at=stamp),
    )
    if changed:
        failed = sorted(
            task_id
            for task_id, states in plan.states.items()
            if TaskState.FAILED in states or TaskState.UPSTREAM_FAILED in states
        )
        audit(
            session,
            actor=SYSTEM_ACTOR,
            action="run.finished",
            target_type="dag_run",
            target_id=f"{run.dag_id}/{run.run_id}",
            dag_id=run.dag_id,
            meta={
                "outcome": plan.outcome.value,
                "versionId": run.version_id,
                "snapshot": run.snapshot_digest,
                "failedTasks": failed,
            },
        )
    return changed


# --- queued runs --------------------------------------------------------------------------------


def start_queued_runs(
    db: Database, *, limit: int = DEFAULT_START_LIMIT, now: datetime | None = None
) -> int:
    """Move queued runs to ``running``, oldest first, within each DAG's ``max_active_runs``.

    The limit is the one of each run's pinned spec, counted against the DAG's running runs. A
    run that does not fit holds back the newer queued runs of its DAG (first in, first out).
    Runs of paused or deregistered DAGs stay queued. One transaction per DAG; returns how many
    runs started.
    """
    with db.read() as s:
        dag_ids = list(
            s.scalars(
                select(DagRun.dag_id)
                .join(Dag, Dag.dag_id == DagRun.dag_id)
                .where(DagRun.state == RunState.QUEUED.value, Dag.is_paused.is_(False))
                .where(Dag.deregistered_at.is_(None))
                .group_by(DagRun.dag_id)
                .order_by(func.min(DagRun.id))
            )
        )
    started = 0
    for dag_id in dag_ids:
        if started >= limit:
            break
        with db.transaction() as s:
            started += _start_runs_of_dag(s, dag_id, limit - started, now or common.now())
    return started


def _start_runs_of_dag(s: Session, dag_id: str, limit: int, stamp: datetime) -> int:
    dag = s.scalars(for_update(select(Dag).where(Dag.dag_id == dag_id))).one_or_none()
    if dag is None or dag.is_paused or dag.deregistered_at is not None:
        return 0
    running = s.scalars(
        select(func.count())
        .select_from(DagRun)
        .where(DagRun.dag_id == dag_id, DagRun.state == RunState.RUNNING.value)
    ).one()
    queued = s.scalars(
        select(DagRun)
        .where(DagRun.dag_id == dag_id, DagRun.state == RunState.QUEUED.value)
        .order_by(DagRun.run_after, DagRun.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    specs = SpecCache(s)
    started = 0
    for run in queued:
        if running >= specs.get(run.snapshot_digest).max_active_runs:
            break
        started += execute_guarded(
            s,
            update(DagRun)
            .where(DagRun.id == run.id, DagRun.state == RunState.QUEUED.value)
            .values(
                state=RunState.RUNNING.value, start_date=stamp, end_date=None, updated_at=stamp
            ),
        )
        running += 1
    return started


# --- the pass -----------------------------------------------------------------------------------


def schedule_pass(
    db: Database, *, now: datetime | None = None, retries_due_by: datetime | None = None
) -> int:
    """One scheduler pass: start queued runs, then advance every running run.

    One transaction per run, so a slow or conflicting run never holds back the others. Returns
    the number of changes (runs started plus rows changed); 0 means there was nothing to do.
    """
    changes = start_queued_runs(db, now=now)
    with db.read() as s:
        run_pks = list(
            s.scalars(
                select(DagRun.id).where(DagRun.state == RunState.RUNNING.value).order_by(DagRun.id)
            )
        )
    for run_pk in run_pks:
        with db.transaction() as s:
            run = lock_run(s, run_pk)
            if run is not None:
                changes += advance_run(s, run, now=now, retries_due_by=retries_due_by)
    return changes


# --- handing scheduled tasks to executors --------------------------------------------------


@dataclass(frozen=True)
class ClaimedTask:
    """A task instance moved to ``queued`` for an executor: everything needed to start it."""

    ti_id: int
    run_pk: int
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int  # the try about to start
    snapshot_digest: str  # the run's pin when claimed; ``start_task`` says what the try runs on
    version_id: str | None
    params: dict[str, Any] = field(default_factory=dict)
    conf: dict[str, Any] = field(default_factory=dict)


def claim_scheduled(
    db: Database, *, limit: int, run_pk: int | None = None, now: datetime | None = None
) -> list[ClaimedTask]:
    """Move up to ``limit`` scheduled task instances of running runs to ``queued``.

    Oldest run first, then task instance order. A DAG never has more queued and running task
    instances than its ``max_active_tasks`` (the limit of each run's pinned spec, counted over
    all of the DAG's runs); the DAG row lock keeps two claimers from both filling the last
    slot. Rows another claimer holds are skipped, not waited for. Pools are not enforced here
    yet: pool slots arrive with the scheduler issue, which allocates them at this same step.
    """
    if limit <= 0:
        return []
    stamp = now or common.now()
    with db.transaction() as s:
        specs = SpecCache(s)
        claimed: list[ClaimedTask] = []
        for dag_id in _dags_with_scheduled(s, run_pk):
            if len(claimed) >= limit:
                break
            claimed += _claim_for_dag(
                s, dag_id, limit=limit - len(claimed), run_pk=run_pk, specs=specs, stamp=stamp
            )
        return claimed


def _dags_with_scheduled(s: Session, run_pk: int | None) -> list[str]:
    stmt = select(TaskInstance.dag_id).where(TaskInstance.state == TaskState.SCHEDULED.value)
    if run_pk is not None:
        stmt = stmt.where(TaskInstance.run_pk == run_pk)
    return list(s.scalars(stmt.distinct().order_by(TaskInstance.dag_id)))  # one lock order


def _claim_for_dag(
    s: Session, dag_id: str, *, limit: int, run_pk: int | None, specs: SpecCache, stamp: datetime
) -> list[ClaimedTask]:
    if s.scalars(for_update(select(Dag.dag_id).where(Dag.dag_id == dag_id))).first() is None:
        return []
    # max_active_tasks counts per run, as in Airflow 3 (it was per DAG in Airflow 2).
    rows = s.execute(
        select(TaskInstance.run_pk, func.count())
        .where(TaskInstance.dag_id == dag_id)
        .where(TaskInstance.state.in_([state.value for state in LIVE_TASK_STATES]))
        .group_by(TaskInstance.run_pk)
    ).all()
    live: dict[int, int] = {run_pk: count for run_pk, count in rows}
    stmt = (
        select(TaskInstance, DagRun)
        .join(DagRun, DagRun.id == TaskInstance.run_pk)
        .where(TaskInstance.dag_id == dag_id, TaskInstance.state == TaskState.SCHEDULED.value)
        .where(DagRun.state == RunState.RUNNING.value)
        .order_by(DagRun.id, TaskInstance.id)
        .limit(limit)
        .with_for_update(of=TaskInstance, skip_locked=True)
    )
    if run_pk is not None:
        stmt = stmt.where(TaskInstance.run_pk == run_pk)
    claimed: list[ClaimedTask] = []
    for ti, run in s.execute(stmt):
        if live.get(run.id, 0) >= specs.get(run.snapshot_digest).max_active_tasks:
            continue
        if _queue(s, ti, stamp):
            live[run.id] = live.get(run.id, 0) + 1
            claimed.append(_claimed(ti, run))
    return claimed


def _queue(s: Session, ti: TaskInstance, stamp: datetime) -> bool:
    return bool(
        execute_guarded(
            s,
            update(TaskInstance)
            .where(TaskInstance.id == ti.id, TaskInstance.state == TaskState.SCHEDULED.value)
            .values(state=TaskState.QUEUED.value, queued_at=stamp, updated_at=stamp),
        )
    )


def _claimed(ti: TaskInstance, run: DagRun) -> ClaimedTask:
    return ClaimedTask(
        ti_id=ti.id,
        run_pk=run.id,
        dag_id=run.dag_id,
        run_id=run.run_id,
        task_id=ti.task_id,
        map_index=ti.map_index,
        try_number=ti.try_number + 1,
        snapshot_digest=run.snapshot_digest,
        version_id=run.version_id,
        params=dict(run.params or {}),
        conf=dict(run.conf or {}),
    )
