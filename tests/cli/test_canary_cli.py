"""``pinflow versions canary``: the plan with --dry-run, the start, and --report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.cli.inprocess import Cli, make_cli

from pinflow.services.commands import runs, versions
from pinflow.services.commands._push import register_snapshot
from pinflow.store.db import Database
from pinflow.testing import ExecutionContext, TaskOutcome, make_spec, run_until_idle

# The plan and the comparison are tested on both databases in tests/services/test_canary.py;
# here the CLI's requests and output.
pytestmark = pytest.mark.sqlite_enough

TASKS = {"extract": [], "load": ["extract"]}


def bash_like(ctx: ExecutionContext) -> TaskOutcome:
    ok = ctx.task.bash_command != "exit 1"
    return TaskOutcome(success=ok, error=None if ok else "exit 1")


@pytest.fixture
def cli(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    broken = make_spec("etl", TASKS, task_fields={"load": {"bash_command": "exit 1"}})
    v1 = register_snapshot(db, broken, b"", actor="ci").version
    for _ in range(3):
        runs.trigger_run(db, dag_id="etl", actor="ci")
    run_until_idle(db, bash_like)
    draft = versions.create_version(db, v1.id, actor="ci")
    versions.edit_draft(db, draft.id, make_spec("etl", TASKS), actor="ci")
    return make_cli(db, tmp_path, monkeypatch)


def test_dry_run_start_and_report(cli: Cli, db: Database) -> None:
    shown = cli("versions", "canary", "etl", "draft", "--failed", "--last", "2", "--dry-run").stdout
    assert "draft of v1 replaying 2 run(s) of v1" in shown
    assert "changed tasks: load" in shown
    assert "reused" in shown
    assert "rerun" in shown
    assert "Dry run: nothing was started" in shown
    started = cli("versions", "canary", "etl", "draft", "--from", "1", "--last", "2", "-o", "json")
    body = json.loads(started.stdout)
    assert body["dryRun"] is False
    assert len(body["runs"]) == 2
    run_until_idle(db, bash_like)
    report = cli("versions", "canary", "etl", "draft", "--report").stdout
    assert "draft of v1 vs v1 on 2 runs: 2 fixed, 0 still failing, 0 regressed" in report
    assert "load: state (failed -> success)" in report


def test_no_reuse_and_refusal(cli: Cli) -> None:
    plan = json.loads(
        cli("versions", "canary", "etl", "draft", "--no-reuse", "--dry-run", "-o", "json").stdout
    )
    assert {t["action"] for r in plan["runs"] for t in r["tasks"]} == {"rerun"}
    failed = cli("versions", "canary", "etl", "draft", "--report", code=3)
    assert "has no canary runs" in failed.stderr
