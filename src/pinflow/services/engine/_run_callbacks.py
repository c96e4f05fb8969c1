"""Run-end callbacks (a DAG's ``on_success_callback``/``on_failure_callback``; ADR 0044).

The transaction that ends a run (its last task decided it, or its ``dagrun_timeout``) writes
a ``run_callback`` row, ``pending``, when the run's spec has callbacks for that outcome: the
end and the promise to call them commit together, so a crash in between loses neither.
Schedulers claim pending rows with a guarded update (two schedulers: one wins), run each in
a process of its own (``pinflow.scheduler.callbacks``) and record how it went. A claim whose
scheduler died is taken again once it is older than the callback timeout (``stale_before``),
up to ``MAX_ATTEMPTS`` claims: a callback is called at least once, and more than once only
when a scheduler died while it ran. An operator's "mark run success/failed" calls none, as
in Airflow ("callbacks are only invoked when the state changes by execution").
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Update, and_, func, or_, select, update
from sqlalchemy.orm import Session

from pinflow.lifecycle.states import RunState, TaskState
from pinflow.services import common
from pinflow.spec.models import DagSpec
from pinflow.store.db import Database
from pinflow.store.repo import SpecCache
from pinflow.store.tables import DagRun, RunCallback, TaskInstance

PENDING, RUNNING, SUCCESS, FAILED = "pending", "running", "success", "failed"
# Airflow's ``reason`` in a DAG callback's context.
SUCCESS_REASON, TASK_FAILURE_REASON, TIMED_OUT_REASON = "success", "task_failure", "timed_out"
MAX_ATTEMPTS = 3
_CLAIM_BATCH = 16
_ERROR_CHARS = 4000


def queue_run_callbacks(
    session: Session, run_pk: int, spec: DagSpec, outcome: RunState, reason: str
) -> bool:
    """In the transaction that ended run ``run_pk`` with ``outcome``: a pending callback row
    when the spec has callbacks for it. Returns whether it wrote one."""
    callbacks = spec.callbacks
    succeeded = outcome == RunState.SUCCESS
    if callbacks is None or not callbacks.for_outcome(succeeded):
        return False
    kind = "on_success" if succeeded else "on_failure"
    session.add(RunCallback(run_pk=run_pk, kind=kind, reason=reason, state=PENDING, attempts=0))
    return True


@dataclass(frozen=True)
class ClaimedCallback:
    """A callback this scheduler now calls: what the process that calls it needs."""

    id: int
    attempt: int
    refs: list[str]
    runner: str | None
    snapshot_digest: str
    requirements: list[str]
    end: dict[str, Any]  # ``pinflow.sdk.RunEnd``'s fields, as JSON


def _guarded(session: Session, stmt: Update) -> int:
    return cast(CursorResult[Any], session.execute(stmt)).rowcount


def _due(stale_before: datetime) -> Any:
    return or_(
        RunCallback.state == PENDING,
        and_(RunCallback.state == RUNNING, RunCallback.claimed_at < stale_before),
    )


def claim_run_callbacks(
    db: Database, *, claimer: str, limit: int, stale_before: datetime, now: datetime | None = None
) -> list[ClaimedCallback]:
    """Claim up to ``limit`` callbacks that are pending, or whose claim is older than
    ``stale_before``; one that was claimed ``MAX_ATTEMPTS`` times already is failed instead."""
    if limit <= 0:
        return []
    stamp = now or common.now()
    claimed: list[ClaimedCallback] = []
    candidates = (
        select(RunCallback.id, RunCallback.state, RunCallback.attempts, RunCallback.claimed_at)
        .where(_due(stale_before))
        .order_by(RunCallback.id)
        .limit(min(limit, _CLAIM_BATCH))
    )
    with db.read() as s:  # most sweeps find none: no write transaction for them
        rows = s.execute(candidates).all()
    if not rows:
        return claimed
    with db.transaction() as s:
        specs = SpecCache(s)
        for callback_id, state, attempts, claimed_at in rows:
            guard = [RunCallback.id == callback_id, RunCallback.state == state]
            if state == RUNNING:
                guard.append(RunCallback.claimed_at == claimed_at)
            if attempts >= MAX_ATTEMPTS:
                lost = f"not called: its scheduler stopped during each of {attempts} attempts"
                values: dict[str, Any] = {"state": FAILED, "end_date": stamp, "error": lost}
                _guarded(s, update(RunCallback).where(*guard).values(**values))
                continue
            values = {"state": RUNNING, "claimed_by": claimer, "claimed_at": stamp}
            if not _guarded(
                s, update(RunCallback).where(*guard).values(**values, attempts=attempts + 1)
            ):
                continue  # another scheduler took it
            claimed.append(_claimed(s, specs, callback_id, attempts + 1))
    return claimed


def _claimed(s: Session, specs: SpecCache, callback_id: int, attempt: int) -> ClaimedCallback:
    callback = s.get_one(RunCallback, callback_id)
    run = s.get_one(DagRun, callback.run_pk)
    spec = specs.get(run.snapshot_digest)
    assert spec.callbacks is not None  # only such runs get a row
    instances = s.execute(
        select(
            TaskInstance.task_id,
            TaskInstance.map_index,
            TaskInstance.state,
            TaskInstance.try_number,
            TaskInstance.end_date,
        )
        .where(TaskInstance.run_pk == run.id)
        .order_by(TaskInstance.end_date, TaskInstance.id)
    ).all()
    tasks = [
        {"task_id": t, "map_index": m, "state": st, "try_number": n, "end_date": _iso(end)}
        for t, m, st, n, end in instances
    ]
    failed = [t for t in tasks if t["state"] in (TaskState.FAILED, TaskState.UPSTREAM_FAILED)]
    ended = [t for t in tasks if t["end_date"] is not None]
    # Airflow's context carries one task instance: the last failed one (a failure), else
    # the last one to end.
    last = next((t for t in reversed(ended) if t["state"] == TaskState.FAILED), None)
    end = {
        "dag_id": run.dag_id,
        "run_id": run.run_id,
        "state": run.state,
        "reason": callback.reason,
        "run_type": run.run_type,
        "logical_date": _iso(run.logical_date),
        "data_interval_start": _iso(run.data_interval_start),
        "data_interval_end": _iso(run.data_interval_end),
        "start_date": _iso(run.start_date),
        "end_date": _iso(run.end_date),
        "conf": dict(run.conf or {}),
        "params": dict(run.params or {}),
        "failed_tasks": [t["task_id"] for t in failed],
        "last_task": last or (ended[-1] if ended else None),
        "version_id": run.version_id,
    }
    return ClaimedCallback(
        id=callback.id,
        attempt=attempt,
        refs=list(
            spec.callbacks.on_success
            if callback.kind == "on_success"
            else spec.callbacks.on_failure
        ),
        runner=spec.callbacks.runner,
        snapshot_digest=run.snapshot_digest,
        requirements=list(spec.requirements),
        end=end,
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def started_run_callback(db: Database, callback_id: int, *, claimer: str, log_path: str) -> None:
    """Where the claimed callback's process writes its output (shown with the run)."""
    with db.transaction() as s:
        _guarded(
            s,
            update(RunCallback)
            .where(RunCallback.id == callback_id, RunCallback.claimed_by == claimer)
            .values(log_path=log_path),
        )


