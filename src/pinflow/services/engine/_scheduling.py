"""Moving runs forward: start queued runs, schedule (or expand) ready tasks, finish runs.

The decisions are ``pinflow.lifecycle.run_planning``'s; this module applies them. Every write is
a guarded ``UPDATE … WHERE state = :expected``, so a decision computed from state that changed
meanwhile (a clear, a concurrent report) writes nothing instead of overwriting newer state.

A mapped task is expanded here, when its trigger rule lets it run: its upstream values are
read and ``pinflow.lifecycle.mapping`` decides; its placeholder becomes element 0 and the
other elements are inserted, or it takes a final state (an expansion that fails is audited as
``task.expand_failed``, since no try exists to hold the error). Handing scheduled tasks to
executors (``claim_scheduled``: pools, ``max_active_tasks``) is ``pinflow.services.engine``'s.

Lock order, everywhere task instances change: the DAG row (only to count against its limits),
then the run row, then task instance rows. ``advance_run`` expects the caller to hold the run's
row lock (``lock_run``), which is what serialises two reports finishing the two upstreams of a
join task: the second one sees the first one's result and schedules the join.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, cast

from sqlalchemy import (
    CursorResult,
    Select,
    Table,
    Update,
    bindparam,
    case,
    exists,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session

from pinflow.lifecycle.mapping import Expansion, RunInstances, XComValues, expansion_for
from pinflow.lifecycle.run_planning import (
    MoveReason,
    RunPlan,
    TaskMove,
    neighbourhood,
    plan_run,
    upstreams_to_probe,
    waits_for_the_rest,
    wide_downstream,
)
from pinflow.lifecycle.states import FINISHED_TASK_STATES, RunState, TaskState
from pinflow.services import common
from pinflow.services.common import SYSTEM_ACTOR, audit, for_update
from pinflow.services.engine import _wakeups as wakeups
from pinflow.services.engine._xcom_store import outputs_by_index
from pinflow.spec.models import DagSpec, ErrorStrategy, TaskSpec, XComRef
from pinflow.store.db import Database
from pinflow.store.prepared import Prepared
from pinflow.store.repo import SpecCache, cached_spec
from pinflow.store.tables import Dag, DagRun, TaskInstance

DEFAULT_START_LIMIT = 100
NONE, SCHEDULED = TaskState.NONE, TaskState.SCHEDULED


def execute_guarded(session: Session, stmt: Update) -> int:
    """Run a guarded UPDATE and return how many rows matched its expected state."""
    result = cast(CursorResult[Any], session.execute(stmt))
    return result.rowcount


def lock_run(session: Session, run_pk: int) -> DagRun | None:
    return session.scalars(for_update(select(DagRun).where(DagRun.id == run_pk))).one_or_none()


# --- one run ------------------------------------------------------------------------------------


class RunRef(Protocol):
    """What ``advance_run`` reads of a run: a ``DagRun`` row or a ``RunRow``."""

    @property
    def id(self) -> int: ...
    @property
    def dag_id(self) -> str: ...
    @property
    def run_id(self) -> str: ...
    @property
    def state(self) -> str: ...
    @property
    def snapshot_digest(self) -> str: ...
    @property
    def version_id(self) -> str | None: ...


@dataclass(frozen=True)
class RunRow:
    """A run read with a Core statement (the report path does not build ORM objects)."""

    id: int
    dag_id: str
    run_id: str
    state: str
    snapshot_digest: str
    version_id: str | None


def advance_run(
    session: Session,
    run: RunRef,
    *,
    now: datetime | None = None,
    retries_due_by: datetime | None = None,
    changed: Collection[str] | None = None,
) -> int:
    """Apply one scheduling step to a running run, in the caller's transaction.

    Ready tasks become ``scheduled`` (a ready mapped task expands into its elements), skips and
    upstream failures cascade, ``up_for_retry`` tasks whose ``next_try_at`` is at or before
    ``retries_due_by`` (default: now) are scheduled again, and a run whose task instances have
    all finished gets its outcome. Runs that are not ``running`` (queued ones wait for
    ``start_queued_runs``) are left alone. The caller should hold the run's row lock. Returns
    the number of rows changed.

    ``changed`` (the tasks a report just finished) makes this the hot path, which every report
    takes: only the neighbourhood of those tasks is read and planned (``neighbourhood``: their
    downstream tasks and the upstreams those depend on), a cascade of skips or upstream
    failures reads on wave by wave, and the whole run is read once, when no task instance is
    left unfinished, for its outcome. So a report costs what the task's neighbourhood holds,
    not what the DAG holds. Without ``changed`` every task is read and evaluated: the safety
    net's full pass (and ``fail_fast``, which stops every task at once).
    """
    if run.state != RunState.RUNNING:
        return 0
    stamp = now or common.now()
    spec = cached_spec(session, run.snapshot_digest)
    step = _RunStep(session, run, spec, stamp)
    instances = step.settle_around(changed) if changed is not None else None
    if instances is None:  # a full pass, or fail_fast met a failure: the whole run's decision
        instances = _load_instances(session, run.id)
        step.settle(instances, None)
    if any(TaskState.UP_FOR_RETRY in group for group in instances.states.values()):
        step.changes += _release_due_retries(session, run.id, retries_due_by or stamp, stamp)
    # A step that met a changed state anywhere planned from a stale picture: its moves were
    # guarded, but it must not finish the run.
    if step.fresh and not step.saw_unfinished and not _has_unfinished(session, run.id):
        final = plan_run(spec, _load_instances(session, run.id).states, spec.error_strategy)
        if final.outcome is not None:
            step.changes += _finish_run(session, run, final, stamp)
    return step.changes


class _RunStep:
    """One ``advance_run``: plans, applies the moves and expansions, counts what changed."""

    def __init__(self, session: Session, run: RunRef, spec: DagSpec, stamp: datetime) -> None:
        self.session, self.run, self.spec, self.stamp = session, run, spec, stamp
        self.changes = 0
        self.fresh = True  # every guarded write matched the state it was planned from
        self.ended: set[str] = set()  # tasks moved to a finished state: their downstream waits
        # A task instance planned here is unfinished and stays so in this step (only ``none``
        # ones move): the run cannot end now, no need to ask the database.
        self.saw_unfinished = False

    def settle_around(self, changed: Collection[str]) -> RunInstances | None:
        """Settle the neighbourhood of ``changed``, then of every task a cascade finished,
        reading only those rows; the instances read last (they include ``changed``).

        ``None`` (nothing applied) when the run's error strategy is ``fail_fast`` and a
        failure is in sight: that decision is the whole run's.
        """
        wave = set(changed)
        fail_fast = self.spec.error_strategy == ErrorStrategy.FAIL_FAST
        first: RunInstances | None = None
        while wave:
            waiting = self._waiting_joins(wave)
            self.saw_unfinished = self.saw_unfinished or bool(waiting)  # those joins are
            needed = neighbourhood(self.spec, wave, waiting=waiting)
            instances = _load_instances(self.session, self.run.id, needed)
            if fail_fast and any(TaskState.FAILED in g for g in instances.states.values()):
                return None
            first = first or instances
            self.ended.clear()
            self.settle(instances, wave)
            wave = self.ended - wave
        return first or RunInstances()

    def _waiting_joins(self, wave: Collection[str]) -> set[str]:
        """The wide joins downstream of ``wave`` that still wait: some other upstream of
        theirs is unfinished and nothing in the wave decides them (``waits_for_the_rest``).
        Two small reads instead of all their upstreams' rows on every upstream's report."""
        wide = wide_downstream(self.spec, wave)
        if not wide:
            return set()
        changed = _load_instances(self.session, self.run.id, wave).states
        waiting: set[str] = set()
        for join in wide:
            ups = _upstream_set(join)
            ended = [state for t in wave if t in ups for state in changed.get(t, ())]
            if not waits_for_the_rest(self.spec, join, ended):
                continue
            probe = upstreams_to_probe(self.spec, join, wave)
            if _any_unfinished_of(self.session, self.run.id, probe) or _any_unfinished_of(
                self.session, self.run.id, [t for t in join.upstream_task_ids if t not in wave]
            ):  # the second, full, look only when the probe found all done: near the end
                waiting.add(join.task_id)
        return waiting

    def settle(self, instances: RunInstances, changed: Collection[str] | None) -> RunPlan:
        """Plan and apply until no mapped task is left to expand: an expansion that skips or
        fails a task cascades like any other move, in the same step."""
        states: Mapping[str, Sequence[TaskState]] = instances.states
        tried: set[str] = set()
        while True:
            plan = plan_run(self.spec, states, self.spec.error_strategy, changed=changed)
            self.saw_unfinished = self.saw_unfinished or _busy(plan.states)
            for move in plan.moves:
                self._count(_apply_move(self.session, self.run.id, move, self.stamp))
                if move.to_state in FINISHED_TASK_STATES:
                    self.ended.add(move.task_id)
            pending = [task_id for task_id in plan.expand if task_id not in tried]
            if not pending:
                return plan
            tried.update(pending)
            expanded = self._expand(pending, plan.states, instances)
            states, changed = {**plan.states, **expanded}, list(expanded)

    def _expand(
        self,
        task_ids: list[str],
        states: Mapping[str, Sequence[TaskState]],
        instances: RunInstances,
    ) -> dict[str, list[TaskState]]:
        tasks = [task for task_id in task_ids if (task := self.spec.task(task_id)) is not None]
        refs = [ref for task in tasks for ref in task.expand.values()]
        xcoms = _read_xcoms(self.session, self.run.id, refs)
        expanded: dict[str, list[TaskState]] = {}
        for task in tasks:
            placeholder = instances.placeholders.get(task.task_id)
            if placeholder is None:  # expanded already; an element set back to ``none`` runs
                expanded[task.task_id] = self._schedule_waiting(task.task_id, states)
                continue
            expansion = expansion_for(self.spec, task, states, instances.elements, xcoms)
            changed = self._apply_expansion(expansion, placeholder)
            self._count(changed)
            if changed:
                expanded[task.task_id] = [expansion.state] * max(expansion.count, 1)
                if expansion.state in FINISHED_TASK_STATES:
                    self.ended.add(task.task_id)
        return expanded

    def _schedule_waiting(
        self, task_id: str, states: Mapping[str, Sequence[TaskState]]
    ) -> list[TaskState]:
        move = TaskMove(task_id, NONE, SCHEDULED, MoveReason.TRIGGER_RULE)
        self._count(_apply_move(self.session, self.run.id, move, self.stamp))
        return [SCHEDULED if state == NONE else state for state in states[task_id]]

    def _apply_expansion(self, expansion: Expansion, placeholder: int) -> int:
        """The placeholder becomes element 0 (Airflow 3) and elements 1..n-1 are added; or it
        takes the expansion's final state."""
        task = self.spec.task(expansion.task_id)
        assert task is not None
        resolved = self.spec.resolve(task)
        values: dict[str, Any] = {"state": expansion.state.value, "updated_at": self.stamp}
        if expansion.state == TaskState.SCHEDULED:
            values.update(max_tries=resolved.retries, pool=resolved.pool)
            values.update(pool_slots=resolved.pool_slots)
        else:
            values.update(end_date=self.stamp, next_try_at=None)
        guard = (TaskInstance.state == TaskState.NONE.value, TaskInstance.map_index == -1)
        first = {"map_index": 0} if expansion.state == TaskState.SCHEDULED else {}
        stmt = update(TaskInstance).where(TaskInstance.id == placeholder, *guard)
        if not execute_guarded(self.session, stmt.values(**values, **first)):
            return 0
        if expansion.count > 1:
            common_values = {"run_pk": self.run.id, "dag_id": self.run.dag_id, **values}
            rows = [
                {**common_values, "task_id": task.task_id, "map_index": i, "try_number": 0}
                for i in range(1, expansion.count)
            ]
            self.session.execute(insert(TaskInstance), rows)
        if expansion.error is not None:
            self._audit_failed_expansion(expansion)
        return max(expansion.count, 1)

    def _audit_failed_expansion(self, expansion: Expansion) -> None:
        run = self.run
        audit(
            self.session,
            actor=SYSTEM_ACTOR,
            action="task.expand_failed",
            target_type="task_instance",
            target_id=f"{run.dag_id}/{run.run_id}/{expansion.task_id}",
            dag_id=run.dag_id,
            meta={"state": expansion.state.value, "error": expansion.error, "runPk": run.id},
        )

    def _count(self, changed: int) -> None:
        self.changes += changed
        self.fresh = self.fresh and changed > 0


