"""What the compiler counts as a DAG's inputs beyond its imports (ADR 0041): modules a task
imports in its body, Airflow's ``DAG(bundle_files=...)``, a declared pattern matching nothing,
and a YAML DAG whose inputs are its callables' modules."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pinflow.errors import InvalidInputError
from pinflow.sdk.compiler import compile_path

LAZY = """
from pinflow import dag, task


@task
def late() -> int:
    import lazy_helper

    return lazy_helper.VALUE


@dag(dag_id="lazy")
def lazy() -> None:
    late()


lazy()
"""

AIRFLOW = """
from airflow.sdk import DAG
from airflow.providers.standard.operators.bash import BashOperator

with DAG("af", schedule=None, bundle_files=["data/**/*.csv"]):
    BashOperator(task_id="count", bash_command="wc -l $PINFLOW_BUNDLE_DIR/data/in/a.csv")
"""


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def test_a_module_a_task_imports_in_its_body_is_shipped_with_its_imports(tmp_path: Path) -> None:
    root = write(
        tmp_path / "dags",
        {"lazy.py": LAZY, "lazy_helper.py": "from deep import VALUE\n", "deep.py": "VALUE = 1\n"},
    )
    [item] = compile_path(root)
    assert item.inputs == ("deep.py", "lazy.py", "lazy_helper.py")


def test_an_airflow_dag_declares_bundle_files(tmp_path: Path) -> None:
    root = write(
        tmp_path / "dags",
        {"af.py": AIRFLOW, "data/in/a.csv": "1\n", "data/b.csv": "2\n", "data/x.txt": ""},
    )
    [item] = compile_path(root)
    assert item.inputs == ("af.py", "data/b.csv", "data/in/a.csv")


def test_a_declared_pattern_that_matches_nothing_is_a_problem(tmp_path: Path) -> None:
    root = write(tmp_path / "dags", {"af.py": AIRFLOW.replace("data/**/*.csv", "nope/*.csv")})
    with pytest.raises(InvalidInputError) as caught:
        compile_path(root)
    assert [p.message for p in caught.value.problems] == [
        "bundle_files pattern 'nope/*.csv' matches no file in the bundle folder (paths are "
        "relative to it; hidden and .pinflowignore'd files are never shipped)"
    ]


def test_an_ignored_file_is_not_shipped_even_when_read_while_loading(tmp_path: Path) -> None:
    opened = "import pathlib\nOPENED = pathlib.Path(__file__).with_name('local.cfg').read_text()"
    reader = LAZY.replace("@task", f"{opened}\n\n\n@task")
    root = write(
        tmp_path / "dags",
        {"lazy.py": reader, "lazy_helper.py": "VALUE = 1\n", "local.cfg": "x", "keep.cfg": ""},
    )
    (root / ".pinflowignore").write_text("*.cfg\n")
    [item] = compile_path(root)
    assert item.inputs == ("lazy.py", "lazy_helper.py")
