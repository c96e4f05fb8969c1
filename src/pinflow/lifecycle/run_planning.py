"""How a run advances one step, and what a failed try turns into: pure decisions as data.

``plan_run`` looks at a run's pinned spec and the states of its task instances and answers
which tasks move (``none`` -> ``scheduled`` / ``skipped`` / ``upstream_failed``, and under
``fail_fast`` every task not yet started -> ``upstream_failed``) and, once every task instance
is finished, the run's outcome. Skips and upstream failures cascade: the plan is iterated to a
fixed point, so one call settles a whole chain of skipped or failed-upstream tasks. A mapped
task (``expand``) that may run is not scheduled but named for expansion: how many elements it
gets depends on upstream values, which ``pinflow.lifecycle.mapping`` decides on.

``retry_decision`` turns a failed try into ``up_for_retry`` (with the moment the next try is
due) or ``failed`` once the tries are used up.

The service applies each move with a guarded ``UPDATE … WHERE state = :from_state``: a move is
a claim about the state it was computed from, never a blind write.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from pinflow.lifecycle.states import RunState, TaskState
from pinflow.lifecycle.trigger_rules import (
    Verdict,
    evaluate,
    fail_fast_verdict,
    run_outcome,
)
from pinflow.spec.models import DagSpec, ErrorStrategy, ResolvedTask, TaskSpec, TriggerRule

# Airflow's ``[core] max_task_retry_delay`` default: an exponential backoff without its own
# ``max_retry_delay`` still stops growing at a day (and never overflows a ``timedelta``).
MAX_RETRY_DELAY_SECONDS = 24 * 60 * 60.0

# A sensor waiting for its next poke (or deferred) has no process either: fail_fast stops it.
NOT_STARTED_STATES = frozenset(
    {
        TaskState.NONE,
        TaskState.SCHEDULED,
        TaskState.UP_FOR_RETRY,
        TaskState.UP_FOR_RESCHEDULE,
        TaskState.DEFERRED,
    }
)

_VERDICT_STATE = {
    Verdict.RUN: TaskState.SCHEDULED,
    Verdict.SKIP: TaskState.SKIPPED,
    Verdict.UPSTREAM_FAILED: TaskState.UPSTREAM_FAILED,
}


class MoveReason(StrEnum):
    TRIGGER_RULE = "trigger_rule"  # the task's trigger rule decided on its direct upstreams
    FAIL_FAST = "fail_fast"  # the run's error strategy stopped everything not yet started
    NOT_IN_SPEC = "not_in_spec"  # the pinned spec has no such task (Airflow's verify_integrity)
    FLOW = "flow"  # a branch or short-circuit task's value skipped it (``flow_rules``)


@dataclass(frozen=True)
class TaskMove:
    """Every instance of ``task_id`` currently in ``from_state`` moves to ``to_state``."""

    task_id: str
    from_state: TaskState
    to_state: TaskState
    reason: MoveReason


@dataclass(frozen=True)
class RunPlan:
    """The moves of one step, in the order to apply them, and the outcome they lead to.

    ``expand`` names the mapped tasks whose trigger rule lets them run: their placeholder
    stays ``none`` here (so what follows them waits) until the service has read their input
    and expanded them (``pinflow.lifecycle.mapping``). A mapped task that has expanded
    already (an element was set back to ``none``) is named too: the service schedules it.
    """

    moves: tuple[TaskMove, ...]
    states: Mapping[str, tuple[TaskState, ...]]  # every task instance's state after the moves
    outcome: RunState | None  # None while some task instance is unfinished
    expand: tuple[str, ...] = ()

    def task_ids_to(self, state: TaskState) -> list[str]:
        return [m.task_id for m in self.moves if m.to_state == state]

    @property
    def scheduled(self) -> list[str]:
        return self.task_ids_to(TaskState.SCHEDULED)

    @property
    def skipped(self) -> list[str]:
        return self.task_ids_to(TaskState.SKIPPED)

    @property
    def upstream_failed(self) -> list[str]:
        return self.task_ids_to(TaskState.UPSTREAM_FAILED)


TaskStates = Mapping[str, TaskState | Collection[TaskState]]


def plan_run(
    spec: DagSpec,
    states: TaskStates,
    error_strategy: ErrorStrategy,
    *,
    changed: Collection[str] | None = None,
    held: Collection[str] = (),
) -> RunPlan:
    """The decisions of one scheduling step for a run pinned to ``spec``.

    ``states`` holds, per task id, the state of its task instance (or the states of its mapped
    instances). Upstream ids the run has no task instance for are ignored. The moves are
    iterated to a fixed point: a skip or an upstream failure reaches every task it decides.
    Each wave only looks again at the tasks downstream of the previous wave's moves, so a
    cascade down a long chain costs its length, not its length times the DAG's size.

    ``changed``: the tasks whose state changed since the run was last planned (a task's
    verdict depends only on its upstreams' states, so only their downstream tasks are looked
    at); ``None`` looks at every task.

    ``held``: tasks that may not start yet whatever their upstreams say (they wait on their
    past run, ``past_rules``): a verdict to run leaves them ``none``; a skip or an upstream
    failure still reaches them.
    """
    current = {task_id: _as_list(value) for task_id, value in states.items()}
    planner = _Planner(spec, current, held)
    has_failure = any(TaskState.FAILED in group for group in current.values())
    if fail_fast_verdict(error_strategy, has_failure) is not None:
        planner.apply(planner.stop_all())
    else:
        planner.apply(planner.remove_unknown())
        wave = list(current) if changed is None else planner.downstream_of(changed)
        while wave:
            wave = planner.apply(planner.by_trigger_rules(wave))
    final = {task_id: tuple(group) for task_id, group in current.items()}
    expand = tuple(t for t in planner.expand if TaskState.NONE in current[t])
    outcome = run_outcome(final, not_failing=planner.graph.not_failing)
    return RunPlan(tuple(planner.moves), final, outcome, expand)


def _as_list(value: TaskState | Collection[TaskState]) -> list[TaskState]:
    if isinstance(value, str):
        return [TaskState(value)]
    return [s if isinstance(s, TaskState) else TaskState(s) for s in value]


@dataclass(frozen=True)
class _Graph:
    tasks: Mapping[str, TaskSpec]
    position: Mapping[str, int]  # in the spec's task order
    downstream: Mapping[str, tuple[str, ...]]
    not_failing: frozenset[str]  # teardowns whose failure does not fail the run
    upstream_positions: dict[str, Mapping[str, int]] = field(default_factory=dict)  # wide joins


_GRAPH_CACHE_SIZE = 64
# By the spec object's id; the entry holds the spec, so the id cannot be reused meanwhile.
# The scheduler keeps one spec object per snapshot, so a report does not rebuild the graph.
_graphs: dict[int, tuple[DagSpec, _Graph]] = {}


def _graph(spec: DagSpec) -> _Graph:
    hit = _graphs.get(id(spec))
    if hit is not None and hit[0] is spec:
        return hit[1]
    downstream: dict[str, list[str]] = {}
    for task in spec.tasks:
        for up in task.upstream_task_ids:
            downstream.setdefault(up, []).append(task.task_id)
    graph = _Graph(
        tasks={t.task_id: t for t in spec.tasks},
        position={t.task_id: i for i, t in enumerate(spec.tasks)},
        downstream={k: tuple(v) for k, v in downstream.items()},
        not_failing=frozenset(
            t.task_id for t in spec.tasks if t.teardown and not t.on_failure_fail_dagrun
        ),
    )
    if len(_graphs) >= _GRAPH_CACHE_SIZE:
        _graphs.pop(next(iter(_graphs)))
    _graphs[id(spec)] = (spec, graph)
    return graph


def downstream_map(spec: DagSpec) -> Mapping[str, tuple[str, ...]]:
    """Each task's direct downstream tasks, built once per spec object (cached)."""
    return _graph(spec).downstream


