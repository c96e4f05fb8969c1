"""Every trigger rule against Airflow's semantics (``airflow.ti_deps.deps.trigger_rule_dep``).

Each row: the rule, the states of the direct upstreams, and what Airflow decides for a task
still in ``none``. ``R`` is an unfinished upstream (running; queued or scheduled are alike).
"""

from __future__ import annotations

import pytest

from pinflow.lifecycle.states import RunState, TaskState
from pinflow.lifecycle.trigger_rules import Verdict, evaluate, fail_fast_verdict, run_outcome
from pinflow.spec.models import ErrorStrategy, TriggerRule

S = TaskState.SUCCESS
F = TaskState.FAILED
UF = TaskState.UPSTREAM_FAILED
SK = TaskState.SKIPPED
R = TaskState.RUNNING
X = TaskState.REMOVED

RUN = Verdict.RUN
WAIT = Verdict.WAIT
SKIP = Verdict.SKIP
UPF = Verdict.UPSTREAM_FAILED

TR = TriggerRule

AIRFLOW_TABLE: list[tuple[TriggerRule, list[TaskState], Verdict]] = [
    # all_success: a failure decides at once, so does a skip; otherwise wait for all successes
    (TR.ALL_SUCCESS, [S, S], RUN),
    (TR.ALL_SUCCESS, [S, R], WAIT),
    (TR.ALL_SUCCESS, [F, R], UPF),
    (TR.ALL_SUCCESS, [UF, S], UPF),
    (TR.ALL_SUCCESS, [SK, R], SKIP),
    (TR.ALL_SUCCESS, [SK, F], UPF),
    # all_failed: any success or skip skips; runs when every upstream failed
    (TR.ALL_FAILED, [F, UF], RUN),
    (TR.ALL_FAILED, [F, R], WAIT),
    (TR.ALL_FAILED, [S, R], SKIP),
    (TR.ALL_FAILED, [SK, F], SKIP),
    # all_done: whatever happened, once everything finished
    (TR.ALL_DONE, [S, F, SK, UF], RUN),
    (TR.ALL_DONE, [F, R], WAIT),
    (TR.ALL_DONE, [SK, SK], RUN),
    # all_done_min_one_success (Airflow 3.1): all finished and at least one success
    (TR.ALL_DONE_MIN_ONE_SUCCESS, [S, F], RUN),
    (TR.ALL_DONE_MIN_ONE_SUCCESS, [S, UF], RUN),
    (TR.ALL_DONE_MIN_ONE_SUCCESS, [S, R], WAIT),
    # all_done_setup_success (a teardown's), without setup upstreams: all_done
    (TR.ALL_DONE_SETUP_SUCCESS, [S, F, SK], RUN),
    (TR.ALL_DONE_SETUP_SUCCESS, [F, R], WAIT),
    # all_skipped: any success or failure skips; runs when every upstream skipped
    (TR.ALL_SKIPPED, [SK, SK], RUN),
    (TR.ALL_SKIPPED, [SK, R], WAIT),
    (TR.ALL_SKIPPED, [S, R], SKIP),
    (TR.ALL_SKIPPED, [F, SK], SKIP),
    (TR.ALL_SKIPPED, [UF], SKIP),
    # one_success: fires on the first success without waiting for the others
    (TR.ONE_SUCCESS, [S, R], RUN),
    (TR.ONE_SUCCESS, [R, R], WAIT),
    (TR.ONE_SUCCESS, [F, R], WAIT),
    (TR.ONE_SUCCESS, [F, SK], UPF),
    (TR.ONE_SUCCESS, [UF, F], UPF),
    (TR.ONE_SUCCESS, [SK, SK], SKIP),
    # one_failed: fires on the first failure (upstream_failed counts); skips when none failed
    (TR.ONE_FAILED, [F, R], RUN),
    (TR.ONE_FAILED, [UF, R], RUN),
    (TR.ONE_FAILED, [S, R], WAIT),
    (TR.ONE_FAILED, [S, SK], SKIP),
    # one_done: the first success or failure (upstream_failed does not count)
    (TR.ONE_DONE, [S, R], RUN),
    (TR.ONE_DONE, [F, R], RUN),
    (TR.ONE_DONE, [UF, R], WAIT),
    (TR.ONE_DONE, [UF, SK], SKIP),
    (TR.ONE_DONE, [SK, SK], SKIP),
    # none_failed: successes and skips are fine; any failure decides at once
    (TR.NONE_FAILED, [S, SK], RUN),
    (TR.NONE_FAILED, [SK, SK], RUN),
    (TR.NONE_FAILED, [S, R], WAIT),
    (TR.NONE_FAILED, [F, R], UPF),
    (TR.NONE_FAILED, [UF, S], UPF),
    # none_failed_min_one_success: as none_failed, but all skipped skips
    (TR.NONE_FAILED_MIN_ONE_SUCCESS, [S, SK], RUN),
    (TR.NONE_FAILED_MIN_ONE_SUCCESS, [SK, SK], SKIP),
    (TR.NONE_FAILED_MIN_ONE_SUCCESS, [SK, R], WAIT),
    (TR.NONE_FAILED_MIN_ONE_SUCCESS, [F, SK], UPF),
    # none_skipped: failures are fine; any skip decides at once
    (TR.NONE_SKIPPED, [S, F], RUN),
    (TR.NONE_SKIPPED, [S, UF], RUN),
    (TR.NONE_SKIPPED, [S, R], WAIT),
    (TR.NONE_SKIPPED, [SK, R], SKIP),
    # always: never waits
    (TR.ALWAYS, [R, R], RUN),
    (TR.ALWAYS, [F, UF], RUN),
]

