"""The operating commands against an API in this process, with a deterministic drain
(``run_until_idle``) standing in for the scheduler: runs, clear with a plan, the version
lifecycle of seed 001, pause, clear history, deregister and restore."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.cli.inprocess import Cli, make_cli

from pinflow.cli.common import ExitCode
from pinflow.store.db import Database
from pinflow.testing import run_until_idle, scripted

# The database plays no part: the CLI talks to the API; the services under it are tested on both
# backends.
pytestmark = pytest.mark.sqlite_enough

DAG = """
from pinflow import dag, task


@task
def extract() -> int:
    return 1


@task
def load(n: int) -> int:
    return n


@dag(dag_id="orders", name="Orders")
def orders() -> None:
    load(extract())


orders()
"""


@pytest.fixture
def cli(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    cli = make_cli(db, tmp_path, monkeypatch)
    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "orders.py").write_text(DAG)
    cli("dags", "push", str(tmp_path / "dags"))
    return cli


def _json(cli: Cli, *args: str) -> Any:
    return json.loads(cli(*args, "-o", "json").stdout)


def test_run_fail_plan_clear_and_pass(cli: Cli, db: Database) -> None:
    assert cli("dags", "trigger", "orders", "--run-id", "r1").stdout.strip() == "r1"
    run_until_idle(db, scripted({"load": [False]}))
    assert [r["state"] for r in _json(cli, "runs", "list", "orders")["dag_runs"]] == ["failed"]
    shown = cli("runs", "show", "orders", "r1").stdout
    assert "upstream" not in shown
    assert "failed" in shown

    plan = cli("tasks", "clear", "orders", "r1", "load", "--dry-run").stdout
    assert "re_executed" in plan
    assert "Dry run: nothing changed" in plan
    assert _json(cli, "runs", "show", "orders", "r1")["state"] == "failed"
    cli("tasks", "logs", "orders", "r1", "load")

    cleared = _json(cli, "tasks", "clear", "orders", "r1", "load")
    assert cleared["dry_run"] is False
    run_until_idle(db, scripted({}))
    final = _json(cli, "runs", "show", "orders", "r1")
    assert final["state"] == "success"
    assert {t["task_id"]: t["state"] for t in final["task_instances"]} == {
        "extract": "success",
        "load": "success",
    }
    cli("tasks", "clear", "orders", "r1", "load", code=ExitCode.NOT_FOUND)  # nothing failed


def test_version_lifecycle(cli: Cli) -> None:
    draft = _json(cli, "versions", "create", "orders", "current")["newWorkflow"]
    assert draft["status"] == "draft"
    published = _json(cli, "versions", "publish", "orders", "draft", "--deprecate-previous")
    assert published["workflow"]["version"] == 2
    assert _json(cli, "versions", "show", "orders", "1")["status"] == "deprecated"
    assert _json(cli, "versions", "show", "orders", "current")["version"] == 2

    wrong = cli("versions", "revert", "orders", "1", "--confirm", "Nope", code=ExitCode.USAGE)
    assert "Confirmation name does not match the workflow name" in wrong.stderr
    cli("versions", "revert", "orders", "1", "--confirm", "Orders")
    assert _json(cli, "versions", "show", "orders", "1")["status"] == "draft"

    cli("versions", "deprecate", "orders", "2")
    refused = cli("dags", "trigger", "orders", "--version", "2", code=ExitCode.USAGE)
    assert "Deprecated workflows cannot start new runs. Create a new version instead." in (
        refused.stderr
    )
    no_current = cli("dags", "trigger", "orders", code=ExitCode.CONFLICT)
    assert "no current version" in no_current.stderr
    test_run = _json(cli, "dags", "trigger", "orders", "--version", "1")  # the draft again
    assert test_run["run_type"] == "manual"
    assert test_run["version_id"] == _json(cli, "versions", "show", "orders", "1")["id"]
    cli("versions", "delete", "orders", "2")
    assert [v["version"] for v in _json(cli, "versions", "list", "orders")] == [1]
    cli("versions", "restore", "orders", "2")
    assert len(_json(cli, "versions", "list", "orders")) == 2
    cli("versions", "show", "orders", "7", code=ExitCode.NOT_FOUND)


def test_pause_clear_history_deregister_restore(cli: Cli, db: Database) -> None:
    cli("dags", "pause", "orders")
    assert _json(cli, "dags", "show", "orders")["is_paused"] is True
    cli("dags", "unpause", "orders")
    cli("dags", "trigger", "orders")
    run_until_idle(db, scripted({}))
    cli("dags", "clear-history", "orders", code=ExitCode.USAGE)  # no tty, no --yes
    cli("dags", "clear-history", "orders", "--yes")
    assert _json(cli, "runs", "list", "orders")["dag_runs"] == []

    cli("dags", "deregister", "orders", "--yes")
    assert _json(cli, "dags", "list")["dags"] == []
    assert [d["dag_id"] for d in _json(cli, "dags", "list", "--all")["dags"]] == ["orders"]
    cli("dags", "restore", "orders")
    assert [d["dag_id"] for d in _json(cli, "dags", "list")["dags"]] == ["orders"]
    events = {e["event"] for e in _json(cli, "audit", "list", "--dag", "orders")["event_logs"]}
    assert {"dag.deregistered", "dag.restored"} <= events


def test_tasks_list_shows_the_current_versions_tasks(cli: Cli) -> None:
    listed = _json(cli, "tasks", "list", "orders")
    assert listed["total_entries"] == 2
    assert [(t["task_id"], t["downstream_task_ids"]) for t in listed["tasks"]] == [
        ("extract", ["load"]),
        ("load", []),
    ]
    table = cli("tasks", "list", "orders").stdout
    assert "extract" in table
    assert "@task" in table
    assert _json(cli, "tasks", "list", "orders", "--version", "1")["total_entries"] == 2
    missing = cli("tasks", "list", "orders", "--version", "7", code=ExitCode.NOT_FOUND)
    assert "Version 7" in missing.stdout + missing.stderr
