"""Compiling DAG files and folders into specs + bundles, and reporting what is wrong."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from pinflow.errors import InvalidInputError
from pinflow.sdk.compiler import CompiledDag, compile_path
from pinflow.spec.canonical import snapshot_digest
from pinflow.spec.models import XComRef

ETL = """
    from datetime import timedelta

    from pinflow import dag, task
    from pkg.steps import transform


    @task
    def extract() -> dict:
        return {"a": 1}


    @dag(schedule="@daily", params={"n": 3}, default_args={"retries": 2, "retry_delay": 30})
    def etl():
        transform(extract(), factor=2)


    etl_dag = etl()
"""

STEPS = """
    from pinflow import task


    @task
    def transform(data: dict, factor: int = 1) -> dict:
        return {k: v * factor for k, v in data.items()}
"""

REPORT = """
    from pinflow import dag, task


    @task.bash
    def report() -> str:
        return "echo report"


    @dag(tags=["reports"])
    def daily_report():
        report()


    daily_report()
"""


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return root


def problems_of(path: Path) -> list[str]:
    with pytest.raises(InvalidInputError) as caught:
        compile_path(path)
    return [str(problem) for problem in caught.value.problems]


@pytest.fixture
def dags(tmp_path: Path) -> Path:
    return write(tmp_path / "dags", {"etl.py": ETL, "pkg/__init__.py": "", "pkg/steps.py": STEPS})


@pytest.fixture(autouse=True)
def no_leaks(tmp_path: Path) -> Iterator[None]:
    path = list(sys.path)
    yield
    assert sys.path == path
    leaked = [
        name
        for name, module in list(sys.modules.items())
        if str(getattr(module, "__file__", None) or "").startswith(str(tmp_path))
    ]
    assert leaked == []
    assert not {"etl", "pkg", "pkg.steps", "report"} & set(sys.modules)


def test_compile_a_file_builds_the_spec_with_importable_callables(dags: Path) -> None:
    [compiled] = compile_path(dags / "etl.py")

    spec = compiled.spec
    assert isinstance(compiled, CompiledDag)
    assert compiled.source_file == "etl.py"
    assert spec.dag_id == "etl"
    assert spec.trigger.schedule == "@daily"
    assert spec.default_args.retries == 2
    assert [t.callable for t in spec.tasks] == ["etl:extract", "pkg.steps:transform"]
    assert spec.tasks[1].inputs == {"data": XComRef(task_id="extract")}
    assert compiled.digest == snapshot_digest(spec, compiled.bundle)
    assert not list(dags.rglob("__pycache__"))


def test_compile_a_folder_gives_every_dag_a_bundle_of_its_own_inputs(dags: Path) -> None:
    write(dags, {"report.py": REPORT, "notes.txt": "not a dag"})

    compiled = compile_path(dags)

    assert [(c.spec.dag_id, c.source_file) for c in compiled] == [
        ("etl", "etl.py"),
        ("daily_report", "report.py"),
    ]
    # ADR 0041: neither ships the other's file, nor the notes
    assert compiled[0].inputs == ("etl.py", "pkg/__init__.py", "pkg/steps.py")
    assert compiled[1].inputs == ("report.py",)
    assert compiled[1].spec.tasks[0].bash_command == "echo report"


def test_the_source_file_is_where_the_dag_function_is_defined(dags: Path) -> None:
    write(dags, {"pkg/factory.py": REPORT.replace("daily_report()\n", ""), "main.py": ""})
    (dags / "main.py").write_text("from pkg.factory import daily_report\n\ndaily_report()\n")
    (dags / "etl.py").unlink()

    [compiled] = compile_path(dags)

    assert compiled.source_file == "pkg/factory.py"


def test_compiling_twice_gives_the_same_digest_and_sees_edits(dags: Path) -> None:
    first = compile_path(dags)
    again = compile_path(dags)
    assert [c.digest for c in again] == [c.digest for c in first]
    assert again[0].bundle == first[0].bundle

    # Same size, same second: a cached module or stale bytecode would hide this edit.
    etl = dags / "etl.py"
    etl.write_text(etl.read_text().replace("factor=2", "factor=3"))
    edited = compile_path(dags)

    assert edited[0].spec.tasks[1].args == {"factor": 3}
    assert edited[0].digest != first[0].digest


def test_a_code_only_change_changes_the_bundle_and_the_digest(dags: Path) -> None:
    before = compile_path(dags)[0]
    steps = dags / "pkg" / "steps.py"
    steps.write_text(steps.read_text().replace("v * factor", "v + factor"))

    after = compile_path(dags)[0]

    assert after.spec == before.spec
    assert after.bundle != before.bundle
    assert after.digest != before.digest


def test_previously_imported_modules_of_the_root_are_put_back(dags: Path) -> None:
    sentinel = type(sys)("pkg")
    sys.modules["pkg"] = sentinel
    try:
        compile_path(dags)
        assert sys.modules["pkg"] is sentinel
    finally:
        del sys.modules["pkg"]


def test_import_errors_are_collected_from_every_file_with_file_and_line(tmp_path: Path) -> None:
    root = write(
        tmp_path / "dags",
        {
            "a_name.py": "import os\n\nvalue = undefined_name\n",
            "b_syntax.py": "def broken(:\n    pass\n",
            "c_helper_fails.py": "import helper\n",
            "helper.py": "def f():\n    raise RuntimeError('boom')\n\n\nf()\n",
            "d_ok.py": REPORT,
        },
    )

    name_error, syntax_error, runtime_error = problems_of(root)

    assert name_error == "dags/a_name.py:3: NameError: name 'undefined_name' is not defined"
    assert syntax_error.startswith("dags/b_syntax.py:1: SyntaxError: ")
    assert runtime_error == "dags/helper.py:2: RuntimeError: boom"


def test_sdk_errors_point_at_the_user_line(tmp_path: Path) -> None:
    root = write(
        tmp_path / "dags",
        {
            "etl.py": """
                from pinflow import dag, task


                @task(retries="3")
                def extract():
                    return 1
            """,
        },
    )

    assert problems_of(root) == [
        "dags/etl.py:4: TypeError: @task 'extract': retries must be an int, got str"
    ]


def test_a_dag_function_that_is_never_called_is_reported(tmp_path: Path) -> None:
    root = write(
        tmp_path / "dags",
        {"etl.py": "from pinflow import dag\n\n\n@dag\ndef etl():\n    pass\n"},
    )

    assert problems_of(root) == [
        "dags/etl.py:4: @dag function 'etl' is never called; add `etl()` at module level "
        "to register DAG 'etl'"
    ]


def test_task_functions_defined_inside_the_dag_body_are_refused(tmp_path: Path) -> None:
    root = write(
        tmp_path / "dags",
        {
            "etl.py": """
                from pinflow import dag, task


                @dag
                def etl():
                    @task
                    def inner():
                        return 1

                    inner()


                etl()
            """,
        },
    )

    [problem] = problems_of(root)
    assert problem.startswith("dags/etl.py:10: ValueError: @task 'etl.<locals>.inner' is defined")


def test_task_code_from_outside_the_bundle_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "lib", {"outside_lib_tasks.py": STEPS})
    root = write(
        tmp_path / "dags",
        {
            "etl.py": f"""
                import sys

                sys.path.append({str(tmp_path / "lib")!r})
                from outside_lib_tasks import transform
                from pinflow import dag


                @dag
                def etl():
                    transform({{}})


                etl()
            """,
        },
    )
    try:
        [problem] = problems_of(root)
    finally:
        sys.modules.pop("outside_lib_tasks", None)

    assert problem == (
        "dags/etl.py:8: task 'transform': callable 'outside_lib_tasks:transform' is not in "
        "the bundle; workers import task code only from it"
    )


def test_duplicate_dag_ids_across_files_are_reported(dags: Path) -> None:
    write(dags, {"etl_copy.py": ETL})

    assert problems_of(dags) == [
        "dags/etl_copy.py:12: dag_id 'etl' is also defined at dags/etl.py:12"
    ]


def test_unusable_paths(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("hi")
    write(tmp_path / "bad_names", {"my-dag.py": "", "json.py": ""})

    assert problems_of(tmp_path / "missing") == [f"{tmp_path / 'missing'}: no such file or folder"]
    assert "expected one of .py" in problems_of(tmp_path / "notes.txt")[0]
    assert problems_of(tmp_path / "empty") == [
        "empty: no DAG found (call @dag functions at module level)"
    ]
    assert problems_of(tmp_path / "bad_names") == [
        "bad_names/json.py: the file shadows the standard-library module 'json'",
        "bad_names/my-dag.py: the file name is not a module name (letters, digits and '_')",
    ]