_TI = cast(Table, TaskInstance.__table__)
_UNFINISHED = sorted(state.value for state in TaskState if state not in FINISHED_TASK_STATES)


def _instances_stmt(*, some: bool) -> Select[Any]:
    ti = _TI.c
    placeholder = func.min(case((ti.map_index == -1, ti.id)))
    stmt = select(ti.task_id, ti.state, func.count(), func.max(ti.map_index), placeholder).where(
        ti.run_pk == bindparam("run_pk")
    )
    if some:
        stmt = stmt.where(ti.task_id.in_(bindparam("task_ids", expanding=True)))
    return stmt.group_by(ti.task_id, ti.state).order_by(func.min(ti.id))


# Built once: on the report path, building a statement costs more than running it.
_ALL_INSTANCES = Prepared(_instances_stmt(some=False))
_SOME_INSTANCES = Prepared(_instances_stmt(some=True))
_ANY_UNFINISHED = Prepared(
    select(_TI.c.id)
    .where(_TI.c.run_pk == bindparam("run_pk"), _TI.c.state.in_(_UNFINISHED))
    .limit(1)
)


_BUSY = frozenset(TaskState) - FINISHED_TASK_STATES - {TaskState.NONE}


def _busy(states: Mapping[str, Sequence[TaskState]]) -> bool:
    return any(state in _BUSY for group in states.values() for state in group)


