"""Branch and short-circuit decisions (``flow_rules``), and the planner around setups and
teardowns, against Airflow 3's documented semantics."""

from __future__ import annotations

import pytest

from pinflow.lifecycle.flow_rules import flow_decision
from pinflow.lifecycle.run_planning import plan_run
from pinflow.lifecycle.states import RunState, TaskState
from pinflow.spec.models import DagSpec, ErrorStrategy, TaskSpec, TriggerRule

C = ErrorStrategy.CONTINUE
S, F, SK, N = TaskState.SUCCESS, TaskState.FAILED, TaskState.SKIPPED, TaskState.NONE


def _task(task_id: str, *ups: str, **fields: object) -> TaskSpec:
    return TaskSpec.model_validate(
        {"task_id": task_id, "callable": f"m:{task_id.replace('.', '_')}", "depends_on": list(ups)}
        | fields
    )


def branch_dag() -> DagSpec:
    """Airflow's example_branch_operator shape: branch -> a|b|g.(x -> y) ; a, b, g -> join;
    plus a direct branch -> join edge (the "empty branch")."""
    return DagSpec(
        dag_id="branching",
        tasks=[
            _task("branch", flow="branch"),
            _task("a", "branch"),
            _task("a_next", "a"),
            _task("b", "branch"),
            _task("g.x", "branch"),
            _task("g.y", "g.x"),
            _task(
                "join", "a_next", "b", "g.y", "branch", trigger_rule="none_failed_min_one_success"
            ),
        ],
    )


def decide(spec: DagSpec, task_id: str, value: object) -> tuple[tuple[str, ...], str | None]:
    task = spec.task(task_id)
    assert task is not None
    decision = flow_decision(spec, task, value)
    return decision.skip, decision.error


@pytest.mark.parametrize(
    ("value", "skipped"),
    [
        ("a", ("b", "g.x")),  # join is downstream of a: kept (Airflow's empty-branch rule)
        (["a", "b"], ("g.x",)),
        (("b",), ("a", "g.x")),
        ("g", ("a", "b")),  # a task group id follows the group
        ("g.y", ("a", "b", "g.x")),  # a task that is not a direct downstream: followed as is
        ("join", ("a", "b", "g.x")),
        (None, ("a", "b", "g.x", "join")),  # nothing followed: every direct downstream
        ([], ("a", "b", "g.x", "join")),
    ],
)
def test_a_branch_skips_the_direct_downstreams_it_does_not_follow(
    value: object, skipped: tuple[str, ...]
) -> None:
    assert decide(branch_dag(), "branch", value) == (skipped, None)


@pytest.mark.parametrize("value", ["nope", ["a", "nope"], 3, {"a": 1}, [1]])
def test_a_branch_value_that_names_nothing_is_an_error(value: object) -> None:
    skipped, error = decide(branch_dag(), "branch", value)
    assert skipped == ()
    assert error is not None
    assert "branch task 'branch'" in error


def short_circuit_dag(ignore: bool) -> DagSpec:
    return DagSpec(
        dag_id="short",
        tasks=[
            _task("check", flow="short_circuit", ignore_downstream_trigger_rules=ignore),
            _task("next", "check"),
            _task("after", "next"),
            _task("always", "next", trigger_rule="all_done"),
            _task("cleanup", "check", teardown=True, trigger_rule="all_done_setup_success"),
        ],
    )


def test_a_falsy_short_circuit_skips_every_downstream_task_but_teardowns() -> None:
    assert decide(short_circuit_dag(True), "check", False) == (("next", "after", "always"), None)
    assert decide(short_circuit_dag(True), "check", []) == (("next", "after", "always"), None)


def test_a_falsy_short_circuit_that_respects_trigger_rules_skips_direct_downstreams() -> None:
    spec = short_circuit_dag(False)
    assert decide(spec, "check", None) == (("next",), None)
    # then the trigger rules decide: all_success skips, all_done runs
    plan = plan_run(
        spec,
        {"check": S, "next": SK, "after": N, "always": N, "cleanup": N},
        ErrorStrategy.CONTINUE,
    )
    assert plan.skipped == ["after"]
    assert set(plan.scheduled) == {"always", "cleanup"}


@pytest.mark.parametrize("value", [True, 1, "yes", [0]])
def test_a_truthy_short_circuit_changes_nothing(value: object) -> None:
    assert decide(short_circuit_dag(True), "check", value) == ((), None)


def test_an_ordinary_task_decides_nothing() -> None:
    assert decide(branch_dag(), "a", "b") == ((), None)


def test_after_a_branch_the_join_runs_and_the_skipped_branch_cascades() -> None:
    spec = branch_dag()
    states = {t: N for t in spec.task_ids} | {"branch": S, "b": SK, "g.x": SK}
    plan = plan_run(spec, states, ErrorStrategy.CONTINUE)
    assert plan.skipped == ["g.y"]
    assert plan.scheduled == ["a"]
    states |= {"a": S, "g.y": SK, "a_next": S}
    plan = plan_run(spec, states, ErrorStrategy.CONTINUE)
    assert plan.scheduled == ["join"]


def setup_teardown_dag(fail_dagrun: bool = False) -> DagSpec:
    return DagSpec(
        dag_id="st",
        tasks=[
            _task("create", setup=True),
            _task("work", "create"),
            _task(
                "delete",
                "create",
                "work",
                teardown=True,
                on_failure_fail_dagrun=fail_dagrun,
                trigger_rule=TriggerRule.ALL_DONE_SETUP_SUCCESS,
            ),
        ],
    )


def test_a_teardown_runs_after_failed_work_and_the_run_fails() -> None:
    plan = plan_run(setup_teardown_dag(), {"create": S, "work": F, "delete": N}, C)
    assert plan.scheduled == ["delete"]
    done = plan_run(setup_teardown_dag(), {"create": S, "work": F, "delete": S}, C)
    assert done.outcome == RunState.FAILED


def test_a_failed_setup_fails_its_teardown_upstream() -> None:
    plan = plan_run(setup_teardown_dag(), {"create": F, "work": N, "delete": N}, C)
    assert plan.upstream_failed == ["work", "delete"]


def test_a_teardown_failure_fails_the_run_only_with_on_failure_fail_dagrun() -> None:
    states = {"create": S, "work": S, "delete": F}
    assert plan_run(setup_teardown_dag(), states, C).outcome == RunState.SUCCESS
    assert plan_run(setup_teardown_dag(True), states, C).outcome == RunState.FAILED


def test_skipped_setups_skip_the_teardown() -> None:
    plan = plan_run(setup_teardown_dag(), {"create": SK, "work": N, "delete": N}, C)
    assert plan.skipped == ["work", "delete"]
