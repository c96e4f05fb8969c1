"""``pinflow db backup`` / ``restore`` / ``clean`` against a real database (SQLite and
PostgreSQL): what is put back runs again, and what is cleaned is gone."""

from __future__ import annotations

import sqlite3
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select, update

from pinflow.cli.common import ExitCode
from pinflow.cli.main import app as pinflow
from pinflow.errors import NotFoundError
from pinflow.lifecycle.states import RunState
from pinflow.services.commands._push import register_snapshot
from pinflow.services.commands._runs import get_run, trigger_run
from pinflow.store.db import Database
from pinflow.store.tables import AuditEvent, DagRun
from pinflow.testing import make_spec, run_until_idle, scripted


def invoke(db: Database, *args: str, code: int = 0) -> Result:
    result = CliRunner().invoke(
        pinflow, list(args), env={"PINFLOW_DATABASE_URL": db.url}, catch_exceptions=False
    )
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    return result


def run_once(db: Database, run_id: str) -> RunState:
    trigger_run(db, dag_id="etl", actor="alice", run_id=run_id)
    run_until_idle(db, scripted({}))
    return get_run(db, "etl", run_id).state


@pytest.fixture
def etl(db: Database) -> Database:
    register_snapshot(db, make_spec("etl", {"a": [], "b": ["a"]}), b"", actor="alice")
    assert run_once(db, "before") == RunState.SUCCESS
    return db


def test_backup_then_restore_puts_the_data_back_and_runs_go_on(
    etl: Database, tmp_path: Path
) -> None:
    path = tmp_path / "pinflow.backup"
    invoke(etl, "db", "backup", str(path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert run_once(etl, "after-backup") == RunState.SUCCESS

    refused = invoke(etl, "db", "restore", str(path), code=ExitCode.CONFLICT)
    assert "--yes" in refused.stderr
    assert get_run(etl, "etl", "after-backup").state == RunState.SUCCESS  # untouched

    invoke(etl, "db", "restore", str(path), "--yes")
    with pytest.raises(NotFoundError):
        get_run(etl, "etl", "after-backup")
    assert get_run(etl, "etl", "before").state == RunState.SUCCESS
    assert run_once(etl, "after-restore") == RunState.SUCCESS


def test_a_backup_never_overwrites_a_file(etl: Database, tmp_path: Path) -> None:
    path = tmp_path / "taken"
    path.write_text("keep me")
    result = invoke(etl, "db", "backup", str(path), code=ExitCode.FAILURE)
    assert "exists" in result.stderr
    assert path.read_text() == "keep me"


def test_a_missing_backup_file_is_named(etl: Database, tmp_path: Path) -> None:
    result = invoke(etl, "db", "restore", str(tmp_path / "nope"), "--yes", code=ExitCode.FAILURE)
    assert "No backup file" in result.stderr


def test_a_backup_from_a_newer_pinflow_is_refused(etl: Database, tmp_path: Path) -> None:
    if not etl.is_sqlite:
        pytest.skip("the revision is edited in the SQLite file; the check is the same code")
    path = tmp_path / "newer.db"
    invoke(etl, "db", "backup", str(path))
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'f00dfeed'")
    conn.close()
    assert run_once(etl, "kept") == RunState.SUCCESS
    result = invoke(etl, "db", "restore", str(path), "--yes", code=ExitCode.FAILURE)
    assert "f00dfeed" in result.stderr
    assert "does not know" in result.stderr
    assert get_run(etl, "etl", "kept").state == RunState.SUCCESS


def test_without_pg_dump_the_error_says_what_to_install(
    etl: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if etl.is_sqlite:
        pytest.skip("SQLite needs no tool")
    monkeypatch.setenv("PATH", str(tmp_path))
    result = invoke(etl, "db", "backup", str(tmp_path / "x.dump"), code=ExitCode.FAILURE)
    assert "pg_dump is not on PATH" in result.stderr
    assert "postgresql-client" in result.stderr
    assert not (tmp_path / "x.dump").exists()


# --- db clean --------------------------------------------------------------------------------


def test_clean_dry_run_counts_then_clean_deletes_with_an_audit_entry(
    etl: Database, tmp_path: Path
) -> None:
    assert run_once(etl, "today") == RunState.SUCCESS
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    dry = invoke(etl, "db", "clean", "--before", tomorrow, "--dry-run", "--home", str(tmp_path))
    assert "dag_run                       2" in dry.stdout
    assert "task_instance                 4" in dry.stdout
    assert get_run(etl, "etl", "today").state == RunState.SUCCESS

    refused = invoke(etl, "db", "clean", "--before", tomorrow, code=ExitCode.USAGE)
    assert "--yes" in refused.stderr
    assert get_run(etl, "etl", "today").state == RunState.SUCCESS

    done = invoke(
        etl, "db", "clean", "--before", tomorrow, "--dag", "etl", "--batch-size", "1", "--yes",
        "--home", str(tmp_path),
    )  # fmt: skip
    assert "Deleted in 2 batch(es)" in done.stdout
    for run_id in ("before", "today"):
        with pytest.raises(NotFoundError):
            get_run(etl, "etl", run_id)
    with etl.read() as s:
        entries = s.scalars(select(AuditEvent).where(AuditEvent.action == "db.cleaned")).all()
    assert len(entries) == 2
    assert all(e.actor.startswith("cli:") and e.meta["counts"]["dag_run"] == 1 for e in entries)


def test_clean_refuses_a_date_it_cannot_read(etl: Database) -> None:
    result = invoke(etl, "db", "clean", "--before", "last tuesday", "--dry-run", code=2)
    assert "ISO 8601" in result.stderr


# --- traces export ---------------------------------------------------------------------------


def test_traces_export_prints_a_run_and_its_tries(etl: Database, tmp_path: Path) -> None:
    from pinflow.services.tracing import trace_id_of

    result = invoke(
        etl, "traces", "export", "--dag", "etl", "--run", "before", "--console",
        "--home", str(tmp_path),
    )  # fmt: skip
    assert "Exported 1 run(s), 3 span(s)." in result.stderr
    assert result.stdout.count('"name": "try ') == 2
    assert f'"trace_id": "0x{trace_id_of("etl", "before"):032x}"' in result.stdout

    since = invoke(etl, "traces", "export", "--since", "2000-01-01", "--console")
    assert "Exported 1 run(s), 3 span(s)." in since.stderr


def test_traces_export_says_what_it_needs(etl: Database) -> None:
    neither = invoke(etl, "traces", "export", "--console", code=ExitCode.USAGE)
    assert "--run (with --dag) or --since" in neither.stderr
    lone = invoke(etl, "traces", "export", "--run", "before", code=ExitCode.USAGE)
    assert "--run needs --dag" in lone.stderr
    missing = invoke(etl, "traces", "export", "--dag", "etl", "--run", "nope", code=1)
    assert "was not found" in missing.stderr


def test_a_sqlite_backup_runs_while_a_writer_holds_the_lock(etl: Database, tmp_path: Path) -> None:
    """Online: a write transaction in progress (the server at work) neither blocks the backup
    nor leaks into it; the copy holds what was committed."""
    if not etl.is_sqlite:
        pytest.skip("pg_dump's snapshot is PostgreSQL's own business")
    from pinflow.store.backup import backup

    path = tmp_path / "online.db"
    with etl.transaction() as s:
        s.execute(update(DagRun).values(note="uncommitted"))
        backup(etl, path)
    copy = Database(f"sqlite:///{path}")
    try:
        with copy.read() as s:
            assert s.scalars(select(DagRun.note)).all() == [None]
    finally:
        copy.dispose()