def spec_order(spec: DagSpec, task_ids: Collection[str]) -> tuple[str, ...]:
    """``task_ids`` in the spec's task order (cached positions)."""
    position = _graph(spec).position
    return tuple(sorted(task_ids, key=position.__getitem__))


class _Planner:
    """The working state of one ``plan_run``: current states, the moves so far."""

    def __init__(
        self, spec: DagSpec, current: dict[str, list[TaskState]], held: Collection[str] = ()
    ) -> None:
        self.graph = graph = _graph(spec)
        self.held = held
        self.tasks, self.downstream = graph.tasks, graph.downstream
        self.default_rule = spec.default_args.trigger_rule
        self.current = current
        self.moves: list[TaskMove] = []
        self.expand: dict[str, None] = {}  # ordered set

    def downstream_of(self, task_ids: Collection[str]) -> list[str]:
        """The run's tasks directly downstream of ``task_ids``, in the spec's task order."""
        touched = {d for t in task_ids for d in self.downstream.get(t, ())}
        return sorted(touched.intersection(self.current), key=self.graph.position.__getitem__)

    def apply(self, step: list[TaskMove]) -> list[str]:
        """Apply a wave's moves; return the tasks whose decision may change because of it."""
        for move in step:
            self.current[move.task_id] = [
                move.to_state if s == move.from_state else s for s in self.current[move.task_id]
            ]
        self.moves.extend(step)
        return self.downstream_of([m.task_id for m in step])

    def stop_all(self) -> list[TaskMove]:
        """``fail_fast`` after a failure: nothing not yet started starts."""
        moves: list[TaskMove] = []
        for task_id, group in self.current.items():
            to_state, reason = (
                (TaskState.UPSTREAM_FAILED, MoveReason.FAIL_FAST)
                if task_id in self.tasks
                else (TaskState.REMOVED, MoveReason.NOT_IN_SPEC)
            )
            moves.extend(
                TaskMove(task_id, s, to_state, reason)
                for s in _ordered(set(group) & NOT_STARTED_STATES)
            )
        return moves

    def remove_unknown(self) -> list[TaskMove]:
        return [
            TaskMove(task_id, s, TaskState.REMOVED, MoveReason.NOT_IN_SPEC)
            for task_id, group in self.current.items()
            if task_id not in self.tasks
            for s in _ordered(set(group) & NOT_STARTED_STATES)
        ]

    def by_trigger_rules(self, task_ids: list[str]) -> list[TaskMove]:
        """One wave: every waiting task of ``task_ids`` decided on the same states."""
        moves: list[TaskMove] = []
        for task_id in task_ids:
            task = self.tasks.get(task_id)
            if task is None or TaskState.NONE not in self.current[task_id]:
                continue
            decided = self._decide(task)
            if decided == TaskState.SCHEDULED and task_id in self.held:
                continue  # waits on its past run; a later step decides again
            if decided == TaskState.SCHEDULED and task.mapped:
                self.expand[task_id] = None  # the service expands it; it stays ``none`` here
            elif decided is not None:
                moves.append(TaskMove(task_id, TaskState.NONE, decided, MoveReason.TRIGGER_RULE))
        return moves

    def _decide(self, task: TaskSpec) -> TaskState | None:
        current = self.current
        upstream = [s for up in task.upstream_task_ids if up in current for s in current[up]]
        rule = task.trigger_rule or self.default_rule
        setups: list[TaskState] = []
        if rule == TriggerRule.ALL_DONE_SETUP_SUCCESS:
            tasks = self.tasks
            setups = [
                s
                for up in task.upstream_task_ids
                if up in current and up in tasks and tasks[up].setup
                for s in current[up]
            ]
        return _VERDICT_STATE.get(evaluate(rule, upstream, setups))


