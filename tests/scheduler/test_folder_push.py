"""A folder push versions only the DAGs whose own inputs changed (ADR 0041), on SQLite and
PostgreSQL: three DAGs, two sharing a helper module, a data file read while loading, a declared
``bundle_files=`` file, a script named in a bash command, an unrelated ``notes.txt`` and a
``.pinflowignore``; then each new version runs in real task processes and finds its files."""

from __future__ import annotations

import io
import textwrap
import zipfile
from pathlib import Path

import pytest
from tests.scheduler.helpers import run, task_instances, tries_of

from pinflow.scheduler.loop import Scheduler
from pinflow.sdk.compiler import CompiledDag, compile_path
from pinflow.services.commands._push import register_snapshot
from pinflow.services.xcom_values import value_of as get_xcom
from pinflow.store.db import Database

FILES = {
    "helpers.py": "GREETING = 'hello'\n",
    "alpha.py": """
        import json
        from pathlib import Path

        import helpers
        from pinflow import dag, task

        LOOKUP = json.loads(Path(__file__).parent.joinpath("conf", "lookup.json").read_text())

        @task
        def greet() -> str:
            return f"{helpers.GREETING} {LOOKUP['name']}"

        @dag(dag_id="alpha")
        def alpha() -> None:
            greet()

        alpha()
        """,
    "beta.py": """
        import os
        from pathlib import Path

        import helpers
        from pinflow import dag, task

        @task
        def count() -> str:
            rows = Path(os.environ["PINFLOW_BUNDLE_DIR"], "data", "rows.csv").read_text()
            return f"{helpers.GREETING}: {len(rows.splitlines())}"

        @dag(dag_id="beta", bundle_files=["data/*.csv"])
        def beta() -> None:
            count()

        beta()
        """,
    "gamma.py": """
        from pinflow import dag, task

        @dag(dag_id="gamma")
        def gamma() -> None:
            task.bash(task_id="report", bash_command='cat "$PINFLOW_BUNDLE_DIR/sql/report.sql"')

        gamma()
        """,
    "conf/lookup.json": '{"name": "world"}',
    "data/rows.csv": "a\nb\n",
    "sql/report.sql": "select 1",
    "notes.txt": "todo",
    "secret.env": "TOKEN=x",
    "scratch/big.bin": "xx",
    ".pinflowignore": "# never shipped\nsecret.env\nscratch/\n",
}


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def by_dag(root: Path) -> dict[str, CompiledDag]:
    return {c.spec.dag_id: c for c in compile_path(root)}


def push(db: Database, root: Path) -> dict[str, tuple[bool, tuple[str, ...]]]:
    """Per DAG: whether the push made a new version, and what it says changed."""
    answers = {}
    for dag_id, item in by_dag(root).items():
        result = register_snapshot(db, item.spec, item.bundle, actor="ci")
        answers[dag_id] = (result.version_created, result.changed)
    return answers


def names(bundle: bytes) -> list[str]:
    return zipfile.ZipFile(io.BytesIO(bundle)).namelist()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "dags"
    write(root, FILES)
    return root


def test_each_dag_is_versioned_by_its_own_inputs_only(db: Database, folder: Path) -> None:
    compiled = by_dag(folder)
    assert {dag_id: c.inputs for dag_id, c in compiled.items()} == {
        "alpha": ("alpha.py", "conf/lookup.json", "helpers.py"),
        "beta": ("beta.py", "data/rows.csv", "helpers.py"),
        "gamma": ("gamma.py", "sql/report.sql"),
    }
    assert all(names(c.bundle) == sorted(c.inputs) for c in compiled.values())
    assert set(push(db, folder).values()) == {(True, ())}

    unchanged = {"alpha": (False, ()), "beta": (False, ()), "gamma": (False, ())}
    write(folder, {"notes.txt": "done", "secret.env": "TOKEN=y", "scratch/big.bin": "yy"})
    assert push(db, folder) == unchanged

    write(folder, {"helpers.py": "GREETING = 'hi'\n"})
    assert push(db, folder) == {
        "alpha": (True, ("helpers.py changed",)),
        "beta": (True, ("helpers.py changed",)),
        "gamma": (False, ()),
    }
    write(folder, {"conf/lookup.json": '{"name": "moon"}'})
    assert push(db, folder) == {**unchanged, "alpha": (True, ("conf/lookup.json changed",))}
    write(folder, {"data/rows.csv": "a\nb\nc\n", "data/more.csv": "d\n"})
    assert push(db, folder) == {
        **unchanged,
        "beta": (True, ("data/more.csv added", "data/rows.csv changed")),
    }
    write(folder, {"sql/report.sql": "select 2"})
    assert push(db, folder) == {**unchanged, "gamma": (True, ("sql/report.sql changed",))}
    # a push of one file gives that DAG the digest the folder's push gave it
    [alone] = compile_path(folder / "gamma.py")
    assert alone.digest == by_dag(folder)["gamma"].digest


def test_each_new_version_runs_with_its_files(
    db: Database, scheduler: Scheduler, folder: Path
) -> None:
    push(db, folder)
    write(folder, {"helpers.py": "GREETING = 'hi'\n", "data/rows.csv": "a\nb\nc\n"})
    push(db, folder)
    for dag_id in ("alpha", "beta", "gamma"):
        assert run(db, scheduler, dag_id) == "success", dag_id
    pk = {d: task_instances(db, d, "r1") for d in ("alpha", "beta", "gamma")}
    assert get_xcom(db, pk["alpha"]["greet"].run_pk, "greet") == "hi world"
    assert get_xcom(db, pk["beta"]["count"].run_pk, "count") == "hi: 3"
    (report,) = tries_of(db, pk["gamma"]["report"].id)
    assert report.log_path is not None
    assert "select 1" in Path(report.log_path).read_text()


def test_an_undeclared_file_opened_at_run_time_warns_then_fails_clearly(
    db: Database, scheduler: Scheduler, tmp_path: Path
) -> None:
    root = tmp_path / "dags"
    write(
        root,
        {
            "reader.py": """
                import os
                from pathlib import Path

                from pinflow import dag, task

                @task
                def read() -> str:
                    return Path(os.environ["PINFLOW_BUNDLE_DIR"], "rows.csv").read_text()

                @dag(dag_id="reader")
                def reader() -> None:
                    read()

                reader()
                """,
            "rows.csv": "a\n",
        },
    )
    [item] = compile_path(root)
    assert item.inputs == ("reader.py",)
    [warning] = item.warnings
    assert "'rows.csv'" in warning
    assert "bundle_files=['rows.csv']" in warning
    register_snapshot(db, item.spec, item.bundle, actor="ci")
    assert run(db, scheduler, "reader") == "failed"
    (attempt,) = tries_of(db, task_instances(db, "reader", "r1")["read"].id)
    assert attempt.error is not None
    assert "not in this version's snapshot" in attempt.error
    assert "declare it with bundle_files=['rows.csv']" in attempt.error
