"""``pinflow tasks test PATH_OR_DAG TASK_ID`` (issue #15): one task's real code in a real task
process without a server, on ``dags test``'s throw-away database; its upstreams are not run
(their outputs are ``None``, as in Airflow), its downstreams neither; exit 1 when it fails."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from tests.cli.helpers import cli_env

pytestmark = [pytest.mark.timeout(180), pytest.mark.sqlite_enough]

DAG = """
from pinflow import dag, task


@task
def extract() -> int:
    raise RuntimeError("an upstream must not run")


@task
def check(n: int, params, logical_date) -> dict:
    print("checking", n, params["x"], str(logical_date)[:10])
    if params["x"] != 1:
        raise ValueError(f"x is {params['x']}")
    return {"n": n, "ok": True}


@task
def after(result: dict) -> None:
    raise RuntimeError("a downstream must not run")


@dag(dag_id="demo", params={"x": 1})
def demo() -> None:
    after(check(extract()))


demo()
"""


def tasks_test(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "dags").mkdir(exist_ok=True)
    (tmp_path / "dags" / "demo.py").write_text(DAG)
    return subprocess.run(
        [sys.executable, "-m", "pinflow.cli", "tasks", "test", *args],
        env=cli_env(PINFLOW_HOME=str(tmp_path / "user-home"), COLUMNS="200"),
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
        cwd=tmp_path,
    )


def test_only_the_task_runs_and_its_value_and_log_are_shown(tmp_path: Path) -> None:
    done = tasks_test(
        tmp_path, "demo", "check", "--dags", "dags", "--logical-date", "2026-01-31", "-o", "json"
    )
    assert done.returncode == 0, done.stderr + done.stdout
    body = json.loads(done.stdout)
    assert (body["task_id"], body["state"]) == ("check", "success")
    assert body["return_value"] == {"n": None, "ok": True}
    assert any("checking None 1 2026-01-31" in line for line in body["log"])
    assert not (tmp_path / "user-home").exists()


def test_a_failing_task_prints_its_log_and_exits_1(tmp_path: Path) -> None:
    done = tasks_test(tmp_path, "dags/demo.py", "check", "--conf", '{"x": 2}')
    assert done.returncode == 1, done.stderr + done.stdout
    assert "ValueError: x is 2" in done.stdout
    assert "Task check: failed" in done.stderr


def test_an_unknown_task_is_named_with_the_ones_there_are(tmp_path: Path) -> None:
    done = tasks_test(tmp_path, "dags/demo.py", "nope")
    assert done.returncode == 3
    assert "has no task 'nope'; it has extract, check, after" in done.stderr
