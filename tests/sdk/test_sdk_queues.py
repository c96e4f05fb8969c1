"""``queue=`` and ``max_active_tis_per_dag=`` (Airflow's operator arguments) from every way of
writing a task, into the spec, through its round trip and into the resolved task."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from pinflow import dag, task
from pinflow.errors import InvalidInputError
from pinflow.sdk.compiler import compile_path
from pinflow.spec.canonical import spec_from_json, spec_to_json
from pinflow.spec.models import DagSpec


@task(queue="gpu", max_active_tis_per_dag=2)
def train() -> int:
    return 1


@task
def report() -> None:
    return None


@task.bash(queue="shell")
def greet() -> str:
    return "echo hi"


@dag(default_args={"queue": "etl", "pool": "io"})
def queues() -> None:
    train()
    report()
    report.override(task_id="urgent", queue="fast", max_active_tis_per_dag=1)()
    greet()
    task.bash(task_id="sh", bash_command="true", queue="hosts", max_active_tis_per_dag=3)
    task.http(task_id="ping", url="https://example.com", queue="web", max_active_tis_per_dag=4)
    task.bash(task_id="plain", bash_command="true")


def test_every_way_of_writing_a_task_takes_queue_and_max_active_tis_per_dag() -> None:
    spec = queues().spec
    tasks = spec.tasks_by_id

    assert spec.default_args.queue == "etl"
    assert {t.task_id: t.queue for t in spec.tasks} == {
        "train": "gpu",
        "report": None,  # left to default_args
        "urgent": "fast",
        "greet": "shell",
        "sh": "hosts",
        "ping": "web",
        "plain": None,
    }
    assert {t.task_id: t.max_active_tis_per_dag for t in spec.tasks} == {
        "train": 2,
        "report": None,
        "urgent": 1,
        "greet": None,
        "sh": 3,
        "ping": 4,
        "plain": None,
    }
    resolved = {task_id: spec.resolve(t) for task_id, t in tasks.items()}
    assert resolved["report"].queue == resolved["plain"].queue == "etl"
    assert resolved["train"].queue == "gpu"
    assert (resolved["urgent"].queue, resolved["urgent"].max_active_tis_per_dag) == ("fast", 1)
    assert resolved["report"].max_active_tis_per_dag is None


def test_the_options_survive_the_round_trip() -> None:
    spec = queues().spec
    again = spec_from_json(spec_to_json(spec))
    assert again == spec
    assert again.tasks_by_id["train"].max_active_tis_per_dag == 2
    assert again.default_args.queue == "etl"


def test_a_dag_without_queues_puts_every_task_on_the_default_queue() -> None:
    @dag
    def plain() -> None:
        report()

    spec = plain().spec
    assert spec.default_args.queue == "default"
    (only,) = spec.tasks
    assert only.queue is None
    assert spec.resolve(only).queue == "default"
    assert spec.resolve(only).max_active_tis_per_dag is None


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"queue": 3}, TypeError, "queue must be a str, got int"),
        ({"queue": "  "}, ValueError, "queue must not be empty"),
        ({"max_active_tis_per_dag": 0}, ValueError, "max_active_tis_per_dag must be >= 1"),
        ({"max_active_tis_per_dag": "1"}, TypeError, "max_active_tis_per_dag must be an int"),
        ({"max_active_tis_per_dag": True}, TypeError, "max_active_tis_per_dag must be an int"),
        ({"max_active_tis": 1}, ValueError, "did you mean 'max_active_tis_per_dag'"),
    ],
)
def test_bad_values_are_refused_naming_the_function(
    options: dict[str, Any], error: type[Exception], message: str
) -> None:
    decorator = task(**options)
    with pytest.raises(error, match=rf"@task '.*my_function': .*{message}"):

        @decorator
        def my_function() -> None:
            pass


def test_override_and_operators_check_them_too() -> None:
    with pytest.raises(ValueError, match="@task 'report': max_active_tis_per_dag must be >= 1"):
        report.override(max_active_tis_per_dag=0)
    with pytest.raises(TypeError, match=r"task\.bash 'x': queue must be a str"):
        task.bash(task_id="x", bash_command="true", queue=None)  # type: ignore[call-overload]


def test_queue_is_a_default_arg_but_max_active_tis_per_dag_is_not() -> None:
    with pytest.raises(ValueError, match="default_args: unknown option 'max_active_tis_per_dag'"):

        @dag(default_args={"max_active_tis_per_dag": 1})  # type: ignore[call-overload,untyped-decorator]
        def per_task_only() -> None:
            pass

    with pytest.raises(ValueError, match="default_args: queue must not be empty"):

        @dag(default_args={"queue": ""})
        def blank() -> None:
            pass


def test_the_spec_refuses_what_no_column_or_broker_takes() -> None:
    for bad in ({"queue": ""}, {"queue": " "}, {"queue": "q" * 251}):
        with pytest.raises(ValueError, match="queue"):
            DagSpec.model_validate({"dag_id": "d", "tasks": [{"task_id": "t", **bad}]})
        with pytest.raises(ValueError, match="queue"):
            DagSpec.model_validate({"dag_id": "d", "default_args": bad})
    for limit in (0, -1, 100_001):
        with pytest.raises(ValueError, match="max_active_tis_per_dag"):
            DagSpec.model_validate(
                {"dag_id": "d", "tasks": [{"task_id": "t", "max_active_tis_per_dag": limit}]}
            )


PYTHON_DAG = """
    from pinflow import dag, task


    @dag(dag_id="hosts", default_args={"queue": "etl"})
    def hosts():
        a = task.bash(task_id="a", bash_command="true", queue="gpu", max_active_tis_per_dag=1)
        b = task.bash(task_id="b", bash_command="true")
        a >> b


    hosts()
