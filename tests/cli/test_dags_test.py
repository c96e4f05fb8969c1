"""``pinflow dags test PATH`` (issue #15): one run of a DAG's real tasks in real task processes,
without a server, on a throw-away database; exit 1 and the failed task's log when it fails."""

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
from pinflow.sdk import RunEnd


def alert(end: RunEnd) -> None:
    print("ALERT", end.reason, list(end.failed_tasks))


@task
def extract(params) -> int:
    return params["n"]


@task
def check(n: int) -> int:
    print("checking", n)
    if n != 42:
        raise ValueError(f"expected 42, got {n}")
    return n


@dag(dag_id="demo", schedule="@daily", params={"n": 42}, on_failure_callback=alert)
def demo() -> None:
    check(extract())


demo()
"""


def dags_test(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "dags").mkdir(exist_ok=True)
    (tmp_path / "dags" / "demo.py").write_text(DAG)
    home = tmp_path / "user-home"  # must stay untouched: the test uses a home of its own
    return subprocess.run(
        [sys.executable, "-m", "pinflow.cli", "dags", "test", str(tmp_path / "dags"), *args],
        env=cli_env(PINFLOW_HOME=str(home), COLUMNS="200"),
        capture_output=True,
        text=True,
        timeout=150,
        check=False,
    )


def test_a_good_run_prints_each_task_and_exits_0(tmp_path: Path) -> None:
    done = dags_test(tmp_path, "-o", "json")
    assert done.returncode == 0, done.stderr + done.stdout
    body = json.loads(done.stdout)
    assert body["state"] == "success"
    assert [(t["task"], t["state"]) for t in body["tasks"]] == [
        ("extract", "success"),
        ("check", "success"),
    ]
    assert body["callbacks"] == []  # on_failure_callback only: a success calls none
    assert not (tmp_path / "user-home").exists()


def test_a_failed_run_shows_the_log_tail_and_exits_1(tmp_path: Path) -> None:
    done = dags_test(tmp_path, "--conf", '{"n": 41}')
    assert done.returncode == 1, done.stderr + done.stdout
    assert "check" in done.stdout
    assert "failed" in done.stdout
    assert "ValueError: expected 42, got 41" in done.stdout
    assert "checking 41" in done.stdout
    assert "Run failed" in done.stderr
    # The DAG's on_failure_callback was called before the command ended (ADR 0044).
    assert "on_failure_callback success:" in done.stdout
    assert "ALERT task_failure ['check']" in done.stdout


@pytest.mark.parametrize(
    ("args", "code", "said"),
    [
        (["--conf", "{nope"], 2, "--conf is not valid JSON"),
        (["--conf", "[1]"], 2, "--conf must be a JSON object"),
        (["--dag-id", "other"], 3, "no DAG 'other' in PATH; it holds demo"),
    ],
)
def test_bad_arguments_say_what_to_do(
    tmp_path: Path, args: list[str], code: int, said: str
) -> None:
    done = dags_test(tmp_path, *args)
    assert done.returncode == code, done.stderr + done.stdout
    assert said in done.stderr + done.stdout