def finish_run_callback(
    db: Database,
    callback_id: int,
    *,
    claimer: str,
    error: str | None,
    output: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Record how the callback went (``error``: ``None`` when every callback returned) and
    the tail of what it printed; ``False`` when the claim is not this scheduler's any more
    (taken again as stale)."""
    values: dict[str, Any] = {"state": SUCCESS if error is None else FAILED, "output": output}
    values.update(end_date=now or common.now())
    values.update(error=None if error is None else error[-_ERROR_CHARS:])
    with db.transaction() as s:
        return bool(
            _guarded(
                s,
                update(RunCallback)
                .where(
                    RunCallback.id == callback_id,
                    RunCallback.state == RUNNING,
                    RunCallback.claimed_by == claimer,
                )
                .values(**values),
            )
        )


def release_run_callbacks(db: Database, callback_ids: list[int], *, claimer: str) -> int:
    """Hand claimed callbacks back (``pending``: the scheduler stops before they ran to
    their end); another scheduler, or this one's next start, calls them again."""
    if not callback_ids:
        return 0
    with db.transaction() as s:
        return _guarded(
            s,
            update(RunCallback)
            .where(
                RunCallback.id.in_(callback_ids),
                RunCallback.state == RUNNING,
                RunCallback.claimed_by == claimer,
            )
            .values(state=PENDING, claimed_by=None, claimed_at=None),
        )


def has_due_run_callbacks(db: Database, *, stale_before: datetime) -> bool:
    """Whether a callback waits to be called (``Scheduler.drain``'s idle test)."""
    with db.read() as s:
        count = s.scalar(select(func.count()).select_from(RunCallback).where(_due(stale_before)))
    return bool(count)