def _load_instances(
    session: Session, run_pk: int, task_ids: Collection[str] | None = None
) -> RunInstances:
    """The run's task instances (only those of ``task_ids`` when given), grouped by task and
    state (one query): a mapped task's elements cost a row per state, not a row each. Tasks
    come in creation order."""
    # Plain rows, no ORM result processing: this is on every report's path.
    if task_ids is None:
        rows = _ALL_INSTANCES.execute(common.conn(session), {"run_pk": run_pk}).fetchall()
    else:
        params = {"run_pk": run_pk, "task_ids": sorted(task_ids)}
        rows = _SOME_INSTANCES.execute(common.conn(session), params).fetchall()
    return RunInstances.of(rows)


def _upstream_set(task: TaskSpec) -> frozenset[str]:
    found = _UPSTREAM_SETS.get(id(task))
    if found is None or found[0] is not task:
        found = _UPSTREAM_SETS[id(task)] = (task, frozenset(task.upstream_task_ids))
        if len(_UPSTREAM_SETS) > 1024:
            _UPSTREAM_SETS.pop(next(iter(_UPSTREAM_SETS)))
    return found[1]


_UPSTREAM_SETS: dict[int, tuple[TaskSpec, frozenset[str]]] = {}
_ANY_UNFINISHED_OF = Prepared(
    select(_TI.c.id)
    .where(_TI.c.run_pk == bindparam("run_pk"), _TI.c.state.in_(_UNFINISHED))
    .where(_TI.c.task_id.in_(bindparam("task_ids", expanding=True)))
    .limit(1)
)


