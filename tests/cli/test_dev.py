"""``pinflow dev`` end to end: a DAG with a failing task runs; the file is edited to fix it; a
new snapshot appears on the dev draft (current); the failed task is cleared from the terminal;
the run succeeds on the new snapshot. A compile error on the way shows in the terminal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.cli.helpers import (
    Process,
    cli_env,
    login,
    run_pinflow,
    start_standalone,
    wait_for,
    wait_run,
)

from pinflow.client import ClientError, PinflowClient

pytestmark = pytest.mark.timeout(180)

DAG = """
from pinflow import dag, task


@task
def prepare() -> int:
    return 21


@task
def double(value: int) -> int:
    return value * {factor}


@dag(dag_id="dev_demo")
def dev_demo() -> None:
    double(prepare())


dev_demo()
"""
BROKEN = DAG.replace("return value * {factor}", "return value * (1 / 0) +  # broken: {factor}")


def test_fix_the_dag_clear_the_failed_task_watch_it_pass(tmp_path: Path) -> None:
    server = start_standalone(tmp_path / "home", tmp_path, "--no-examples")
    dags = tmp_path / "dags"
    dags.mkdir()
    dag_file = dags / "dev_demo.py"
    dag_file.write_text(DAG.format(factor="(1 / 0)"))  # fails at run time
    assert server.password
    api = login(server.url, server.password)
    token = api.create_token("dev test")["token"]
    env = cli_env(PINFLOW_URL=server.url, PINFLOW_TOKEN=token, PINFLOW_HOME=str(tmp_path / "cli"))
    dev = run_pinflow(["dev", str(dag_file)], tmp_path, env, "dev")
    try:
        first = wait_for("the first dev push", lambda: _current(api))
        assert (first["status"], first["isDev"]) == ("draft", True), first
        run_id = api.trigger("dev_demo")["dag_run_id"]
        assert wait_run(api, "dev_demo", run_id)["state"] == "failed"

        _save_a_compile_error(dev, dag_file, api, first["snapshotDigest"])

        dag_file.write_text(DAG.format(factor=2))  # the fix
        fixed = wait_for("the new snapshot", lambda: _changed(api, first["snapshotDigest"]))
        assert fixed["id"] == first["id"], "each save moves the same dev draft"
        assert api.list_import_errors() == {"import_errors": [], "total_entries": 0}

        clear = run_pinflow(
            ["tasks", "clear", "dev_demo", run_id, "double", "--wait"], tmp_path, env, "clear"
        )
        assert clear.proc.wait(60) == 0, clear.err()
        assert "success" in clear.out()
        final = wait_run(api, "dev_demo", run_id)
        assert final["state"] == "success"
        assert final["snapshot_digest"] == fixed["snapshotDigest"]
        assert dev.proc.poll() is None, dev.err()
        assert dev.interrupt() == 0
    finally:
        api.close()
        if dev.proc.poll() is None:
            dev.kill()
    assert server.process.interrupt() == 0


def _save_a_compile_error(dev: Process, dag_file: Path, api: PinflowClient, digest: str) -> None:
    """Shown in the terminal with its file:line and reported as an import error (API and UI);
    nothing is pushed."""
    dag_file.write_text(BROKEN.format(factor=2))
    wait_for("the compile error", lambda: "compile failed" in dev.err() or None)
    assert "dev_demo.py:" in dev.err(), dev.err()
    listed = wait_for("the import error", lambda: api.list_import_errors()["import_errors"] or None)
    (error,) = listed
    assert error["filename"] == "dags/dev_demo.py", error
    assert error["project"] == "default", "the project of the DAG as it last compiled"
    assert error["stack_trace"].startswith("dags/dev_demo.py:"), error
    assert error["bundle_name"] == str(dag_file)
    current = _current(api)
    assert current is not None
    assert current["snapshotDigest"] == digest


def _current(api: PinflowClient) -> dict[str, Any] | None:
    try:
        rows = api.list_workflows(dagId="dev_demo")["workflows"]
    except ClientError:
        return None
    return next((r for r in rows if r["isCurrent"]), None)


def _changed(api: PinflowClient, digest: str) -> dict[str, Any] | None:
    current = _current(api)
    return current if current and current["snapshotDigest"] != digest else None