# A downstream task with more upstreams than this is a fan-in: see ``waits_for_the_rest``.
WIDE_FAN_IN = 32


def neighbourhood(
    spec: DagSpec, changed: Collection[str], *, waiting: Collection[str] = ()
) -> set[str]:
    """The tasks a plan with ``changed`` needs the states of: ``changed``, the tasks directly
    downstream of them, and every upstream of those (their trigger rules read them).
    Downstream tasks in ``waiting`` (known to wait still, see ``waits_for_the_rest``) and
    their upstreams are left out.

    A report reads only these rows, so its cost follows the task's neighbourhood, not the
    size of the DAG.
    """
    graph = _graph(spec)
    downstream = {d for t in changed for d in graph.downstream.get(t, ())} - set(waiting)
    needed = set(changed) | downstream
    for task_id in downstream:
        task = graph.tasks.get(task_id)
        if task is not None:
            needed.update(task.upstream_task_ids)
            needed.update(ref.task_id for ref in task.expand_refs)
    return needed


def wide_downstream(spec: DagSpec, changed: Collection[str]) -> list[TaskSpec]:
    """The tasks directly downstream of ``changed`` that have more than ``WIDE_FAN_IN``
    upstreams (the join of a wide fan-out), in the spec's order."""
    graph = _graph(spec)
    found = {d for t in changed for d in graph.downstream.get(t, ())}
    wide = [graph.tasks[d] for d in found if len(graph.tasks[d].upstream_task_ids) > WIDE_FAN_IN]
    return sorted(wide, key=lambda task: graph.position[task.task_id])