def _any_unfinished_of(session: Session, run_pk: int, task_ids: Sequence[str]) -> bool:
    if not task_ids:
        return False
    params = {"run_pk": run_pk, "task_ids": list(task_ids)}
    return _ANY_UNFINISHED_OF.execute(common.conn(session), params).fetchone() is not None


def _has_unfinished(session: Session, run_pk: int) -> bool:
    """Whether a task instance of the run is not finished (an index range, not a scan)."""
    found = _ANY_UNFINISHED.execute(common.conn(session), {"run_pk": run_pk}).fetchone()
    return found is not None


def _read_xcoms(session: Session, run_pk: int, refs: Sequence[XComRef]) -> XComValues:
    """The stored values the ``refs`` name, with every ``map_index`` (one query); a value in
    the artifact store is a ``StoredValue`` (expanding needs only its length)."""
    wanted = {(r.task_id, r.key) for r in refs}
    outputs = outputs_by_index(session, run_pk, {t for t, _ in wanted})
    values: dict[tuple[str, str], dict[int, Any]] = {}
    for (task_id, key, map_index), value in outputs.items():
        if (task_id, key) in wanted:
            values.setdefault((task_id, key), {})[map_index] = value
    return values


def _move_stmt(*, finished: bool) -> Update:
    ti = _TI.c
    values: dict[str, Any] = {"state": bindparam("to_state"), "updated_at": bindparam("stamp")}
    if finished:
        values.update(end_date=bindparam("stamp"), next_try_at=None)
    return (
        update(_TI)
        .where(ti.run_pk == bindparam("run"), ti.task_id == bindparam("task"))
        .where(ti.state == bindparam("from_state"))
        .values(values)
    )


