"""Airflow's CLI habits (issue #15 point 6) against an API in this process, on both databases:
``variables``, ``connections`` and ``pools`` with Airflow's import/export files and no secret
printed; ``dags list-import-errors``; ``dags backfill`` and ``backfills …`` with a drain
(``run_until_idle``) standing in for the scheduler."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.cli.inprocess import Cli, make_cli

from pinflow.cli.common import ExitCode
from pinflow.services.commands import import_errors
from pinflow.store.db import Database
from pinflow.testing import run_until_idle, scripted

TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
DAG = f"""
from datetime import datetime

from pinflow import dag, task


@task
def work() -> int:
    return 1


@dag(dag_id="daily", schedule="@daily", start_date=datetime.fromisoformat(
    "{(TODAY - timedelta(days=20)).isoformat()}"))
def daily() -> None:
    work()


daily()
"""


@pytest.fixture
def cli(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    return make_cli(db, tmp_path, monkeypatch)


def _json(cli: Cli, *args: str, code: int = 0) -> Any:
    return json.loads(cli(*args, "-o", "json", code=code).stdout)


def test_variables_set_get_export_import_delete(cli: Cli, tmp_path: Path) -> None:
    assert "created" in cli("variables", "set", "region", "eu").stdout
    assert "updated" in cli("variables", "set", "region", "us", "--description", "where").stdout
    cli("variables", "set", "limits", '{"rows": 10}', "--json")
    cli("variables", "set", "api_password", "hunter2")
    assert cli("variables", "get", "region").stdout.strip() == "us"
    assert _json(cli, "variables", "get", "limits", "--json")["value"] == {"rows": 10}
    assert cli("variables", "get", "api_password").stdout.strip() == "***"
    assert cli("variables", "get", "nope", "-d", "fallback").stdout.strip() == "fallback"
    cli("variables", "get", "nope", code=ExitCode.NOT_FOUND)
    assert "hunter2" not in cli("variables", "list").stdout

    exported = tmp_path / "variables.json"
    done = cli("variables", "export", str(exported))
    assert "api_password" in done.stderr  # left out: the API masks it
    assert json.loads(exported.read_text()) == {"limits": {"rows": 10}, "region": "us"}

    exported.write_text(json.dumps({"region": "ap", "new": {"value": "n", "description": "d"}}))
    assert _json(cli, "variables", "import", str(exported), "-a", "skip") == {
        "created": ["new"],
        "updated": [],
        "skipped": ["region"],
    }
    cli("variables", "import", str(exported), "-a", "fail", code=ExitCode.CONFLICT)
    cli("variables", "import", str(exported))
    assert cli("variables", "get", "region").stdout.strip() == "ap"
    cli("variables", "delete", "region")
    cli("variables", "get", "region", code=ExitCode.NOT_FOUND)


def test_connections_never_show_a_password(cli: Cli, tmp_path: Path) -> None:
    uri = "postgres://etl:s3cret@db.example.com:5432/sales?sslmode=require"
    cli("connections", "add", "warehouse", "--conn-uri", uri)
    cli("connections", "add", "api", "--conn-type", "http", "--conn-host", "api.example.com")
    cli("connections", "add", "bad", code=ExitCode.USAGE)
    shown = _json(cli, "connections", "get", "warehouse")
    assert (shown["conn_type"], shown["host"], shown["port"], shown["login"]) == (
        "postgres",
        "db.example.com",
        5432,
        "etl",
    )
    assert shown["password"] is None
    assert shown["has_password"] is True
    assert json.loads(shown["extra"]) == {"sslmode": "require"}
    table = cli("connections", "list").stdout
    assert "warehouse" in table
    assert "s3cret" not in table

    exported = tmp_path / "connections.json"
    cli("connections", "export", str(exported))
    data = json.loads(exported.read_text())
    assert set(data) == {"api", "warehouse"}
    assert data["warehouse"]["password"] is None
    assert "s3cret" not in exported.read_text()

    data["warehouse"]["host"] = "db2.example.com"
    data["fresh"] = {"conn_type": "http", "host": "h", "extra": {"a": 1}}
    exported.write_text(json.dumps(data))
    assert _json(cli, "connections", "import", str(exported))["skipped"] == ["api", "warehouse"]
    cli("connections", "import", str(exported), "--overwrite")
    again = _json(cli, "connections", "get", "warehouse")
    assert again["host"] == "db2.example.com"
    assert again["has_password"] is True  # an import without a password keeps it
    cli("connections", "delete", "fresh")
    cli("connections", "get", "fresh", code=ExitCode.NOT_FOUND)


def test_pools_and_import_errors(cli: Cli, db: Database) -> None:
    assert "created" in cli("pools", "set", "warehouse", "4", "Connections to it").stdout
    assert "updated" in cli("pools", "set", "warehouse", "2", "Fewer").stdout
    shown = _json(cli, "pools", "get", "warehouse")
    assert (shown["slots"], shown["description"]) == (2, "Fewer")
    assert {p["name"] for p in _json(cli, "pools", "list")} == {"default_pool", "warehouse"}
    cli("pools", "delete", "warehouse")
    cli("pools", "get", "warehouse", code=ExitCode.NOT_FOUND)

    assert "No import errors" in cli("dags", "list-import-errors").stdout
    import_errors.report(db, "default", "dags/x.py", "dags/x.py:3: invalid syntax", actor="ci")
    listed = _json(cli, "dags", "list-import-errors")
    assert [e["filename"] for e in listed] == ["dags/x.py"]
    assert "invalid syntax" in cli("dags", "list-import-errors").stdout


def test_backfill_dry_run_create_pause_cancel(cli: Cli, db: Database, tmp_path: Path) -> None:
    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "daily.py").write_text(DAG)
    cli("dags", "push", str(tmp_path / "dags"))
    days = [(TODAY - timedelta(days=n)).date().isoformat() for n in (3, 1)]
    window = ("--from", days[0], "--to", days[1])
    dry = cli("dags", "backfill", "daily", *window, "--dry-run")
    assert "3 run(s) would be created" in dry.stderr
    made = _json(cli, "dags", "backfill", "daily", *window, "--max-active-runs", "1")
    assert made["max_active_runs"] == 1
    bid = str(made["id"])
    cli("dags", "backfill", "daily", *window, code=ExitCode.CONFLICT)  # one at a time
    assert _json(cli, "backfills", "pause", bid)["is_paused"] is True
    run_until_idle(db, scripted({}))
    assert _json(cli, "runs", "list", "daily")["total_entries"] == 3
    assert {r["state"] for r in _json(cli, "runs", "list", "daily")["dag_runs"]} == {"queued"}
    cli("backfills", "unpause", bid)
    run_until_idle(db, scripted({}))
    states = sorted(r["state"] for r in _json(cli, "runs", "list", "daily")["dag_runs"])
    assert states == ["success"] * 3
    assert _json(cli, "backfills", "show", bid)["completed_at"] is not None
    assert "daily" in cli("backfills", "list", "daily").stdout
    cli("backfills", "cancel", bid, code=ExitCode.CONFLICT)  # completed: nothing to cancel
    cli("dags", "backfill", "daily", "--from", "yesterday", "--to", days[1], code=ExitCode.USAGE)
