"""DAG-level operations of seed 000: impact preview, clear history, deregister, restore, purge,
pause, and the DAG read model.

Each write is one transaction with one audit event: lock the DAG row, measure the ``Impact``
(locking the DAG's runs, then its unfinished task instances, so that no task starts or
finishes meanwhile), ask the rules in ``pinflow.lifecycle.dag_rules``, write, audit, commit.
On PostgreSQL the DAG row lock also holds off new runs of the DAG: inserting a ``dag_run``
checks its foreign key with a share lock on that row, which waits for ours.

Choices (see also ``dag_rules``):

- Clear history deletes the DAG's runs and, by cascade, their task instances, tries, XComs
  and staging-dir rows. It keeps the DAG, its versions, its pause flag and its schedule
  position (``next_dagrun_after``), so clearing does not trigger a catch-up storm. Files are
  the caller's job: the returned ``Impact`` lists the staging dirs and log files to remove,
  and the runs whose artifacts to remove (``xcom_store.discard_artifacts``).
- Deregister is soft: ``deregistered_at``/``deregistered_by`` are set and nothing is deleted.
  The DAG and its versions leave the lists of ``queries`` and runs cannot be started; the
  scheduler must skip deregistered DAGs (it already keeps their queued runs queued). With
  ``force``, queued/running runs are marked ``failed``, and so are their unfinished task
  instances (and any queued/running one); a worker's late result is then refused as stale.
- Purge (after deregister) deletes the DAG, its versions and runs, and the DAG's snapshots
  that nothing references any more. Snapshots are content-addressed and per DAG (the spec
  holds the ``dag_id``), so after a purge nothing can use them; keeping their code bundles
  would contradict "permanent". A snapshot still referenced elsewhere is kept.
- Pause and the re-run setting are idempotent: setting the value a DAG already has changes
  nothing and records no event. Reads (preview, get, list) record no event either.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, delete, exists, func, or_, select, update
from sqlalchemy.orm import Session

from pinflow.errors import ConflictError, NotFoundError
from pinflow.lifecycle import dag_rules as rules
from pinflow.lifecycle.dag_rules import DagFacts, Impact
from pinflow.lifecycle.decisions import Rule
from pinflow.lifecycle.states import (
    FINISHED_TASK_STATES,
    LIVE_TASK_STATES,
    UNFINISHED_RUN_STATES,
    RunState,
    TaskState,
)
from pinflow.services import audit_events as events
from pinflow.services.audit_events import record
from pinflow.services.common import enforce, lock_dag, now
from pinflow.services.engine import _wakeups as wakeups
from pinflow.services.reads._dag_queries import DagInfo, dag_info_in
from pinflow.store.db import Database
from pinflow.store.tables import (
    Dag,
    DagRun,
    Snapshot,
    StagingDir,
    TaskInstance,
    TaskInstanceTry,
    WorkflowDefinition,
    XCom,
)

__all__ = [
    "Impact",
    "clear_history",
    "compute_impact",
    "deregister",
    "impact_preview",
    "purge_dag",
    "restore_dag",
    "set_paused",
    "set_rerun_with_latest_version",
]

_LIVE_RUNS = tuple(s.value for s in UNFINISHED_RUN_STATES)
_LIVE_TASKS = tuple(s.value for s in LIVE_TASK_STATES)
_FINISHED_TASKS = tuple(s.value for s in FINISHED_TASK_STATES)


# --- impact ------------------------------------------------------------------------------------


def _runs_of(dag_id: str) -> Any:
    return select(DagRun.id).where(DagRun.dag_id == dag_id).scalar_subquery()


def _count(s: Session, stmt: Any) -> int:
    return int(s.scalars(stmt).one())


def _running_tasks(s: Session, dag_id: str, *, lock: bool) -> int:
    """Live task instances. With ``lock``, the DAG's runs and then every unfinished task
    instance are locked until commit (runs before task instances: the order the scheduler and
    task reports use), so no task starts or finishes between the check and the write; a
    report waiting on a run lock finds the run gone, or changed, afterwards."""
    stmt = select(TaskInstance.state).where(
        TaskInstance.run_pk.in_(_runs_of(dag_id)), TaskInstance.state.not_in(_FINISHED_TASKS)
    )
    if lock:
        runs = select(DagRun.id).where(DagRun.dag_id == dag_id).order_by(DagRun.id)
        s.execute(runs.with_for_update())
        stmt = stmt.order_by(TaskInstance.id).with_for_update()
    return sum(1 for state in s.scalars(stmt) if state in _LIVE_TASKS)


def compute_impact(s: Session, dag_id: str, *, lock: bool = False) -> Impact:
    runs = _runs_of(dag_id)
    running = _running_tasks(s, dag_id, lock=lock)
    in_flight = s.scalars(
        select(DagRun.run_id)
        .where(DagRun.dag_id == dag_id, DagRun.state.in_(_LIVE_RUNS))
        .order_by(DagRun.id)
    ).all()
    logs = s.scalars(
        select(TaskInstanceTry.log_path)
        .join(TaskInstance, TaskInstance.id == TaskInstanceTry.ti_id)
        .where(TaskInstance.run_pk.in_(runs), TaskInstanceTry.log_path.is_not(None))
        .distinct()
    ).all()
    return Impact(
        dag_id=dag_id,
        runs_total=_count(s, select(func.count()).where(DagRun.dag_id == dag_id)),
        runs_in_flight=tuple(in_flight),
        running_tasks=running,
        task_instances=_count(
            s, select(func.count()).select_from(TaskInstance).where(TaskInstance.run_pk.in_(runs))
        ),
        versions=_count(s, select(func.count()).where(WorkflowDefinition.dag_id == dag_id)),
        xcoms=_count(s, select(func.count()).select_from(XCom).where(XCom.run_pk.in_(runs))),
        staging_dirs=tuple(
            sorted(s.scalars(select(StagingDir.path).where(StagingDir.run_pk.in_(runs))))
        ),
        log_paths=tuple(sorted(p for p in logs if p is not None)),
        run_ids=tuple(s.scalars(select(DagRun.run_id).where(DagRun.dag_id == dag_id))),
    )


def impact_preview(db: Database, dag_id: str) -> Impact:
    """What clearing, deregistering or purging the DAG would touch now (changes nothing)."""
    with db.read() as s:
        if s.get(Dag, dag_id) is None:
            raise NotFoundError(f"DAG {dag_id!r} was not found.")
        return compute_impact(s, dag_id)


def _prepare(
    s: Session,
    dag_id: str,
    group: tuple[Rule[DagFacts], ...],
    *,
    force: bool,
    include_deregistered: bool = True,
) -> tuple[Dag, Impact]:
    """Lock the DAG, measure the impact (locking live work), and ask the rules."""
    dag = lock_dag(s, dag_id, include_deregistered=include_deregistered)
    impact = compute_impact(s, dag_id, lock=True)
    enforce(group, DagFacts(dag_id, dag.deregistered_at is not None, impact, force))
    return dag, impact


# --- writes ------------------------------------------------------------------------------------


def clear_history(db: Database, dag_id: str, *, actor: str, force: bool = False) -> Impact:
    """Seed 000's "delete DAG": delete the runs and everything under them; keep DAG and versions.

    Returns what was deleted, including the staging dirs and log files the caller removes.
    """
    with db.transaction() as s:
        _, impact = _prepare(
            s, dag_id, rules.CLEAR_HISTORY, force=force, include_deregistered=False
        )
        s.execute(delete(DagRun).where(DagRun.dag_id == dag_id))
        record(s, actor, events.dag_history_cleared(impact, forced=force))
        return impact


def _guarded_dag_update(s: Session, dag: Dag, guard: ColumnElement[bool], **values: Any) -> None:
    """UPDATE dag … WHERE <expected state>; zero rows means someone else changed it first."""
    result = s.execute(
        update(Dag)
        .where(Dag.dag_id == dag.dag_id, guard)
        .values(updated_at=now(), **values)
        .execution_options(synchronize_session="fetch")
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise ConflictError(f"DAG {dag.dag_id!r} changed concurrently; reload and retry.")
    s.refresh(dag)


def _fail_unfinished(s: Session, dag_id: str) -> int:
    """Mark queued/running runs failed, with their unfinished (and any live) task instances."""
    stamp = now()
    live_runs = select(DagRun.id).where(DagRun.dag_id == dag_id, DagRun.state.in_(_LIVE_RUNS))
    to_fail = or_(
        TaskInstance.run_pk.in_(live_runs.scalar_subquery()),
        TaskInstance.state.in_(_LIVE_TASKS),
    )
    tis = select(TaskInstance.id).where(TaskInstance.run_pk.in_(_runs_of(dag_id)), to_fail)
    tis = tis.where(TaskInstance.state.not_in(_FINISHED_TASKS))
    s.execute(
        update(TaskInstanceTry)
        .where(
            TaskInstanceTry.ti_id.in_(tis.scalar_subquery()), TaskInstanceTry.state.in_(_LIVE_TASKS)
        )
        .values(state=TaskState.FAILED.value, end_date=stamp, error="DAG deregistered (forced)")
    )
    failed = s.execute(
        update(TaskInstance)
        .where(TaskInstance.id.in_(tis.scalar_subquery()))
        .values(state=TaskState.FAILED.value, end_date=stamp, updated_at=stamp)
    ).rowcount  # type: ignore[attr-defined]
    s.execute(
        update(DagRun)
        .where(DagRun.id.in_(live_runs.scalar_subquery()))
        .values(state=RunState.FAILED.value, end_date=stamp, updated_at=stamp)
    )
    return int(failed)


def deregister(db: Database, dag_id: str, *, actor: str, force: bool = False) -> Impact:
    """Soft-remove the DAG from every list and schedule; restorable, or re-pushed, or purged."""
    with db.transaction() as s:
        dag, impact = _prepare(s, dag_id, rules.DEREGISTER, force=force)
        failed_tasks = _fail_unfinished(s, dag_id) if impact.in_flight else 0
        _guarded_dag_update(
            s, dag, Dag.deregistered_at.is_(None), deregistered_at=now(), deregistered_by=actor
        )
        record(s, actor, events.dag_deregistered(impact, forced=force, tasks_failed=failed_tasks))
        return impact


def restore_dag(db: Database, dag_id: str, *, actor: str) -> DagInfo:
    """Undo a deregister: the DAG is back in lists and schedules, as it was."""
    with db.transaction() as s:
        dag = lock_dag(s, dag_id)
        enforce(rules.RESTORE, DagFacts(dag_id, dag.deregistered_at is not None, Impact(dag_id)))
        restored = events.dag_restored(dag)  # before the update clears who deregistered it
        _guarded_dag_update(
            s, dag, Dag.deregistered_at.is_not(None), deregistered_at=None, deregistered_by=None
        )
        record(s, actor, restored)
        return _view_one(s, dag_id)


def purge_dag(db: Database, dag_id: str, *, actor: str, force: bool = False) -> Impact:
    """Delete a deregistered DAG for good: the DAG, its versions, its runs, its snapshots."""
    with db.transaction() as s:
        _, impact = _prepare(s, dag_id, rules.PURGE, force=force)
        # Explicit order instead of one cascade: the version <-> DAG <-> run references form
        # a cycle, and cascading both ways through it in one statement is fragile.
        s.execute(delete(DagRun).where(DagRun.dag_id == dag_id))
        s.execute(update(Dag).where(Dag.dag_id == dag_id).values(current_version_id=None))
        s.execute(delete(WorkflowDefinition).where(WorkflowDefinition.dag_id == dag_id))
        s.execute(delete(Dag).where(Dag.dag_id == dag_id))
        snapshots = s.execute(
            delete(Snapshot).where(
                Snapshot.dag_id == dag_id,
                ~exists().where(WorkflowDefinition.snapshot_digest == Snapshot.digest),
                ~exists().where(DagRun.snapshot_digest == Snapshot.digest),
            )
        ).rowcount  # type: ignore[attr-defined]
        record(s, actor, events.dag_purged(impact, forced=force, snapshots=int(snapshots)))
        return impact


def set_paused(db: Database, dag_id: str, paused: bool, *, actor: str) -> DagInfo:
    """Pause or unpause scheduling (Airflow's ``is_paused``); manual runs stay possible."""
    with db.transaction() as s:
        dag = lock_dag(s, dag_id, include_deregistered=False)
        if dag.is_paused != paused:
            _guarded_dag_update(s, dag, Dag.is_paused.is_(not paused), is_paused=paused)
            if not paused:  # its queued runs may start now
                wakeups.run_queued(s)
            record(s, actor, events.dag_pause_set(dag_id, paused))
        return _view_one(s, dag_id)


def set_rerun_with_latest_version(db: Database, dag_id: str, value: bool, *, actor: str) -> DagInfo:
    """The DAG's default for ``run_on_latest_version`` when task instances are cleared."""
    with db.transaction() as s:
        dag = lock_dag(s, dag_id, include_deregistered=False)
        if dag.rerun_with_latest_version != value:
            _guarded_dag_update(
                s,
                dag,
                Dag.rerun_with_latest_version.is_(not value),
                rerun_with_latest_version=value,
            )
            record(s, actor, events.rerun_with_latest_version_set(dag_id, value))
        return _view_one(s, dag_id)


def _view_one(s: Session, dag_id: str) -> DagInfo:
    return dag_info_in(s, dag_id)  # the caller holds the DAG's row lock
