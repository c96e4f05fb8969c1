"""YAML and JSON DAG files compile to the same artifact as the equivalent Python DAG."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from pinflow.errors import InvalidInputError
from pinflow.sdk.compiler import compile_path
from pinflow.spec.canonical import spec_to_json

PYTHON_DAG = """
    from datetime import datetime, timedelta

    from pinflow import Param, dag, task


    @task
    def numbers() -> list[int]:
        return [1, 2, 3]


    @task(retries=3)
    def square(x: int, offset: int = 0) -> int:
        return x * x + offset


    @task
    def total(values: list[int], label: str) -> int:
        return sum(values)


    @dag(
        schedule="0 6 * * *",
        timezone="Europe/Paris",
        start_date=datetime(2024, 1, 1),
        tags=["demo"],
        error_strategy="fail_fast",
        params={"limit": 10, "mode": Param("full", enum=["full", "delta"])},
        default_args={"retries": 1, "retry_delay": timedelta(minutes=1), "pool": "etl"},
    )
    def squares():
        sq = square.partial(offset=1).expand(x=numbers())
        done = total(sq, label="sum")
        ping = task.http(task_id="ping", url="https://example.com", expected_status=[200])
        done >> ping
        task.bash(task_id="notify", bash_command="echo done", trigger_rule="all_done") << ping


    squares()
"""

YAML_DAG = """
    dag_id: squares
    tags: [demo]
    error_strategy: fail_fast
    trigger:
      schedule: "0 6 * * *"
      timezone: Europe/Paris
      start_date: 2024-01-01
    params:
      limit: {type: integer, default: 10}
      mode: {default: full, enum: [full, delta]}
    default_args: {retries: 1, retry_delay: 60, pool: etl}
    tasks:
      - task_id: numbers
        callable: squares_dag:numbers
      - task_id: square
        callable: squares_dag:square
        retries: 3
        args: {offset: 1}
        expand: {x: {task_id: numbers}}
      - task_id: total
        callable: squares_dag:total
        args: {label: sum}
        inputs: {values: {task_id: square}}
      - task_id: ping
        kind: http
        http: {url: "https://example.com", expected_status: [200]}
        depends_on: [total]
      - task_id: notify
        kind: bash
        bash_command: echo done
        trigger_rule: all_done
        depends_on: [ping]
"""


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return root


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    before = list(sys.path)
    yield write(tmp_path / "dags", {"squares_dag.py": PYTHON_DAG})
    assert sys.path == before
    assert "squares_dag" not in sys.modules


def problems_of(path: Path) -> list[str]:
    with pytest.raises(InvalidInputError) as caught:
        compile_path(path)
    return [str(problem) for problem in caught.value.problems]


def test_yaml_compiles_to_the_same_artifact_as_python(root: Path) -> None:
    write(root, {"squares.yaml": YAML_DAG})

    [from_python] = compile_path(root / "squares_dag.py")
    [from_yaml] = compile_path(root / "squares.yaml")

    assert spec_to_json(from_yaml.spec) == spec_to_json(from_python.spec)
    assert from_yaml.digest == from_python.digest
    assert from_yaml.source_file == "squares.yaml"


def test_json_compiles_to_the_same_artifact_as_python(root: Path) -> None:
    [first] = compile_path(root / "squares_dag.py")
    (root / "squares.json").write_text(spec_to_json(first.spec))

    [from_python] = compile_path(root / "squares_dag.py")
    [from_json] = compile_path(root / "squares.json")

    assert from_json.spec == from_python.spec
    assert from_json.digest == from_python.digest


def test_one_file_may_hold_several_dags(tmp_path: Path) -> None:
    root = write(
        tmp_path / "dags",
        {
            "many.yaml": """
                dag_id: one
                tasks: [{task_id: a, kind: bash, bash_command: "true"}]
                ---
                - {dag_id: two}
                - {dag_id: three}
            """,
            "list.json": json.dumps([{"dag_id": "four"}]),
        },
    )

    assert [c.spec.dag_id for c in compile_path(root)] == ["four", "one", "two", "three"]


def test_spec_file_problems_are_located(root: Path) -> None:
    write(
        root,
        {
            "broken.yaml": "dag_id: x\ntasks: [\n",
            "broken.json": '{"dag_id": "y",\n "tasks": }',
            "typed.yaml": "dag_id: z\ntasks:\n  - {task_id: a, retries: many, kind: python}\n",
            "list.yaml": "- just a string\n",
            "empty.json": "[]",
            "unknown.yaml": "dag_id: u\ntasks:\n  - {task_id: a, callable: squares_dag:nope}\n",
        },
    )

    assert problems_of(root) == [
        "dags/broken.json:2: invalid JSON: Expecting value",
        "dags/broken.yaml:3: invalid YAML: expected the node content, but found '<stream end>'",
        "dags/empty.json: the file holds no DAG",
        "dags/list.yaml: a DAG must be a mapping with dag_id, tasks...",
        "dags/typed.yaml: tasks[0].retries: Input should be a valid integer, "
        "unable to parse string as an integer",
        "dags/unknown.yaml: task 'a': cannot load callable 'squares_dag:nope': ImportError: "
        "cannot resolve 'squares_dag:nope': 'nope' not found in 'squares_dag'",
    ]
