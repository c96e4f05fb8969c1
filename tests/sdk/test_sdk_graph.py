"""Building the graph: tasks, XCom bindings, dependencies, mapping, ids."""

from __future__ import annotations

from typing import Any

import pytest

from pinflow import chain, dag, task
from pinflow.sdk import Task, XComArg
from pinflow.spec.models import DagSpec, TaskSpec, XComRef


@task
def extract() -> dict[str, int]:
    """Pull the numbers."""
    return {"a": 1, "b": 2}


@task
def transform(data: dict[str, int], factor: int = 2) -> dict[str, int]:
    return {key: value * factor for key, value in data.items()}


@task
def load(data: dict[str, int], *, target: str = "db", **extra: Any) -> None:
    return None


@task
def numbers() -> list[int]:
    return [1, 2, 3]


@task
def square(x: int, offset: int = 0) -> int:
    return x * x + offset


@task
def total(values: list[int]) -> int:
    return sum(values)


def build(body: Any) -> DagSpec:
    @dag(dag_id="test_dag")
    def test_dag() -> None:
        body()

    return test_dag().spec


def by_id(spec: DagSpec) -> dict[str, TaskSpec]:
    return {t.task_id: t for t in spec.tasks}


def test_calling_tasks_in_a_dag_body_builds_python_tasks_with_bindings() -> None:
    def body() -> None:
        load(transform(extract(), factor=3), target="lake", mode="append")

    tasks = by_id(build(body))

    assert list(tasks) == ["extract", "transform", "load"]
    assert tasks["extract"].kind == "python"
    assert tasks["extract"].callable == extract.callable_ref
    assert tasks["extract"].callable.endswith(":extract")
    assert tasks["extract"].doc == "Pull the numbers."
    assert tasks["transform"].args == {"factor": 3}
    assert tasks["transform"].inputs == {"data": XComRef(task_id="extract")}
    assert tasks["load"].args == {"target": "lake", "mode": "append"}
    assert tasks["load"].upstream_task_ids == ["transform"]


def test_outside_a_dag_a_task_is_the_plain_function() -> None:
    assert transform({"a": 2}, factor=5) == {"a": 10}
    assert transform.function({"a": 2}) == {"a": 4}
    assert isinstance(transform, Task)
    assert transform.__name__ == "transform"
    assert extract.__doc__ == "Pull the numbers."


def test_literal_arguments_are_normalised_to_json() -> None:
    def body() -> None:
        load((1, 2), target="x", when={"at": (0.5, None, True)})  # type: ignore[arg-type]

    assert by_id(build(body))["load"].args == {
        "data": [1, 2],
        "target": "x",
        "when": {"at": [0.5, None, True]},
    }


def test_a_non_json_argument_is_refused_naming_it() -> None:
    with pytest.raises(TypeError, match=r"@task 'load': 'target' is not JSON-serializable \(set\)"):
        build(lambda: load({}, target={1}))  # type: ignore[arg-type]


def test_a_handle_nested_in_a_literal_is_refused() -> None:
    with pytest.raises(TypeError, match="inside a list or dict"):
        build(lambda: total([extract()]))  # type: ignore[list-item]


def test_arguments_are_bound_against_the_signature() -> None:
    with pytest.raises(TypeError, match="@task 'transform': missing a required argument: 'data'"):
        build(transform)


def test_shift_operators_add_dependencies() -> None:
    def body() -> None:
        a, b, c, d = extract(), numbers(), numbers(), extract()
        handles: list[XComArg] = [a, b, c, d]  # type: ignore[list-item]
        a_, b_, c_, d_ = handles
        a_ >> [b_, c_]
        [b_, c_] >> d_
        d_ << a_

    tasks = by_id(build(body))

    assert tasks["numbers"].depends_on == ["extract"]
    assert tasks["numbers__1"].depends_on == ["extract"]
    assert tasks["extract__1"].depends_on == ["numbers", "numbers__1", "extract"]


def test_reverse_list_shift() -> None:
    def body() -> None:
        a: Any = extract()
        b: Any = numbers()
        c: Any = numbers()
        [b, c] << a

    tasks = by_id(build(body))

    assert tasks["numbers"].depends_on == ["extract"]
    assert tasks["numbers__1"].depends_on == ["extract"]


def test_chain_fans_out_and_pairs_lists() -> None:
    def body() -> None:
        ids = [extract() for _ in range(5)]
        chain(ids[0], [ids[1], ids[2]], [ids[3], ids[4]])

    tasks = by_id(build(body))

    assert tasks["extract__1"].depends_on == ["extract"]
    assert tasks["extract__2"].depends_on == ["extract"]
    assert tasks["extract__3"].depends_on == ["extract__1"]
    assert tasks["extract__4"].depends_on == ["extract__2"]


def test_chain_refuses_lists_of_different_lengths() -> None:
    def body() -> None:
        chain([extract(), extract()], [numbers()], [numbers(), numbers(), numbers()])

    with pytest.raises(ValueError, match="same length"):
        build(body)


def test_chain_refuses_things_that_are_not_tasks() -> None:
    with pytest.raises(TypeError, match="got str"):
        build(lambda: chain(extract(), "load"))


def test_calling_a_task_twice_suffixes_its_id_like_airflow() -> None:
    spec = build(lambda: [extract(), extract(), extract()])

    assert spec.task_ids == ["extract", "extract__1", "extract__2"]


def test_override_reuses_a_function_under_another_id_and_options() -> None:
    def body() -> None:
        extract.override(task_id="extract_eu", retries=4)()
        extract.override(task_id="extract_eu")()

    tasks = by_id(build(body))

    assert list(tasks) == ["extract_eu", "extract_eu__1"]
    assert tasks["extract_eu"].retries == 4
    assert tasks["extract_eu__1"].retries is None
    assert tasks["extract_eu"].callable == extract.callable_ref


def test_task_decorator_options_land_in_the_spec() -> None:
    @task(task_id="fetch", retries=3, retry_delay=1.5, execution_timeout=60, pool="io")
    def fetch_rows() -> int:
        return 1

    tasks = by_id(build(fetch_rows))

    assert tasks["fetch"].retries == 3
    assert tasks["fetch"].retry_delay == 1.5
    assert tasks["fetch"].execution_timeout == 60.0
    assert tasks["fetch"].pool == "io"


def test_expand_maps_over_an_upstream_output() -> None:
    def body() -> None:
        squares = square.expand(x=numbers())
        total(squares)

    tasks = by_id(build(body))

    assert tasks["square"].expand == {"x": XComRef(task_id="numbers")}
    assert tasks["square"].args == {}
    assert tasks["total"].inputs == {"values": XComRef(task_id="square")}


def test_partial_then_expand_fixes_some_arguments() -> None:
    def body() -> None:
        square.partial(offset=10).expand(x=numbers())

    assert by_id(build(body))["square"].args == {"offset": 10}


def test_expand_refuses_scalars_and_unknown_arguments() -> None:
    with pytest.raises(TypeError, match="must be a list, a dict or a task's output, got int"):
        build(lambda: square.expand(x=5))
    with pytest.raises(TypeError, match="unexpected keyword argument 'y'"):
        build(lambda: square.expand(x=numbers(), y=numbers()))
    with pytest.raises(TypeError, match="both partial"):
        build(lambda: square.partial(x=1).expand(x=numbers()))


def test_expand_outside_a_dag_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="inside a @dag body"):
        square.expand(x=[1])


def test_a_cycle_made_with_shift_is_refused() -> None:
    def body() -> None:
        a: Any = extract()
        b: Any = transform(a)
        b >> a

    with pytest.raises(
        ValueError, match=r"dependency cycle among tasks \['extract', 'transform'\]"
    ):
        build(body)


def test_a_task_depending_on_itself_is_refused() -> None:
    def body() -> None:
        a: Any = extract()
        a >> a

    with pytest.raises(ValueError, match="depends on itself"):
        build(body)


def test_handles_cannot_cross_dags_or_outlive_the_body() -> None:
    leaked: list[Any] = []
    build(lambda: leaked.append(extract()))

    with pytest.raises(ValueError, match="tasks cannot be shared between DAGs"):
        build(lambda: transform(leaked[0]))
    with pytest.raises(RuntimeError, match="already built"):
        leaked[0] >> leaked[0]


def test_a_handle_cannot_be_iterated() -> None:
    def body() -> None:
        for _ in extract():
            pass

    with pytest.raises(TypeError, match="only known when it runs"):
        build(body)


def test_a_dag_cannot_be_built_inside_another() -> None:
    @dag
    def inner() -> None:
        extract()

    with pytest.raises(RuntimeError, match="inside another DAG"):
        build(inner)


def test_dag_function_arguments_are_passed_to_the_body() -> None:
    @dag
    def factory(region: str) -> None:
        extract.override(task_id=f"extract_{region}")()

    assert factory("eu").spec.task_ids == ["extract_eu"]
    assert factory(region="us").spec.task_ids == ["extract_us"]


@task
def stage(params: dict[str, Any], data: dict[str, int], ds: str, staging_dir: str = "/tmp") -> None:
    return None


def test_context_parameters_are_left_for_the_worker_to_fill() -> None:
    def body() -> None:
        stage(extract())  # type: ignore[call-arg]
        stage(extract(), ds="2024-01-01")  # type: ignore[call-arg]

    tasks = by_id(build(body))

    assert tasks["stage"].inputs == {"data": XComRef(task_id="extract")}
    assert tasks["stage"].args == {}
    assert tasks["stage__1"].args == {"ds": "2024-01-01"}