_MOVE = {finished: Prepared(_move_stmt(finished=finished)) for finished in (False, True)}
_RELEASE_RETRIES = Prepared(
    update(_TI)
    .where(_TI.c.run_pk == bindparam("run"), _TI.c.state == TaskState.UP_FOR_RETRY.value)
    .where(_TI.c.next_try_at <= bindparam("due_by"))
    .values(state=TaskState.SCHEDULED.value, next_try_at=None, updated_at=bindparam("stamp"))
)


def _apply_move(session: Session, run_pk: int, move: TaskMove, stamp: datetime) -> int:
    params = {
        "run": run_pk,
        "task": move.task_id,
        "from_state": move.from_state.value,
        "to_state": move.to_state.value,
        "stamp": stamp,
    }
    stmt = _MOVE[move.to_state in FINISHED_TASK_STATES]
    return stmt.execute(common.conn(session), params).rowcount


def _release_due_retries(session: Session, run_pk: int, due_by: datetime, stamp: datetime) -> int:
    params = {"run": run_pk, "due_by": due_by, "stamp": stamp}
    return _RELEASE_RETRIES.execute(common.conn(session), params).rowcount


def _rowcount(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount


def _finish_run(session: Session, run: RunRef, plan: RunPlan, stamp: datetime) -> int:
    assert plan.outcome is not None
    changed = execute_guarded(
        session,
        update(DagRun)
        .where(DagRun.id == run.id, DagRun.state == RunState.RUNNING.value)
        .values(state=plan.outcome.value, end_date=stamp, updated_at=stamp),
    )
    if changed:
        # A slot of its DAG's max_active_runs is free: a queued run may start now, not at the
        # next poll (which, with wake-ups, is only a safety net).
        wakeups.run_queued(session)
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
    return len(_start_queued(db, limit=limit, now=now))


def start_new_runs(db: Database, *, now: datetime | None = None) -> int:
    """``start_queued_runs``, then a first step of each run that started (what a trigger
    waits for). Returns the number of changes, as ``schedule_pass`` does."""
    started = _start_queued(db, limit=DEFAULT_START_LIMIT, now=now)
    return len(started) + _advance_runs(db, started, now=now, retries_due_by=None)


_QUEUED_DAGS = Prepared(  # every poll for new runs asks this
    select(DagRun.dag_id)
    .join(Dag, Dag.dag_id == DagRun.dag_id)
    .where(DagRun.state == RunState.QUEUED.value, Dag.is_paused.is_(False))
    .where(Dag.deregistered_at.is_(None))
    .group_by(DagRun.dag_id)
    .order_by(func.min(DagRun.id))
)


def _start_queued(db: Database, *, limit: int, now: datetime | None) -> list[int]:
    with db.read() as s:
        dag_ids = [dag_id for (dag_id,) in _QUEUED_DAGS.execute(common.conn(s)).fetchall()]
    started: list[int] = []
    for dag_id in dag_ids:
        if len(started) >= limit:
            break
        with db.transaction() as s:
            started += _start_runs_of_dag(s, dag_id, limit - len(started), now or common.now())
    return started


def _start_runs_of_dag(s: Session, dag_id: str, limit: int, stamp: datetime) -> list[int]:
    dag = s.scalars(for_update(select(Dag).where(Dag.dag_id == dag_id))).one_or_none()
    if dag is None or dag.is_paused or dag.deregistered_at is not None:
        return []
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
    started: list[int] = []
    for run in queued:
        if running >= specs.get(run.snapshot_digest).max_active_runs:
            break
        if execute_guarded(
            s,
            update(DagRun)
            .where(DagRun.id == run.id, DagRun.state == RunState.QUEUED.value)
            .values(
                state=RunState.RUNNING.value, start_date=stamp, end_date=None, updated_at=stamp
            ),
        ):
            started.append(run.id)
        running += 1
    return started


# --- the pass -----------------------------------------------------------------------------------


_LIVE_OR_READY = [state.value for state in (SCHEDULED, TaskState.QUEUED, TaskState.RUNNING)]
_RUNNING_RUNS = select(DagRun.id).where(DagRun.state == RunState.RUNNING.value)
_QUIET_RUNS = _RUNNING_RUNS.where(
    ~exists().where(_TI.c.run_pk == DagRun.id, _TI.c.state.in_(_LIVE_OR_READY))
)
_RELEASE_ALL_DUE_RETRIES = (
    update(_TI)
    .where(_TI.c.state == TaskState.UP_FOR_RETRY.value, _TI.c.next_try_at <= bindparam("due_by"))
    .where(_TI.c.run_pk.in_(_RUNNING_RUNS))
    .values(state=SCHEDULED.value, next_try_at=None, updated_at=bindparam("stamp"))
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
    changes = start_queued_runs(db, now=now)
    with db.read() as s:
        stmt = (_QUIET_RUNS if quiet_only else _RUNNING_RUNS).order_by(DagRun.id)
        run_pks = list(common.conn(s).execute(stmt).scalars())
    return changes + _advance_runs(db, run_pks, now=now, retries_due_by=retries_due_by)


def _advance_runs(
    db: Database, run_pks: Sequence[int], *, now: datetime | None, retries_due_by: datetime | None
) -> int:
    changes = 0
    for run_pk in run_pks:
        with db.transaction() as s:
            run = lock_run(s, run_pk)
            if run is not None:
                changes += advance_run(s, run, now=now, retries_due_by=retries_due_by)
    return changes


def release_due_retries(db: Database, *, now: datetime | None = None) -> int:
    """``up_for_retry`` -> ``scheduled`` for every due retry of a running run (one statement);
    what the scheduler's retry timer does. Returns how many were released."""
    stamp = now or common.now()
    with db.transaction() as s:
        params = {"due_by": stamp, "stamp": stamp}
        return _rowcount(common.conn(s).execute(_RELEASE_ALL_DUE_RETRIES, params))
