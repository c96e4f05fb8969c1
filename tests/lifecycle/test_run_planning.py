"""One scheduling step as data: which tasks move, the run's outcome, and retry decisions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pinflow.lifecycle.run_planning import (
    MAX_RETRY_DELAY_SECONDS,
    MoveReason,
    TaskMove,
    plan_run,
    retry_decision,
    retry_delay_seconds,
)
from pinflow.lifecycle.states import RunState, TaskState
from pinflow.spec.models import DagSpec, ErrorStrategy, ResolvedTask, TriggerRule
from pinflow.testing import make_spec

N = TaskState.NONE
SC = TaskState.SCHEDULED
Q = TaskState.QUEUED
R = TaskState.RUNNING
S = TaskState.SUCCESS
F = TaskState.FAILED
UF = TaskState.UPSTREAM_FAILED
SK = TaskState.SKIPPED
UR = TaskState.UP_FOR_RETRY
X = TaskState.REMOVED

CONTINUE = ErrorStrategy.CONTINUE
FAIL_FAST = ErrorStrategy.FAIL_FAST

DIAMOND = make_spec("diamond", {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]})


def rules(**by_task: str) -> dict[str, dict[str, Any]]:
    return {task_id: {"trigger_rule": rule} for task_id, rule in by_task.items()}


def final(
    spec: DagSpec, states: dict[str, Any], strategy: ErrorStrategy = CONTINUE
) -> dict[str, TaskState]:
    plan = plan_run(spec, states, strategy)
    return {task_id: group[0] for task_id, group in plan.states.items()}


def test_roots_are_scheduled_and_the_rest_waits() -> None:
    plan = plan_run(DIAMOND, {"a": N, "b": N, "c": N, "d": N}, CONTINUE)
    assert plan.moves == (TaskMove("a", N, SC, MoveReason.TRIGGER_RULE),)
    assert plan.scheduled == ["a"]
    assert plan.outcome is None


def test_a_success_schedules_both_branches_and_the_join_waits_for_both() -> None:
    assert plan_run(DIAMOND, {"a": S, "b": N, "c": N, "d": N}, CONTINUE).scheduled == ["b", "c"]
    assert plan_run(DIAMOND, {"a": S, "b": S, "c": R, "d": N}, CONTINUE).moves == ()
    assert plan_run(DIAMOND, {"a": S, "b": S, "c": S, "d": N}, CONTINUE).scheduled == ["d"]


def test_a_skip_cascades_to_a_fixed_point_in_one_call() -> None:
    spec = make_spec(
        "chain", {"a": [], "b": ["a"], "c": ["b"], "d": ["c"]}, task_fields=rules(d="all_done")
    )
    plan = plan_run(spec, {"a": SK, "b": N, "c": N, "d": N}, CONTINUE)
    assert plan.skipped == ["b", "c"]
    assert plan.scheduled == ["d"]  # all_done runs after skipped upstreams
    assert plan.outcome is None


def test_an_upstream_failure_cascades_and_a_cleanup_task_still_runs() -> None:
    spec = make_spec(
        "chain",
        {"a": [], "b": ["a"], "c": ["b"], "cleanup": ["c"]},
        task_fields=rules(cleanup="all_done"),
    )
    plan = plan_run(spec, {"a": F, "b": N, "c": N, "cleanup": N}, CONTINUE)
    assert plan.upstream_failed == ["b", "c"]
    assert plan.scheduled == ["cleanup"]
    assert all(m.reason == MoveReason.TRIGGER_RULE for m in plan.moves)


def test_continue_keeps_independent_branches_running_and_fails_the_run_at_the_end() -> None:
    spec = make_spec("two", {"a": [], "b": ["a"], "x": [], "y": ["x"]})
    states = {"a": F, "b": N, "x": S, "y": N}
    plan = plan_run(spec, states, CONTINUE)
    assert plan.upstream_failed == ["b"]
    assert plan.scheduled == ["y"]
    assert plan.outcome is None
    assert plan_run(spec, {"a": F, "b": UF, "x": S, "y": S}, CONTINUE).outcome == RunState.FAILED


def test_fail_fast_marks_every_task_not_yet_started_and_leaves_live_ones_alone() -> None:
    spec = make_spec(
        "many",
        {"a": [], "n": [], "s": [], "r": [], "q": [], "w": [], "done": []},
        task_fields=rules(n="always"),
    )
    states = {"a": F, "n": N, "s": SC, "r": UR, "q": Q, "w": R, "done": S}
    plan = plan_run(spec, states, FAIL_FAST)
    assert {(m.task_id, m.from_state) for m in plan.moves} == {("n", N), ("s", SC), ("r", UR)}
    assert {m.to_state for m in plan.moves} == {UF}
    assert {m.reason for m in plan.moves} == {MoveReason.FAIL_FAST}
    assert plan.outcome is None  # q and w are still live
    after = {**states, "n": UF, "s": UF, "r": UF, "q": S, "w": F}
    assert plan_run(spec, after, FAIL_FAST).outcome == RunState.FAILED


def test_fail_fast_waits_for_a_failure_for_good_not_a_try_that_will_be_retried() -> None:
    spec = make_spec("two", {"a": [], "x": [], "y": ["x"]})
    plan = plan_run(spec, {"a": UR, "x": S, "y": N}, FAIL_FAST)
    assert plan.scheduled == ["y"]


def test_the_same_states_give_the_same_result_under_both_strategies_without_failures() -> None:
    states = {"a": S, "b": SK, "c": N, "d": N}
    assert plan_run(DIAMOND, states, FAIL_FAST) == plan_run(DIAMOND, states, CONTINUE)


def test_upstreams_without_a_task_instance_in_the_run_are_ignored() -> None:
    assert plan_run(DIAMOND, {"b": N}, CONTINUE).scheduled == ["b"]
    assert plan_run(DIAMOND, {"a": S, "d": N}, CONTINUE).scheduled == ["d"]


def test_a_task_instance_the_pinned_spec_does_not_define_is_removed_unless_finished() -> None:
    plan = plan_run(DIAMOND, {"a": S, "gone": N, "kept": S}, CONTINUE)
    assert plan.moves == (TaskMove("gone", N, X, MoveReason.NOT_IN_SPEC),)
    assert plan.outcome == RunState.SUCCESS


def test_mapped_upstream_instances_count_one_by_one() -> None:
    spec = make_spec(
        "mapped", {"m": [], "after": ["m"], "any": ["m"]}, task_fields=rules(any="one_success")
    )
    plan = plan_run(spec, {"m": [S, F, S], "after": N, "any": N}, CONTINUE)
    assert plan.upstream_failed == ["after"]
    assert plan.scheduled == ["any"]


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ({"a": S, "b": S, "c": S, "d": S}, RunState.SUCCESS),
        ({"a": S, "b": SK, "c": S, "d": N}, RunState.SUCCESS),  # d is skipped on the way
        ({"a": F, "b": N, "c": N, "d": N}, RunState.FAILED),  # the whole cascade settles
        ({"a": S, "b": S, "c": R, "d": N}, None),
    ],
)
def test_outcome_is_computed_after_the_moves(
    states: dict[str, TaskState], expected: RunState | None
) -> None:
    assert plan_run(DIAMOND, states, CONTINUE).outcome == expected


def test_trigger_rules_come_from_default_args_when_a_task_sets_none() -> None:
    spec = make_spec(
        "defaults", {"a": [], "b": ["a"]}, default_args={"trigger_rule": TriggerRule.ALL_DONE}
    )
    assert final(spec, {"a": F, "b": N}) == {"a": F, "b": SC}


# --- retries ------------------------------------------------------------------------------------

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def task(**fields: Any) -> ResolvedTask:
    base: dict[str, Any] = {
        "task_id": "t",
        "trigger_rule": TriggerRule.ALL_SUCCESS,
        "retries": 3,
        "retry_delay": 10.0,
        "retry_exponential_backoff": False,
        "max_retry_delay": None,
        "execution_timeout": None,
        "pool": "default_pool",
        "pool_slots": 1,
    }
    return ResolvedTask(**{**base, **fields})


@pytest.mark.parametrize(
    ("fields", "delays"),
    [
        ({}, [10, 10, 10]),
        ({"retry_exponential_backoff": True}, [10, 20, 40]),
        ({"retry_exponential_backoff": True, "max_retry_delay": 25.0}, [10, 20, 25]),
        ({"retry_exponential_backoff": True, "retry_delay": 0.0}, [0, 0, 0]),
        ({"retry_delay": 300.0, "max_retry_delay": 1.0}, [300, 300, 300]),  # cap: backoff only
    ],
)
def test_retry_delays_per_try(fields: dict[str, Any], delays: list[float]) -> None:
    resolved = task(**fields)
    for try_number, delay in enumerate(delays, start=1):
        decision = retry_decision(resolved, try_number, NOW)
        assert decision.state == UR
        assert decision.next_try_at == NOW + timedelta(seconds=delay)


def test_a_task_runs_at_most_retries_plus_one_times() -> None:
    resolved = task(retries=2)
    assert retry_decision(resolved, 2, NOW).state == UR
    assert retry_decision(resolved, 3, NOW) == (F, None)
    assert retry_decision(task(retries=0), 1, NOW) == (F, None)


def test_max_tries_of_the_task_instance_overrides_retries() -> None:
    # A clear grants a task instance further tries: try 4 of a task with one retry may retry.
    assert retry_decision(task(retries=1), 4, NOW, max_tries=5).state == UR
    assert retry_decision(task(retries=5), 4, NOW, max_tries=3).state == F


def test_exponential_backoff_stops_at_a_day_and_never_overflows() -> None:
    resolved = task(retry_exponential_backoff=True, retries=100_000)
    assert retry_delay_seconds(resolved, 30) == MAX_RETRY_DELAY_SECONDS
    assert retry_delay_seconds(resolved, 100_000) == MAX_RETRY_DELAY_SECONDS
    huge = task(retry_exponential_backoff=True, retry_delay=1e300, max_retry_delay=5.0)
    assert retry_delay_seconds(huge, 5000) == 5.0
