"""Branching, short-circuiting and setup/teardown Airflow DAG files compiled: the task ids,
edges and spec flags Airflow's semantics need, and Pinflow's own SDK primitives."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.compat.flow_dag_files import (
    CUSTOM_OPERATOR,
    EXAMPLE_BRANCH_DECORATOR,
    EXAMPLE_BRANCH_OPERATOR,
    EXAMPLE_SETUP_TEARDOWN_TASKFLOW,
    EXAMPLE_SHORT_CIRCUIT_DECORATOR,
    EXAMPLE_SHORT_CIRCUIT_OPERATOR,
)
from tests.compat.test_compat_compile import compile_one, edges, problems_of, tasks_of

from pinflow.sdk import dag, task
from pinflow.spec.canonical import spec_from_json, spec_to_json
from pinflow.spec.models import DagSpec, TaskFlow, TriggerRule, XComRef
from pinflow.spec.validation import check_spec


def assert_round_trips(spec: DagSpec) -> None:
    assert spec_from_json(spec_to_json(spec)) == spec
    assert check_spec(spec) == []


def test_branch_python_operator_is_a_branch_task_with_airflows_edges(tmp_path: Path) -> None:
    spec = compile_one(tmp_path, EXAMPLE_BRANCH_OPERATOR, name="example_branch_operator")
    tasks = tasks_of(spec)
    assert tasks["branching"].flow == TaskFlow.BRANCH
    assert tasks["branching"].callable == "example_branch_operator:choose"
    assert {t.task_id for t in spec.tasks if t.flow} == {"branching"}
    assert tasks["join"].trigger_rule == TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS
    for option in "abcd":
        assert ("branching", f"branch_{option}") in edges(spec)
        assert (f"follow_branch_{option}", "join") in edges(spec)
    assert_round_trips(spec)


def test_task_branch_keeps_its_task_id_and_group_edges(tmp_path: Path) -> None:
    spec = compile_one(tmp_path, EXAMPLE_BRANCH_DECORATOR, name="example_branch_decorator")
    tasks = tasks_of(spec)
    assert tasks["branching"].flow == TaskFlow.BRANCH
    assert tasks["choose_nothing"].flow == TaskFlow.BRANCH
    assert {("branching", "cleanup_group.first"), ("branching", "unused_group.only")} <= edges(spec)
    assert_round_trips(spec)


def test_short_circuits_carry_ignore_downstream_trigger_rules(tmp_path: Path) -> None:
    spec = compile_one(tmp_path, EXAMPLE_SHORT_CIRCUIT_DECORATOR, name="short_circuit_dag")
    tasks = tasks_of(spec)
    for task_id in ("condition_is_true", "condition_is_false", "short_circuit"):
        assert tasks[task_id].flow == TaskFlow.SHORT_CIRCUIT
    assert tasks["condition_is_true"].ignore_downstream_trigger_rules is True
    assert tasks["short_circuit"].ignore_downstream_trigger_rules is False
    assert tasks["condition_is_true"].args == {"condition": True}
    assert {("task_2", "task_3"), ("short_circuit", "task_4"), ("task_4", "task_6")} <= edges(spec)
    assert_round_trips(spec)
    ops = compile_one(tmp_path / "ops", EXAMPLE_SHORT_CIRCUIT_OPERATOR, name="short_circuit_ops")
    assert tasks_of(ops)["condition_is_False"].flow == TaskFlow.SHORT_CIRCUIT
    assert tasks_of(ops)["cleanup"].teardown
    assert tasks_of(ops)["prepare"].setup


def test_setup_teardown_taskflow_links_setups_work_and_teardowns_as_airflow(
    tmp_path: Path,
) -> None:
    spec = compile_one(tmp_path, EXAMPLE_SETUP_TEARDOWN_TASKFLOW, name="setup_teardown")
    tasks = tasks_of(spec)
    setups = {t.task_id for t in spec.tasks if t.setup}
    teardowns = {t.task_id for t in spec.tasks if t.teardown}
    assert setups == {"my_first_task", "outer_setup", "section_1.inner_setup"}
    assert teardowns == {"my_third_task", "outer_teardown", "section_1.inner_teardown"}
    for task_id in teardowns:
        assert tasks[task_id].trigger_rule == TriggerRule.ALL_DONE_SETUP_SUCCESS
    assert edges(spec) == {
        # task_1 >> task_2 >> task_3.as_teardown(setups=task_1)
        ("my_first_task", "my_second_task"),
        ("my_second_task", "my_third_task"),
        ("my_first_task", "my_third_task"),
        # with outer_teardown(outer_setup()): outer_work(); section_1()
        ("outer_setup", "outer_teardown"),
        ("outer_setup", "outer_work"),
        ("outer_work", "outer_teardown"),
        ("outer_setup", "section_1.inner_setup"),
        # the group's leaf is its work, not its teardown (Airflow's rule)
        ("section_1.inner_work", "outer_teardown"),
        ("section_1.inner_setup", "section_1.inner_work"),
        ("section_1.inner_setup", "section_1.inner_teardown"),
        ("section_1.inner_work", "section_1.inner_teardown"),
    }
    assert_round_trips(spec)


def test_teardown_on_failure_fail_dagrun_is_kept(tmp_path: Path) -> None:
    spec = compile_one(
        tmp_path,
        """
        from airflow.sdk import dag, task, teardown

        @task
        def make():
            return 1

        @teardown(on_failure_fail_dagrun=True)
        def drop(x):
            return x

        @task
        def other():
            return 2

        @dag(schedule=None)
        def strict():
            drop(make())
            again = make.override(task_id="again")()
            other().as_teardown(setups=again, on_failure_fail_dagrun=True)

        strict()
        """,
    )
    tasks = tasks_of(spec)
    assert tasks["drop"].teardown
    assert tasks["drop"].on_failure_fail_dagrun
    assert tasks["other"].on_failure_fail_dagrun
    assert tasks["again"].setup
    assert ("again", "other") in edges(spec)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "    t = task(lambda: 1, task_id='x')\n"
            "    with EmptyOperator(task_id='plain'):\n        pass\n",
            "only setup and teardown tasks can be used as context managers",
        ),
        (
            "    s = EmptyOperator(task_id='s')\n    s.as_teardown(setups=s)\n",
            "task 's' is a teardown; it cannot be a setup too",
        ),
    ],
    ids=["with-plain-task", "setup-and-teardown"],
)
def test_misused_setup_teardown_constructs_are_problems(
    tmp_path: Path, body: str, expected: str
) -> None:
    source = (
        "from airflow.sdk import DAG, task\n"
        "from airflow.providers.standard.operators.empty import EmptyOperator\n\n"
        "with DAG('d', schedule=None):\n"
        + body.replace("    t = task(lambda: 1, task_id='x')\n", "")
    )
    [problem] = problems_of(tmp_path, source)
    assert expected in problem


# --- Pinflow's own SDK --------------------------------------------------------------------------


@task.branch
def pick(n: int) -> str:
    return "big" if n > 10 else "small"


@task.short_circuit(ignore_downstream_trigger_rules=False)
def worth_it() -> bool:
    return False


@task(setup=True)
def create() -> str:
    return "c"


@task(teardown=True, on_failure_fail_dagrun=True)
def destroy(resource: str) -> None:
    del resource


@task
def step() -> int:
    return 1


@dag(dag_id="sdk_flow", schedule=None)
def sdk_flow() -> None:
    chosen = pick(3)
    chosen >> [step.override(task_id="big")(), step.override(task_id="small")()]
    resource = create()
    worth_it() >> step.override(task_id="maybe")() >> destroy(resource)


def test_the_sdk_has_branch_short_circuit_setup_and_teardown_primitives() -> None:
    spec = sdk_flow().spec
    tasks = tasks_of(spec)
    assert tasks["pick"].flow == TaskFlow.BRANCH
    assert tasks["worth_it"].flow == TaskFlow.SHORT_CIRCUIT
    assert tasks["worth_it"].ignore_downstream_trigger_rules is False
    assert tasks["create"].setup
    assert tasks["destroy"].teardown
    assert tasks["destroy"].on_failure_fail_dagrun
    assert tasks["destroy"].trigger_rule == TriggerRule.ALL_DONE_SETUP_SUCCESS
    assert pick.function(30) == "big"  # outside a DAG body, still the plain function
    assert_round_trips(spec)


def test_the_sdk_checks_the_flag_types() -> None:
    with pytest.raises(TypeError, match="teardown must be a bool"):
        task(teardown="yes")(step.function)  # type: ignore[typeddict-item]
    with pytest.raises(ValueError, match="unknown flow 'loop'"):
        task(flow="loop")(step.function)  # type: ignore[typeddict-unknown-key]


def test_a_custom_operator_is_a_task_running_its_execute(tmp_path: Path) -> None:
    spec = compile_one(tmp_path, CUSTOM_OPERATOR, name="custom_operator")
    tasks = tasks_of(spec)
    sample = tasks["sample_task"]
    assert sample.callable == "custom_operator:HelloOperator.pinflow_execute"
    assert sample.args == {
        "__airflow_operator_kwargs__": {"task_id": "sample_task", "name": "foo_bar"}
    }
    upstream = tasks["from_upstream"]
    assert upstream.inputs == {"__airflow_input__name": XComRef(task_id="who")}
    assert tasks["mapped_hello"].expand == {"__airflow_input__name": XComRef(task_id="names")}
    assert tasks["mapped_hello"].args["__airflow_operator_kwargs__"] == {
        "task_id": "mapped_hello",
        "punctuation": ".",
    }
    assert edges(spec) == {
        ("sample_task", "from_upstream"),
        ("who", "from_upstream"),
        ("sample_task", "shout"),
        ("names", "mapped_hello"),
        ("mapped_hello", "greetings"),
    }
    assert_round_trips(spec)


def test_a_custom_operator_class_defined_in_a_function_is_a_problem(tmp_path: Path) -> None:
    source = """
from airflow.sdk import DAG, BaseOperator

def make():
    class Local(BaseOperator):
        def execute(self, context):
            return 1
    return Local

with DAG("d", schedule=None):
    make()(task_id="local")
"""
    [problem] = problems_of(tmp_path, source)
    assert "the operator class 'make.<locals>.Local' is defined inside a function" in problem


def test_a_custom_operator_expands_over_a_literal_list(tmp_path: Path) -> None:
    source = CUSTOM_OPERATOR + (
        "    HelloOperator.partial(task_id='literal').expand(name=['a', 'b'])\n"
    )
    spec = compile_one(tmp_path, source, name="custom_operator")
    literal = tasks_of(spec)["literal"]
    assert literal.expand_literals == {"__airflow_input__name": ["a", "b"]}
    assert literal.mapped
    assert_round_trips(spec)
