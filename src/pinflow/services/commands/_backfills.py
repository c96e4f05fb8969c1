"""Backfills (Airflow 3's ``/api/v2/backfills``, ADR 0040): create one over given intervals,
pause, unpause, cancel.

Creating a backfill is one transaction under the DAG's row lock: the backfill row, and for
each date a new ``backfill`` run (queued, pinned to the DAG's current version, which must be
active) or the date's existing run re-run or kept, as ``reprocess_behavior`` says
(``lifecycle.backfill_rules``). The runs then start like any queued run, but within the
backfill's own ``max_active_runs`` and only while it is not paused (``engine._new_runs``).
Run ids are ``backfill__<logical date>``; a second backfill of a DAG is refused while one is
unfinished (Airflow's rule), so two never race for the same dates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from pinflow.errors import ConflictError, NotFoundError
from pinflow.lifecycle.backfill_rules import DateAction, ReprocessBehavior, action_for, may_change
from pinflow.lifecycle.rebind import ClearSelection
from pinflow.lifecycle.states import RunState, RunType, VersionStatus
from pinflow.services import audit_events as events
from pinflow.services.audit_events import record
from pinflow.services.commands._clear import _apply, _plan_run
from pinflow.services.common import for_update, lock_dag, now
from pinflow.services.engine import _wakeups as wakeups
from pinflow.services.engine._run_rows import RunSpec, insert_run
from pinflow.services.reads._backfills import BackfillView, completed_at, view_of
from pinflow.spec.validation import validate_conf
from pinflow.store import repo
from pinflow.store.db import Database
from pinflow.store.tables import Backfill, Dag, DagRun, WorkflowDefinition

Interval = tuple[datetime, datetime]  # start (the logical date), end


@dataclass(frozen=True)
class BackfillRequest:
    dag_id: str
    from_date: datetime
    to_date: datetime
    run_backwards: bool
    dag_run_conf: dict[str, Any]
    reprocess_behavior: ReprocessBehavior
    max_active_runs: int


@dataclass(frozen=True)
class PlannedDate:
    logical_date: datetime
    action: DateAction


def _version(s: Session, dag: Dag) -> WorkflowDefinition:
    version = s.get(WorkflowDefinition, dag.current_version_id) if dag.current_version_id else None
    if version is None or version.status != VersionStatus.ACTIVE.value or version.deleted_at:
        raise ConflictError(
            f"DAG {dag.dag_id!r} has no active current version to backfill; publish one first."
        )
    return version


def _existing(s: Session, dag_id: str, days: Sequence[datetime]) -> dict[datetime, DagRun]:
    """The newest run of each date that has one (locked: it may be re-run)."""
    found: dict[datetime, DagRun] = {}
    if not days:
        return found
    rows = s.scalars(
        for_update(
            select(DagRun)
            .where(DagRun.dag_id == dag_id, DagRun.logical_date.in_(list(days)))
            .order_by(DagRun.id)
        )
    )
    for run in rows:
        if run.logical_date is not None:
            found[run.logical_date] = run
    return found


def _plan(
    s: Session, req: BackfillRequest, intervals: Sequence[Interval]
) -> tuple[list[tuple[Interval, DateAction, DagRun | None]], dict[datetime, DagRun]]:
    existing = _existing(s, req.dag_id, [start for start, _ in intervals])
    ordered = list(reversed(intervals)) if req.run_backwards else list(intervals)
    planned = []
    for interval in ordered:
        run = existing.get(interval[0])
        state = run.state if run is not None else None
        planned.append((interval, action_for(req.reprocess_behavior, state), run))
    return planned, existing


def dry_run(db: Database, req: BackfillRequest, intervals: Sequence[Interval]) -> list[PlannedDate]:
    """The dates the backfill would run (new runs and re-runs), in the order it would."""
    with db.read() as s:
        dag = s.get(Dag, req.dag_id)
        if dag is None or dag.deregistered_at is not None:
            raise NotFoundError(f"DAG {req.dag_id!r} was not found.")
        version = _version(s, dag)
        validate_conf(repo.load_spec(s, version.snapshot_digest), req.dag_run_conf)
        planned, _ = _plan(s, req, intervals)
    return [PlannedDate(i[0], action) for i, action, _ in planned if action != DateAction.KEEP]


def _refuse_second(s: Session, dag_id: str) -> None:
    for row in s.scalars(
        select(Backfill).where(Backfill.dag_id == dag_id, Backfill.completed_at.is_(None))
    ):
        if completed_at(s, row) is None:
            raise ConflictError(
                f"Backfill {row.id} of DAG {dag_id!r} is still running; wait for it, or cancel "
                "it first."
            )


def create_backfill(
    db: Database, req: BackfillRequest, intervals: Sequence[Interval], *, actor: str
) -> BackfillView:
    """The backfill and its runs, in one transaction (see the module doc)."""
    with db.transaction() as s:
        dag = lock_dag(s, req.dag_id, include_deregistered=False)
        version = _version(s, dag)
        spec = repo.load_spec(s, version.snapshot_digest)
        params = validate_conf(spec, req.dag_run_conf)
        _refuse_second(s, req.dag_id)
        stamp = now()
        row = Backfill(
            dag_id=req.dag_id,
            version_id=version.id,
            from_date=req.from_date,
            to_date=req.to_date,
            run_backwards=req.run_backwards,
            dag_run_conf=dict(req.dag_run_conf),
            reprocess_behavior=req.reprocess_behavior.value,
            max_active_runs=req.max_active_runs,
            is_paused=False,
            created_by=actor,
            created_at=stamp,
            updated_at=stamp,
        )
        s.add(row)
        s.flush()
        planned, _ = _plan(s, req, intervals)
        counts = dict.fromkeys(DateAction, 0)
        for (start, end), action, existing in planned:
            counts[action] += 1
            if action == DateAction.CREATE:
                new = RunSpec(
                    f"backfill__{start.isoformat()}",
                    RunType.BACKFILL,
                    actor,
                    start,
                    start,
                    end,
                    dict(req.dag_run_conf),
                    params,
                )
                run = insert_run(s, version, spec, new, meta={"backfillId": row.id})
                run.backfill_id = row.id
            elif action == DateAction.RERUN and existing is not None:
                _rerun(s, existing, version, row, actor=actor)
        record(
            s,
            actor,
            events.backfill_created(
                row,
                created=counts[DateAction.CREATE],
                rerun=counts[DateAction.RERUN],
                kept=counts[DateAction.KEEP],
            ),
        )
        return view_of(s, row)


def _rerun(
    s: Session, run: DagRun, version: WorkflowDefinition, backfill: Backfill, *, actor: str
) -> None:
    """Clear the run onto the backfill's version (its failed tasks only for ``failed``, all
    of them for ``completed``): it is queued again and joins the backfill."""
    only_failed = backfill.reprocess_behavior == ReprocessBehavior.FAILED.value
    selection = ClearSelection(
        task_ids=None, only_failed=only_failed, include_upstream=False, include_downstream=False
    )
    plan = _plan_run(s, run, selection, version)
    _apply(s, run, plan, reset_dag_runs=True, actor=actor)
    run.backfill_id = backfill.id


def _lock(s: Session, backfill_id: int) -> Backfill:
    row = s.scalars(for_update(select(Backfill).where(Backfill.id == backfill_id))).one_or_none()
    if row is None:
        raise NotFoundError(f"Backfill {backfill_id} was not found.")
    return row


def set_paused(db: Database, backfill_id: int, paused: bool, *, actor: str) -> BackfillView:
    """Pause (no run of it starts; those in flight go on) or unpause a backfill."""
    with db.transaction() as s:
        row = _lock(s, backfill_id)
        refusal = may_change(completed_at(s, row) is not None, "pause" if paused else "unpause")
        if refusal:
            raise ConflictError(refusal)
        if row.is_paused != paused:
            row.is_paused, row.updated_at = paused, now()
            record(s, actor, events.backfill_paused(row, paused))
            if not paused:
                wakeups.run_queued(s)
        return view_of(s, row)


def cancel(db: Database, backfill_id: int, *, actor: str) -> BackfillView:
    """Stop the backfill: its queued runs fail (as in Airflow), runs in flight go on, and it
    is complete."""
    with db.transaction() as s:
        row = _lock(s, backfill_id)
        refusal = may_change(completed_at(s, row) is not None, "cancel")
        if refusal:
            raise ConflictError(refusal)
        stamp = now()
        queued = list(
            s.scalars(
                for_update(
                    select(DagRun).where(
                        DagRun.backfill_id == row.id, DagRun.state == RunState.QUEUED.value
                    )
                )
            )
        )
        if queued:
            s.execute(
                update(DagRun)
                .where(DagRun.id.in_([r.id for r in queued]))
                .where(DagRun.state == RunState.QUEUED.value)
                .values(state=RunState.FAILED.value, end_date=stamp, updated_at=stamp)
            )
        row.completed_at, row.updated_at = stamp, stamp
        record(s, actor, events.backfill_cancelled(row, [r.run_id for r in queued]))
        return view_of(s, row)
