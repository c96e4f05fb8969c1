"""``pinflow standalone`` as a new user runs it: a subprocess on a free port from a clean home.

Every example DAG runs to success through the API (the failing one fails, is fixed by a push
and a clear, then succeeds); SIGINT stops everything, ending a running task and recording it;
a second start reuses the admin, the password and the examples.
"""

from __future__ import annotations

import shutil
import stat
from pathlib import Path
from typing import Any

import pytest
from tests.cli.helpers import Standalone, alive, login, start_standalone, wait_for, wait_run

from pinflow.client import PinflowClient
from pinflow.sdk.compiler import compile_path
from pinflow.spec.canonical import spec_to_dict

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "pinflow" / "example_dags"
SLEEPER = """
from pinflow import dag, task


@dag(dag_id="sleeper")
def sleeper() -> None:
    task.bash(task_id="nap", bash_command="sleep 60")


sleeper()
"""

pytestmark = pytest.mark.timeout(240)


def _push(api: PinflowClient, folder: Path, **options: bool) -> dict[str, str]:
    digests = {}
    for item in compile_path(folder):
        answer = api.push(spec_to_dict(item.spec), item.bundle, **options)
        digests[item.spec.dag_id] = answer["digest"]
    return digests


def _run_examples(api: PinflowClient) -> dict[str, str]:
    dags = api.list_dags()["dags"]
    example_ids = sorted(d["dag_id"] for d in dags)
    assert example_ids == [
        "example_bash",
        "example_etl",
        "example_failing",
        "example_fan_out",
        "example_retries",
    ]
    runs = {dag_id: api.trigger(dag_id)["dag_run_id"] for dag_id in example_ids}
    for dag_id, run_id in runs.items():
        final = wait_run(api, dag_id, run_id)
        expected = "failed" if dag_id == "example_failing" else "success"
        if final["state"] != expected:
            raise AssertionError(f"{dag_id}: {final['state']}; errors: {_errors(api, final)}")
    return runs


def _errors(api: PinflowClient, run: dict[str, str]) -> list[str]:
    dag_id, run_id = run["dag_id"], run["dag_run_id"]
    tis = api.list_task_instances(dag_id, run_id)["task_instances"]
    found = []
    for ti in tis:
        if ti["state"] == "failed":
            tries = api.list_tries(dag_id, run_id, ti["task_id"], ti["map_index"])
            found += [f"{ti['task_id']}: {t['error']}" for t in tries["task_instances"]]
    return found


def _fix_the_failing_example(api: PinflowClient, run_id: str, tmp_path: Path) -> None:
    fixed = tmp_path / "fixed"
    fixed.mkdir()
    source = (EXAMPLES / "failing.py").read_text()
    (fixed / "failing.py").write_text(source.replace('stats["rows"] / 0', 'stats["rows"] / 2'))
    digest = _push(api, fixed, deprecate_previous=True)["example_failing"]
    cleared = api.clear_task_instances(
        "example_failing", dry_run=False, task_ids=["divide"], run_id=run_id
    )
    assert [p["to_snapshot"] for p in cleared["plan"]] == [digest]
    final = wait_run(api, "example_failing", run_id)
    assert final["state"] == "success"
    assert final["snapshot_digest"] == digest


def _start_a_long_task(api: PinflowClient, tmp_path: Path) -> str:
    folder = tmp_path / "sleeper"
    folder.mkdir()
    (folder / "sleeper.py").write_text(SLEEPER)
    _push(api, folder)
    run_id = api.trigger("sleeper")["dag_run_id"]

    def running() -> bool | None:
        ti = api.get_task_instance("sleeper", run_id, "nap")
        return True if ti["state"] == "running" else None

    wait_for("the long task to run", running)
    return run_id


def _stop(sa: Standalone) -> None:
    """SIGINT; then every process it started (zygote, tasks) must be gone."""
    children = sa.process.remember_descendants()
    assert children, "the executor's zygote should be a child process"
    assert sa.process.interrupt() == 0, sa.process.err()
    left = {pid for pid in children | sa.process.remember_descendants() if alive(pid)}
    assert not left, f"processes left behind: {left}"


def test_standalone_runs_every_example_and_stops_cleanly(tmp_path: Path) -> None:
    home = tmp_path / "home"
    first = start_standalone(home, tmp_path)
    try:
        assert first.password, first.process.out()
        secret_file = home / "standalone_admin_password.txt"
        assert secret_file.read_text().strip() == first.password
        assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
        with login(first.url, first.password) as api:
            runs = _run_examples(api)
            _fix_the_failing_example(api, runs["example_failing"], tmp_path)
            sleeper_run = _start_a_long_task(api, tmp_path)
    except BaseException:
        first.process.kill()
        raise
    _stop(first)

    second = start_standalone(home, tmp_path, name="second")
    try:
        assert second.password is None, "a second start must not make a new password"
        assert "already loaded" in second.process.out()
        with login(second.url, first.password) as api:
            # Ctrl-C interrupted the long task: the restart retries it at once, although it
            # has no retries, and its run goes on (ADR 0022).
            def retried() -> dict[str, Any] | None:
                ti = api.get_task_instance("sleeper", sleeper_run, "nap")
                return ti if ti["try_number"] == 2 and ti["state"] == "running" else None

            wait_for("the interrupted task to run again", retried)
            first_try = api.list_tries("sleeper", sleeper_run, "nap")["task_instances"][0]
            assert first_try["interrupted"] is True, first_try
            assert "scheduler stopped" in (first_try["error"] or "")
            assert api.get_run("sleeper", sleeper_run)["state"] == "running"
            # The fix pushed before the restart is still current: examples are not re-pushed.
            failing = api.get_dag("example_failing")
            assert failing["current_version"] == 2
    except BaseException:
        second.process.kill()
        raise
    _stop(second)
    shutil.rmtree(home / "logs", ignore_errors=True)