# all_done_min_one_success, as Airflow 3: a skipped upstream skips at once; all done without a
# success is upstream_failed.
MIN_ONE_SUCCESS = [
    (TR.ALL_DONE_MIN_ONE_SUCCESS, [S, SK], SKIP),
    (TR.ALL_DONE_MIN_ONE_SUCCESS, [SK, R], SKIP),
    (TR.ALL_DONE_MIN_ONE_SUCCESS, [F, UF], UPF),
    (TR.ALL_DONE_MIN_ONE_SUCCESS, [S, R], WAIT),
    (TR.ALL_DONE_MIN_ONE_SUCCESS, [S, F], RUN),
]


def _id(value: object) -> str:
    if isinstance(value, list):
        return "+".join(s.value for s in value) or "no-upstream"
    return str(value)


@pytest.mark.parametrize(("rule", "upstream", "expected"), AIRFLOW_TABLE, ids=_id)
def test_trigger_rule_matches_airflow(
    rule: TriggerRule, upstream: list[TaskState], expected: Verdict
) -> None:
    assert evaluate(rule, upstream) == expected


@pytest.mark.parametrize(("rule", "upstream", "expected"), MIN_ONE_SUCCESS, ids=_id)
def test_all_done_min_one_success_matches_airflow(
    rule: TriggerRule, upstream: list[TaskState], expected: Verdict
) -> None:
    assert evaluate(rule, upstream) == expected


SETUP_TABLE: list[tuple[list[TaskState], list[TaskState], Verdict]] = [
    # Airflow's teardown rule: upstream states (the setups among them), verdict
    ([S, F], [S], RUN),  # the work failed, its setup ran: tear down
    ([S, S, R], [S], WAIT),
    ([S, F, UF], [S, F], RUN),  # one setup of two succeeded: what it set up is torn down
    ([SK, SK], [SK], SKIP),  # every setup skipped: nothing to tear down
    ([F, UF], [F], UPF),  # no setup succeeded
    ([SK, UF], [SK, F], UPF),
]


@pytest.mark.parametrize(("upstream", "setups", "expected"), SETUP_TABLE)
def test_a_teardown_runs_when_its_setups_ran(
    upstream: list[TaskState], setups: list[TaskState], expected: Verdict
) -> None:
    assert evaluate(TR.ALL_DONE_SETUP_SUCCESS, upstream, setups) == expected


def test_setup_states_matter_to_the_teardown_rule_only() -> None:
    assert evaluate(TR.ALL_SUCCESS, [S, S], [F]) == RUN
    assert evaluate(TR.ALL_DONE, [S, S], [SK]) == RUN


def test_a_teardown_failure_does_not_fail_the_run_unless_told() -> None:
    states = {"setup": [S], "work": [S], "teardown": [F]}
    assert run_outcome(states, not_failing={"teardown"}) == RunState.SUCCESS
    assert run_outcome(states) == RunState.FAILED
    assert run_outcome({**states, "work": [F]}, not_failing={"teardown"}) == RunState.FAILED
    assert run_outcome({**states, "teardown": [R]}, not_failing={"teardown"}) is None


def test_the_table_covers_every_rule() -> None:
    assert {rule for rule, _, _ in AIRFLOW_TABLE} == set(TriggerRule)


@pytest.mark.parametrize("rule", list(TriggerRule))
def test_a_task_without_upstreams_runs(rule: TriggerRule) -> None:
    assert evaluate(rule, []) == RUN


@pytest.mark.parametrize("rule", list(TriggerRule))
def test_removed_upstreams_are_ignored(rule: TriggerRule) -> None:
    assert evaluate(rule, [X, X]) == RUN
    assert evaluate(rule, [S, X]) == evaluate(rule, [S])


@pytest.mark.parametrize(
    ("strategy", "has_failure", "expected"),
    [
        (ErrorStrategy.FAIL_FAST, True, UPF),
        (ErrorStrategy.FAIL_FAST, False, None),
        (ErrorStrategy.CONTINUE, True, None),
        (ErrorStrategy.CONTINUE, False, None),
    ],
)
def test_fail_fast_stops_new_work_only_after_a_failure(
    strategy: ErrorStrategy, has_failure: bool, expected: Verdict | None
) -> None:
    assert fail_fast_verdict(strategy, has_failure) == expected


@pytest.mark.parametrize(
    ("states", "expected"),
    [
        ({"a": [S], "b": [S]}, RunState.SUCCESS),
        ({"a": [S], "b": [SK]}, RunState.SUCCESS),
        ({"a": [F], "cleanup": [S]}, RunState.FAILED),  # a leaf cleanup does not hide a failure
        ({"a": [S], "b": [UF]}, RunState.FAILED),
        ({"a": [S], "b": [X]}, RunState.SUCCESS),
        ({"a": [S], "b": [R]}, None),
        ({"a": [F], "b": [TaskState.UP_FOR_RETRY]}, None),
        ({"m": [S, S, F]}, RunState.FAILED),  # mapped instances count one by one
    ],
)
def test_run_outcome(states: dict[str, list[TaskState]], expected: RunState | None) -> None:
    assert run_outcome(states) == expected