"""

YAML_DAG = """
    dag_id: hosts
    default_args: {queue: etl}
    tasks:
      - {task_id: a, kind: bash, bash_command: "true", queue: gpu, max_active_tis_per_dag: 1}
      - {task_id: b, kind: bash, bash_command: "true", depends_on: [a]}
"""


def test_a_yaml_dag_takes_them_as_the_python_one_does(tmp_path: Path) -> None:
    root = tmp_path / "dags"
    root.mkdir()
    (root / "hosts_dag.py").write_text(textwrap.dedent(PYTHON_DAG))
    (root / "hosts.yaml").write_text(textwrap.dedent(YAML_DAG))

    [from_python] = compile_path(root / "hosts_dag.py")
    [from_yaml] = compile_path(root / "hosts.yaml")

    assert spec_to_json(from_yaml.spec) == spec_to_json(from_python.spec)
    # bash tasks only: the YAML DAG ships no code, the Python one its file (ADR 0041)
    assert (from_yaml.inputs, from_python.inputs) == ((), ("hosts_dag.py",))
    a = from_yaml.spec.tasks_by_id["a"]
    assert (a.queue, a.max_active_tis_per_dag) == ("gpu", 1)
    assert from_yaml.spec.resolve(from_yaml.spec.tasks_by_id["b"]).queue == "etl"


def test_a_yaml_dag_with_a_bad_limit_names_the_field(tmp_path: Path) -> None:
    root = tmp_path / "dags"
    root.mkdir()
    (root / "bad.yaml").write_text(
        "dag_id: bad\ntasks:\n  - {task_id: a, kind: bash, bash_command: x, "
        "max_active_tis_per_dag: 0}\n"
    )
    with pytest.raises(InvalidInputError) as caught:
        compile_path(root)
    assert [str(problem) for problem in caught.value.problems] == [
        "dags/bad.yaml: tasks[0].max_active_tis_per_dag: Input should be greater than or equal to 1"
    ]