PROBE = 64  # upstreams of a wide join looked at first for one that is unfinished


def upstreams_to_probe(spec: DagSpec, join: TaskSpec, changed: Collection[str]) -> list[str]:
    """Up to ``PROBE`` other upstreams of ``join``, those listed right after the changed ones
    first (wrapping around): tasks start in the spec's order, so those are the likeliest to be
    unfinished, and one unfinished upstream is all a waiting join needs to be shown."""
    upstream = join.upstream_task_ids
    at = _upstream_positions(spec, join)
    start = max((at[t] for t in changed if t in at), default=-1) + 1
    ordered = [upstream[(start + i) % len(upstream)] for i in range(min(PROBE, len(upstream)))]
    return [t for t in ordered if t not in changed]


def _upstream_positions(spec: DagSpec, join: TaskSpec) -> Mapping[str, int]:
    graph = _graph(spec)
    positions = graph.upstream_positions.get(join.task_id)
    if positions is None:
        positions = {t: i for i, t in enumerate(join.upstream_task_ids)}
        graph.upstream_positions[join.task_id] = positions
    return positions


def waits_for_the_rest(
    spec: DagSpec, task: TaskSpec, changed_states: Collection[TaskState]
) -> bool:
    """Whether ``task`` still waits after upstreams ended in ``changed_states``, given that
    some other upstream of it is unfinished.

    Every trigger rule decides either once all upstreams are done or on the first upstream in
    a deciding state (a failure for ``all_success``, a success for ``one_success``...); had an
    earlier upstream been in such a state, the task would not be waiting any more. So the
    rule is asked with the changed states and every other upstream unfinished: when it waits,
    the join of a wide fan-out is not re-read and re-planned on each of its upstreams' ends.
    """
    # One unfinished upstream stands for all of them: rules count deciding states, and only
    # ``all_done``-style decisions look at the total, which an unfinished one already blocks.
    upstream = [*changed_states, TaskState.RUNNING]
    return evaluate(task.trigger_rule or spec.default_args.trigger_rule, upstream) == Verdict.WAIT


def _ordered(states: set[TaskState]) -> list[TaskState]:
    """Deterministic order (the enum's), so a plan is the same on every call."""
    return [s for s in TaskState if s in states]


class RetryDecision(NamedTuple):
    state: TaskState  # up_for_retry or failed
    next_try_at: datetime | None


def retry_delay_seconds(task: ResolvedTask, try_number: int) -> float:
    """The wait before the try after ``try_number`` (Airflow's backoff, without its jitter).

    Exponential backoff doubles per try: ``retry_delay * 2 ** (try_number - 1)``, capped by the
    task's ``max_retry_delay`` or, when it has none, by a day.
    """
    if not task.retry_exponential_backoff:
        return task.retry_delay
    cap = MAX_RETRY_DELAY_SECONDS if task.max_retry_delay is None else task.max_retry_delay
    # A bounded exponent keeps ``2.0 ** n`` finite; past ~1000 doublings every delay is capped.
    exponent = min(max(try_number - 1, 0), 1000)
    return min(task.retry_delay * 2.0**exponent, cap)


def retry_decision(
    task: ResolvedTask, try_number: int, now: datetime, *, max_tries: int | None = None
) -> RetryDecision:
    """What the failed try ``try_number`` becomes.

    As in Airflow, a task may be retried while ``try_number <= max_tries``; ``max_tries``
    defaults to the task's ``retries``, so a task runs at most ``retries + 1`` times. Pass the
    task instance's own ``max_tries`` when a clear has granted it further tries.
    """
    limit = task.retries if max_tries is None else max_tries
    if try_number > limit:
        return RetryDecision(TaskState.FAILED, None)
    delay = timedelta(seconds=retry_delay_seconds(task, try_number))
    return RetryDecision(TaskState.UP_FOR_RETRY, now + delay)
