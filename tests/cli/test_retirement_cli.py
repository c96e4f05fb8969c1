"""``pinflow dags policy show|set|preview`` and ``pinflow dags lineage``: the CLI's output of
the API's answers (the rules are tested in tests/lifecycle and tests/services)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.cli.inprocess import Cli, make_cli

from pinflow.services.commands._push import register_snapshot
from pinflow.store.db import Database
from pinflow.testing import make_spec

pytestmark = pytest.mark.sqlite_enough


@pytest.fixture
def cli(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    for n in (1, 2):
        spec = make_spec("etl", {"load": []}, task_fields={"load": {"bash_command": f"echo {n}"}})
        register_snapshot(db, spec, b"", actor="alice")
    return make_cli(db, tmp_path, monkeypatch)


def test_show_set_and_preview(cli: Cli) -> None:
    shown = cli("dags", "policy", "show", "etl").stdout
    assert "Keep active" in shown
    assert "Set" in shown
    assert "no" in shown
    done = cli("dags", "policy", "set", "etl", "--keep-active", "1").stdout
    assert "deprecate" in done
    assert "v1" in done
    assert "KeepActive" in done
    # Options not given keep their value.
    cli("dags", "policy", "set", "etl", "--purge-deprecated-after", "30d")
    body = json.loads(cli("dags", "policy", "show", "etl", "-o", "json").stdout)
    assert (body["keepActive"], body["purgeDeprecatedAfter"]) == (1, "30d")
    preview = json.loads(cli("dags", "policy", "preview", "etl", "-o", "json").stdout)
    assert [(a["kind"], a["version"], a["status"]) for a in preview["actions"]] == [
        ("deprecate", 1, "due")
    ]
    cli("dags", "policy", "set", "etl", "--keep-active", "none", "--purge-deprecated-after", "none")
    assert "nothing to do" in cli("dags", "policy", "preview", "etl").stdout


def test_bad_values_say_what_to_give(cli: Cli) -> None:
    failed = cli("dags", "policy", "set", "etl", "--purge-deprecated-after", "soon", code=2)
    assert "write a whole number and a unit" in failed.stderr
    failed = cli("dags", "policy", "set", "etl", "--keep-active", "many", code=2)
    assert "give a number of versions, or none" in failed.stderr
    assert "DAG 'nope' was not found" in cli("dags", "policy", "show", "nope", code=3).stderr


def test_lineage(cli: Cli) -> None:
    shown = cli("dags", "lineage", "etl").stdout
    assert "v1" in shown
    assert "v2 (current)" in shown
    body = json.loads(cli("dags", "lineage", "etl", "-o", "json").stdout)
    assert [v["version"] for v in body["versions"]] == [1, 2]
    assert body["versions"][1]["sourceWorkflowId"] == body["versions"][0]["id"]
