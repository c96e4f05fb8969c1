"""The scheduler's passes over the running runs: the safety sweep (``sweep_pass``, and
``schedule_pass`` over every running run) and the retry timer (``release_due_retries``).

Reports advance their own runs (``advance_run`` on the hot path); these passes are the safety
net for what no report moves on, on the scheduler's timers (ADR 0009, ADR 0010). A pass pays
a transaction only for the runs that need a step (ADR 0043): it reads the task instances of
many runs in one statement, without locks, asks ``lifecycle.sweep_rules.needs_step`` of each,
and advances the ones it names, one transaction each, under their lock, as before. A run the
read shows with nothing to do is one its step would not have moved at that moment either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Table, bindparam, case, exists, func, select, update
from sqlalchemy.orm import Session

from pinflow.lifecycle.mapping import RunInstances
from pinflow.lifecycle.states import DUE_AGAIN_STATES, RunState, TaskState
from pinflow.lifecycle.sweep_rules import needs_step
from pinflow.services import common
from pinflow.services.engine._new_runs import start_queued_runs
from pinflow.services.engine._scheduling import advance_runs
from pinflow.services.engine._sensors import resume_deferred
from pinflow.store.db import Database
from pinflow.store.repo import cached_spec
from pinflow.store.tables import DagRun, TaskInstance

_TI = cast(Table, TaskInstance.__table__)
_LIVE_OR_READY = [
    state.value for state in (TaskState.SCHEDULED, TaskState.QUEUED, TaskState.RUNNING)
]
_RUNNING_RUNS = select(DagRun.id).where(DagRun.state == RunState.RUNNING.value)
_RUNNING = select(DagRun.id, DagRun.snapshot_digest).where(DagRun.state == RunState.RUNNING.value)
_QUIET = _RUNNING.where(~exists().where(_TI.c.run_pk == DagRun.id, _TI.c.state.in_(_LIVE_OR_READY)))
_COUNT_RUNNING = (
    select(func.count()).select_from(DagRun).where(DagRun.state == RunState.RUNNING.value)
)
# Runs whose task instances one read of a pass brings (an IN list of this many ids).
CHECK_BATCH = 200
_DUE = case(
    (
        _TI.c.state.in_(sorted(DUE_AGAIN_STATES)) & (_TI.c.next_try_at <= bindparam("due_by")),
        1,
    ),
    else_=0,
)
# ``load_instances``' groups (task, state, count, max map_index, placeholder), of many runs,
# and whether a group holds a retry or poke due by ``due_by``.
_INSTANCES_OF_RUNS = (
    select(
        _TI.c.run_pk,
        _TI.c.task_id,
        _TI.c.state,
        func.count(),
        func.max(_TI.c.map_index),
        func.min(case((_TI.c.map_index == -1, _TI.c.id))),
        func.max(_DUE),
    )
    .where(_TI.c.run_pk.in_(bindparam("run_pks", expanding=True)))
    .group_by(_TI.c.run_pk, _TI.c.task_id, _TI.c.state)
    .order_by(_TI.c.run_pk, func.min(_TI.c.id))
)
_RELEASE_ALL_DUE_RETRIES = (
    update(_TI)
    .where(_TI.c.state.in_(sorted(DUE_AGAIN_STATES)), _TI.c.next_try_at <= bindparam("due_by"))
    .where(_TI.c.run_pk.in_(_RUNNING_RUNS))
    .values(state=TaskState.SCHEDULED.value, next_try_at=None, updated_at=bindparam("stamp"))
)


def schedule_pass(
    db: Database,
    *,
    now: datetime | None = None,
    retries_due_by: datetime | None = None,
    quiet_only: bool = False,
) -> int:
    """One scheduler pass: start queued runs, then advance every running run.

    ``quiet_only``: only the running runs with no task instance scheduled, queued or running,
    the ones no report will move on: the safety sweep's pass, which must not re-plan a large
    run that is busy every second (its reports plan it; a full pass costs its size).

    One transaction per run, so a slow or conflicting run never holds back the others. Returns
    the number of changes (runs started plus rows changed); 0 means there was nothing to do.
    """
    changes = start_queued_runs(db, now=now) + resume_deferred(db, now=now)
    with db.read() as s:
        stmt = (_QUIET if quiet_only else _RUNNING).order_by(DagRun.id)
        runs = [(run_pk, digest) for run_pk, digest in common.conn(s).execute(stmt)]
    return changes + replan(db, runs, now=now, retries_due_by=retries_due_by)


@dataclass(frozen=True)
class SweepPass:
    """What ``sweep_pass`` did: the changes, the runs of the full pass's slice (in id
    order), and whether running runs come after them (``False``: the pass is complete)."""

    changes: int
    sliced: tuple[int, ...]
    more: bool


def sweep_pass(db: Database, *, after: int, limit: int, now: datetime | None = None) -> SweepPass:
    """The safety sweep's pass (ADR 0043): start queued runs, check due deferred sensors,
    then re-plan the running runs that need it among the quiet ones (no task instance
    scheduled, queued or running: no report will move them) and the next slice of the full
    pass (``limit`` running runs after run ``after``, in id order: the busy ones, whose
    reports plan only the neighbourhood of what they finished). ``limit=0``: no slice, the
    quiet runs only (between two passes)."""
    changes = start_queued_runs(db, now=now) + resume_deferred(db, now=now)
    with db.read() as s:
        conn = common.conn(s)
        quiet = {pk: digest for pk, digest in conn.execute(_QUIET.order_by(DagRun.id))}
        sliced: dict[int, str] = {}
        if limit > 0:
            next_slice = _RUNNING.where(DagRun.id > after).order_by(DagRun.id).limit(limit + 1)
            sliced = {pk: digest for pk, digest in conn.execute(next_slice)}
    more = len(sliced) > limit
    if more:  # the one past the slice only says that the pass goes on
        sliced.pop(max(sliced))
    runs = sorted({**quiet, **sliced}.items())
    changes += replan(db, runs, now=now, retries_due_by=None)
    return SweepPass(changes, tuple(sliced), more)


def count_running_runs(db: Database) -> int:
    """How many runs are running (what sizes the full pass's slices)."""
    with db.read() as s:
        return int(common.conn(s).execute(_COUNT_RUNNING).scalar_one())


def replan(
    db: Database,
    runs: Sequence[tuple[int, str]],
    *,
    now: datetime | None,
    retries_due_by: datetime | None,
) -> int:
    """``advance_runs`` of those of ``runs`` (id, snapshot digest) that need a step, found by
    reading their task instances ``CHECK_BATCH`` runs at a time, without locks."""
    due_by = retries_due_by or now or common.now()
    moving: list[int] = []
    for start in range(0, len(runs), CHECK_BATCH):
        batch = runs[start : start + CHECK_BATCH]
        with db.read() as s:
            moving += stale_runs(s, batch, due_by)
    return advance_runs(db, moving, now=now, retries_due_by=retries_due_by)


def stale_runs(s: Session, runs: Sequence[tuple[int, str]], due_by: datetime) -> list[int]:
    """The runs of ``runs`` (id, snapshot digest) whose step would change something
    (``needs_step``), from one read of their task instances."""
    if not runs:
        return []
    params = {"run_pks": [run_pk for run_pk, _ in runs], "due_by": due_by}
    groups: dict[int, list[tuple[Any, ...]]] = {}
    for run_pk, *group in common.conn(s).execute(_INSTANCES_OF_RUNS, params):
        groups.setdefault(run_pk, []).append(tuple(group))
    stale: list[int] = []
    for run_pk, digest in runs:
        rows = groups.get(run_pk, [])
        instances = RunInstances.of((t, state, n, top, ph) for t, state, n, top, ph, _ in rows)
        due = any(row[-1] for row in rows)
        if needs_step(cached_spec(s, digest), instances.states, retry_due=due):
            stale.append(run_pk)
    return stale


def release_due_retries(db: Database, *, now: datetime | None = None) -> int:
    """``up_for_retry`` and ``up_for_reschedule`` -> ``scheduled`` for every due retry or poke
    of a running run (one statement), and the check of every due deferred sensor
    (``resume_deferred``): what the scheduler's retry timer does. Returns how many moved."""
    stamp = now or common.now()
    with db.transaction() as s:
        params = {"due_by": stamp, "stamp": stamp}
        released = _rowcount(common.conn(s).execute(_RELEASE_ALL_DUE_RETRIES, params))
    return released + resume_deferred(db, now=stamp)


def _rowcount(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount
