"""Dynamic task mapping in Airflow DAG files compiled (ADR 0039): literal lists and dicts,
several arguments in Airflow's order, ``expand_kwargs``, keyed XComs, the mapped classic
operators, and the constructs that stay compile problems with Airflow's messages."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.compat.mapping_dag_files import MAPPING
from tests.compat.test_compat_compile import DAG_HEAD, compile_one, problems_of, tasks_of
from tests.compat.test_compat_flow_compile import assert_round_trips

from pinflow.spec.canonical import snapshot_digest
from pinflow.spec.models import DagSpec, TaskSpec, XComRef

_OPERATOR_KWARGS = "__airflow_operator_kwargs__"


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> DagSpec:
    return compile_one(tmp_path_factory.mktemp("mapping"), MAPPING, name="mapping")


def test_literal_lists_and_dicts_are_in_the_spec_and_round_trip(spec: DagSpec) -> None:
    tasks = tasks_of(spec)
    assert tasks["add_one"].expand_literals == {"x": [1, 2, 3]}
    assert tasks["add_one"].mapped
    assert not tasks["add_one"].expand
    assert tasks["cross"].expand_literals == {"x": [1, 2], "y": [10, 20, 30]}
    assert tasks["cross"].expand_order == []  # given sorted: nothing to remember
    assert tasks["pair"].expand_literals == {"entry": [["a", 1], ["b", 2]]}  # the dict's items
    assert tasks["never"].expand_literals == {"x": []}
    assert_round_trips(spec)


def test_mixed_arguments_keep_airflows_order_and_partial_constants(spec: DagSpec) -> None:
    tasks = tasks_of(spec)
    assert tasks["mixed"].args == {"y": 100}
    assert tasks["mixed"].expand == {"x": XComRef(task_id="numbers")}
    ordered = tasks["ordered"]
    assert ordered.expand == {"y": XComRef(task_id="numbers")}
    assert ordered.expand_literals == {"x": [1, 2]}
    assert ordered.expand_order == ["y", "x"]
    assert ordered.mapped_names == ["y", "x"]


def test_expand_kwargs_over_a_literal_list_and_an_upstream(spec: DagSpec) -> None:
    tasks = tasks_of(spec)
    literal = [{"x": 1, "y": 2}, {"x": 5, "y": 5}]
    assert tasks["kwargs_literal"].expand_kwargs == literal
    assert tasks["kwargs_upstream"].expand_kwargs == XComRef(task_id="kwargs_source")
    assert tasks["kwargs_upstream"].upstream_task_ids == ["kwargs_source"]


def test_indexing_an_output_reads_the_xcom_of_that_key(spec: DagSpec) -> None:
    assert tasks_of(spec)["shout"].expand == {"name": XComRef(task_id="push_files", key="files")}


def test_mapped_classic_operators_are_python_tasks_of_pinflows_own(spec: DagSpec) -> None:
    tasks = tasks_of(spec)
    bash = tasks["bash_commands"]
    assert bash.callable == "pinflow.compat.airflow._mapped:bash_operator"
    assert bash.expand_literals == {"bash_command": ["echo one", "echo two"]}
    env = tasks["bash_env"]
    assert env.args[_OPERATOR_KWARGS]["bash_command"] == 'echo "$WHO {{ ti.map_index }}"'
    assert env.expand_literals == {"env": [{"WHO": "ada"}, {"WHO": "bob"}]}
    python = tasks["py_args"]
    assert python.callable == "pinflow.compat.airflow._mapped:python_operator"
    assert python.args[_OPERATOR_KWARGS]["python_callable"] == "mapping:double"
    assert python.expand_literals == {"op_args": [[1], [2]]}
    assert tasks["py_kwargs"].expand_kwargs == [{"op_kwargs": {"v": 3}}, {"op_kwargs": {"v": 4}}]


def test_a_task_without_the_new_fields_keeps_its_digest() -> None:
    plain = DagSpec(dag_id="pinned", tasks=[TaskSpec(task_id="t", callable="m:f")])
    mapped = DagSpec(
        dag_id="pinned",
        tasks=[TaskSpec(task_id="t", callable="m:f", expand_literals={"x": [1]})],
    )
    assert snapshot_digest(plain) != snapshot_digest(mapped)
    assert "expand_literals" not in plain.tasks[0].model_dump(mode="json")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "    @task\n    def t(x):\n        return x\n    t.expand(x=5)",
            "expand(x=...) must be a list, a dict or a task's output, got int",
        ),
        (
            "    @task\n    def t(x):\n        return x\n    t.expand_kwargs([{'x': 1}, 2])",
            "expand_kwargs() expected XComArg or list[dict], not list[int]",
        ),
        (
            "    @task\n    def t(x):\n        return x\n    t.expand_kwargs([{'y': 1}])",
            "expand_kwargs() element 0: ",
        ),
        (
            "    @task\n    def t():\n        return [1]\n    @task\n    def u(x):\n"
            "        return x\n    u.expand(x=t()[0])",
            "ValueError: XComArg only supports str lookup, received int",
        ),
        (
            "    @task\n    def t():\n        return [1]\n    @task\n    def u(x):\n"
            "        return x\n    u.expand(x=t().map(str))",
            "output of task 't'.map(...) is not supported yet",
        ),
        (
            "    @task\n    def t():\n        return [1]\n    @task\n    def u(x):\n"
            "        return x\n    u.expand(x=t().zip(t()))",
            "zip the lists in a @task returning a list of dicts and use expand_kwargs()",
        ),
        (
            "    BashOperator.partial(task_id='b').expand_kwargs([{'retries': 1}])",
            "expand_kwargs() can map ['append_env', 'bash_command', 'cwd', 'env'], not ['retries']",
        ),
    ],
    ids=[
        "scalar",
        "kwargs-not-dict",
        "kwargs-unknown-argument",
        "int-index",
        "map",
        "zip",
        "operator-kwargs-name",
    ],
)
def test_mapping_mistakes_are_compile_problems_at_their_line(
    tmp_path: Path, body: str, expected: str
) -> None:
    [problem] = problems_of(tmp_path, DAG_HEAD + body + "\n")
    assert problem.startswith("dags/airflow_dag.py:"), problem
    assert expected in problem
