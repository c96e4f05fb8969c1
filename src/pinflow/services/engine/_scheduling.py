"""Moving a run forward (``advance_run``): schedule (or expand) ready tasks, cascade skips
and upstream failures, release due retries, finish the run.

The decisions are ``pinflow.lifecycle.run_planning``'s; this module applies them, reading and
moving task instances with ``_run_instances``' statements. Every write is a guarded
``UPDATE … WHERE state = :expected``, so a decision computed from state that changed
meanwhile (a clear, a concurrent report) writes nothing instead of overwriting newer state.
Starting queued runs is ``_new_runs``'s; the passes over every running run are ``_sweep``'s.

A mapped task is expanded here, when its trigger rule lets it run: its upstream values are
read and ``pinflow.lifecycle.mapping`` decides; its placeholder becomes element 0 and the
other elements are inserted, or it takes a final state (an expansion that fails is audited as
``task.expand_failed``, since no try exists to hold the error). Handing scheduled tasks to
executors (``claim_scheduled``: pools, ``max_active_tasks``) is ``_claims``'.

Lock order, everywhere task instances change: the DAG row (only to count against its limits),
then the run row, then task instance rows. ``advance_run`` expects the caller to hold the run's
row lock (``lock_run``), which is what serialises two reports finishing the two upstreams of a
join task: the second one sees the first one's result and schedules the join.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Update, insert, select, update
from sqlalchemy.orm import Session

from pinflow.lifecycle.mapping import Expansion, RunInstances, expansion_for
from pinflow.lifecycle.past_rules import past_dependent, waiting_on_past
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
from pinflow.lifecycle.states import DUE_AGAIN_STATES, FINISHED_TASK_STATES, RunState, TaskState
from pinflow.services import audit_events as events
from pinflow.services import common
from pinflow.services.audit_events import StoredRun, record
from pinflow.services.common import SYSTEM_ACTOR, for_update
from pinflow.services.engine import _wakeups as wakeups
from pinflow.services.engine._limits import max_map_length
from pinflow.services.engine._past_runs import next_running_run, past_states
from pinflow.services.engine._run_callbacks import (
    SUCCESS_REASON,
    TASK_FAILURE_REASON,
    queue_run_callbacks,
)
from pinflow.services.engine._run_instances import (
    any_unfinished_of,
    apply_move,
    busy,
    has_unfinished,
    load_instances,
    read_xcoms,
    release_due_retries_of,
    upstream_set,
)
from pinflow.spec.models import DagSpec, ErrorStrategy
from pinflow.store.db import Database
from pinflow.store.repo import cached_spec
from pinflow.store.tables import DagRun, TaskInstance

NONE, SCHEDULED = TaskState.NONE, TaskState.SCHEDULED


def execute_guarded(session: Session, stmt: Update) -> int:
    """Run a guarded UPDATE and return how many rows matched its expected state."""
    result = cast(CursorResult[Any], session.execute(stmt))
    return result.rowcount


def lock_run(session: Session, run_pk: int) -> DagRun | None:
    return session.scalars(for_update(select(DagRun).where(DagRun.id == run_pk))).one_or_none()


# --- one run ------------------------------------------------------------------------------------


# What ``advance_run`` reads of a run: a ``DagRun`` row or a ``RunRow``.
RunRef = StoredRun


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
        instances = load_instances(session, run.id)
        step.settle(instances, None)
    if any(DUE_AGAIN_STATES.intersection(group) for group in instances.states.values()):
        step.changes += release_due_retries_of(session, run.id, retries_due_by or stamp, stamp)
    # A step that met a changed state anywhere planned from a stale picture: its moves were
    # guarded, but it must not finish the run.
    if step.fresh and not step.saw_unfinished and not has_unfinished(session, run.id):
        final = plan_run(spec, load_instances(session, run.id).states, spec.error_strategy)
        if final.outcome is not None:
            step.changes += _finish_run(session, run, final, stamp, spec)
    if changed is not None and step.past_dependent:
        step.changes += step.wake_next_run(changed)
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
        self.past_dependent = past_dependent(spec)  # depends_on_past (ADR 0038)
        self.held: set[str] = set()  # of those, the ones whose past is not done
        self._past_asked: set[str] = set()

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
            instances = load_instances(self.session, self.run.id, needed)
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
        changed = load_instances(self.session, self.run.id, wave).states
        waiting: set[str] = set()
        for join in wide:
            ups = upstream_set(join)
            ended = [state for t in wave if t in ups for state in changed.get(t, ())]
            if not waits_for_the_rest(self.spec, join, ended):
                continue
            probe = upstreams_to_probe(self.spec, join, wave)
            if any_unfinished_of(self.session, self.run.id, probe) or any_unfinished_of(
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
            plan = self._plan(states, changed)
            self.saw_unfinished = self.saw_unfinished or busy(plan.states)
            for move in plan.moves:
                self._count(apply_move(self.session, self.run.id, move, self.stamp))
                if move.to_state in FINISHED_TASK_STATES:
                    self.ended.add(move.task_id)
            pending = [task_id for task_id in plan.expand if task_id not in tried]
            if not pending:
                return plan
            tried.update(pending)
            expanded = self._expand(pending, plan.states, instances)
            states, changed = {**plan.states, **expanded}, list(expanded)

    def wake_next_run(self, changed: Collection[str]) -> int:
        """A task that depends on its past just ended here: the next run's instance of it may
        wait on this one, so that run is planned now, in this transaction (lock order: the
        earlier run first, so two such wake-ups never wait on each other)."""
        mine = [t for t in changed if t in self.past_dependent]
        ended = load_instances(self.session, self.run.id, mine).states if mine else {}
        following = next_running_run(self.session, self.run.id, ended) if ended else None
        if following is None:
            return 0
        return advance_run(self.session, following, now=self.stamp)

    def _plan(
        self, states: Mapping[str, Sequence[TaskState]], changed: Collection[str] | None
    ) -> RunPlan:
        """``plan_run``, with the tasks it would start that wait on their past run held. The
        previous run is read only when the plan would start such a task (once per step)."""
        strategy = self.spec.error_strategy
        plan = plan_run(self.spec, states, strategy, changed=changed, held=self.held)
        if not self.past_dependent:
            return plan
        starting = {*plan.scheduled, *plan.expand} & self.past_dependent
        asked = starting - self._past_asked
        if not asked:
            return plan
        self._past_asked |= asked
        waiting = waiting_on_past(asked, past_states(self.session, self.run.id, asked))
        if not waiting:
            return plan
        self.held |= waiting
        return plan_run(self.spec, states, strategy, changed=changed, held=self.held)

    def _expand(
        self,
        task_ids: list[str],
        states: Mapping[str, Sequence[TaskState]],
        instances: RunInstances,
    ) -> dict[str, list[TaskState]]:
        tasks = [task for task_id in task_ids if (task := self.spec.task(task_id)) is not None]
        refs = [ref for task in tasks for ref in task.expand_refs]
        xcoms = read_xcoms(self.session, self.run.id, refs)
        expanded: dict[str, list[TaskState]] = {}
        for task in tasks:
            placeholder = instances.placeholders.get(task.task_id)
            if placeholder is None:  # expanded already; an element set back to ``none`` runs
                expanded[task.task_id] = self._schedule_waiting(task.task_id, states)
                continue
            expansion = expansion_for(
                self.spec, task, states, instances.elements, xcoms, max_length=max_map_length()
            )
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
        self._count(apply_move(self.session, self.run.id, move, self.stamp))
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
            values.update(pool_slots=resolved.pool_slots, queue=resolved.queue)
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
            record(self.session, SYSTEM_ACTOR, events.task_expand_failed(self.run, expansion))
        return max(expansion.count, 1)

    def _count(self, changed: int) -> None:
        self.changes += changed
        self.fresh = self.fresh and changed > 0


def _finish_run(
    session: Session, run: RunRef, plan: RunPlan, stamp: datetime, spec: DagSpec
) -> int:
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
        record(session, SYSTEM_ACTOR, events.run_finished(run, plan.outcome, failed))
        reason = SUCCESS_REASON if plan.outcome == RunState.SUCCESS else TASK_FAILURE_REASON
        queue_run_callbacks(session, run.id, spec, plan.outcome, reason)
    return changed


def advance_runs(
    db: Database, run_pks: Sequence[int], *, now: datetime | None, retries_due_by: datetime | None
) -> int:
    """``advance_run`` of each of ``run_pks``, one transaction each (a slow or conflicting run
    never holds back the others). Returns the number of rows changed."""
    changes = 0
    for run_pk in run_pks:
        with db.transaction() as s:
            run = lock_run(s, run_pk)
            if run is not None:
                changes += advance_run(s, run, now=now, retries_due_by=retries_due_by)
    return changes
