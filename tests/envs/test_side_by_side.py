"""Two versions of one DAG, pinned to two versions of a package, run side by side (issue #18,
point 4): real environments built offline from local wheels, the real scheduler and the local
executor (real processes), on SQLite and PostgreSQL."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.scheduler.helpers import (
    make_settings,
    run_state,
    running_scheduler,
    task_instances,
    tries_of,
)
from tests.support.wheels import write_wheel

from pinflow.runtime.envs import list_envs
from pinflow.scheduler.loop import Scheduler
from pinflow.sdk.compiler import CompiledDag, compile_path
from pinflow.services.commands._push import register_snapshot
from pinflow.services.commands._runs import trigger_run
from pinflow.services.xcom_values import value_of as get_xcom
from pinflow.settings import Settings
from pinflow.store.db import Database
from pinflow.store.tables import RunCallback

DRAIN = 180.0  # two environments are built on the way (pip, offline)

DAG = """
    import os
    import sys

    from pinflow import dag, task


    @task
    def report():
        import pfdemo  # the version's own, from its environment

        print("pfdemo", pfdemo.__version__, "from", pfdemo.__file__)
        return {{
            "version": pfdemo.__version__,
            "python": sys.executable,
            "cwd": os.getcwd(),
            "settings": sorted(k for k in os.environ if k.startswith("PINFLOW_DATABASE")),
        }}


    @task
    def plain(previous):
        return previous["version"]


    @dag(dag_id="pinned", requirements=["PFDemo=={version}"])
    def pinned():
        plain(report())


    pinned()
"""


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("wheels")
    write_wheel(folder, "pfdemo", "1.0")
    write_wheel(folder, "pfdemo", "2.0")
    return folder


@pytest.fixture(scope="module")
def venv_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Shared by the module's tests (on both databases), as a worker's cache is by its runs."""
    return tmp_path_factory.mktemp("venvs")


@pytest.fixture
def settings(db: Database, tmp_path: Path, wheels: Path, venv_dir: Path) -> Settings:
    pip_args = f"--no-index --find-links {wheels}"
    return make_settings(db, tmp_path / "home", pip_args=pip_args, venv_dir=venv_dir, parallelism=2)


def _push(db: Database, folder: Path, version: str) -> tuple[CompiledDag, str]:
    """Compile and publish one version of ``pinned``; the compiled DAG and its version id."""
    folder.mkdir(parents=True)
    (folder / "pinned.py").write_text(textwrap.dedent(DAG.format(version=version)))
    (compiled,) = compile_path(folder)
    pushed = register_snapshot(db, compiled.spec, compiled.bundle, actor="tester")
    return compiled, pushed.version.id


def test_two_versions_run_side_by_side_each_in_its_environment(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    v1, v1_id = _push(db, tmp_path / "v1", "1.0")
    v2, _ = _push(db, tmp_path / "v2", "2.0")
    assert v1.spec.requirements == ["pfdemo==1.0"]
    assert v1.digest != v2.digest
    first = trigger_run(db, dag_id="pinned", run_id="on-v2", actor="tester")  # current: v2
    old = trigger_run(db, version_id=v1_id, run_id="on-v1", actor="tester")
    with running_scheduler(db, settings) as scheduler:
        _drain(scheduler)
    assert first.snapshot_digest == v2.digest
    assert old.snapshot_digest == v1.digest
    for run_id, version in (("on-v1", "1.0"), ("on-v2", "2.0")):
        assert run_state(db, "pinned", run_id) == "success"
        run_pk = task_instances(db, "pinned", run_id)["report"].run_pk
        report = get_xcom(db, run_pk, "report")
        assert report["version"] == version
        assert report["python"].startswith(str(settings.venv_dir))  # not the server's
        assert report["cwd"] != str(tmp_path)
        assert "pinflow-try-" in report["cwd"]
        assert report["settings"] == []  # the control plane's settings never reach a task
        assert get_xcom(db, run_pk, "plain") == version
    built = {tuple(env["requirements"]) for env in list_envs(settings.venv_dir)}
    assert {("pfdemo==1.0",), ("pfdemo==2.0",)} <= built


def _drain(scheduler: Scheduler) -> None:
    scheduler.wake()
    assert scheduler.drain(DRAIN), "the runs did not finish in time"


BROKEN = """
    import time

    from pinflow import dag, task


    @task(retries=1, retry_delay=0)
    def needs_missing():
        return "never"


    @task(execution_timeout=3)
    def too_slow():
        print("started, sleeping", flush=True)
        time.sleep(120)


    @dag(dag_id="{dag_id}", requirements=["{requirement}"])
    def broken():
        {body}


    broken()
"""


def _push_source(db: Database, folder: Path, source: str) -> None:
    folder.mkdir(parents=True)
    (folder / "dag.py").write_text(textwrap.dedent(source))
    (compiled,) = compile_path(folder)
    register_snapshot(db, compiled.spec, compiled.bundle, actor="tester")


def _run(db: Database, settings: Settings, dag_id: str) -> None:
    trigger_run(db, dag_id=dag_id, run_id="r1", actor="tester")
    with running_scheduler(db, settings) as scheduler:
        _drain(scheduler)


def test_an_environment_that_cannot_be_built_fails_its_tries_with_pips_error(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    settings = settings.model_copy(update={"venv_dir": tmp_path / "venvs"})  # its own failure
    source = BROKEN.format(dag_id="broken", requirement="pfdemo==9.9", body="needs_missing()")
    _push_source(db, tmp_path / "dags", source)
    _run(db, settings, "broken")
    assert run_state(db, "broken", "r1") == "failed"
    ti = task_instances(db, "broken", "r1")["needs_missing"]
    first, second = tries_of(db, ti.id)
    assert (first.state, second.state) == ("up_for_retry", "failed")
    for attempt in (first, second):
        assert attempt.error is not None
        assert attempt.error.startswith("the task's environment could not be built: pip install")
        assert "No matching distribution found for pfdemo==9.9" in attempt.error
    assert first.log_path is not None
    assert second.log_path is not None
    assert "No matching distribution found for pfdemo==9.9" in Path(first.log_path).read_text()
    # The retry did not build again: it repeated the recorded failure (no retry storm).
    assert "building the environment" in Path(first.log_path).read_text()
    retried = Path(second.log_path).read_text()
    assert "building the environment" not in retried
    assert "s ago" in retried
    # Nothing half-built is left in the cache.
    assert ["pfdemo==9.9"] not in [env["requirements"] for env in list_envs(settings.venv_dir)]
    live = {p.resolve() for p in settings.venv_dir.iterdir() if p.is_symlink()}
    assert {p for p in settings.venv_dir.iterdir() if p.is_dir() and not p.is_symlink()} == live


def test_a_timeout_in_an_environment_ends_the_try_as_in_the_warm_fork(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    source = BROKEN.format(dag_id="slow", requirement="pfdemo==1.0", body="too_slow()")
    _push_source(db, tmp_path / "dags", source)
    _run(db, settings, "slow")
    ti = task_instances(db, "slow", "r1")["too_slow"]
    (attempt,) = tries_of(db, ti.id)
    assert attempt.state == "failed"
    assert attempt.error == "execution timeout after 3s"
    assert attempt.log_path is not None
    log = Path(attempt.log_path).read_text()
    assert "running in the environment" in log
    assert "started, sleeping" in log


CALLBACK_IN_ENV = """
    import sys

    from pinflow import dag, task


    def tell(end):
        import pfdemo  # the version's own, from its environment

        print("callback for", end.run_id, "pfdemo", pfdemo.__version__, "python", sys.executable)


    @task
    def work():
        return 1


    @dag(dag_id="pinned_callback", requirements=["pfdemo==1.0"], on_success_callback=tell)
    def pinned_callback():
        work()


    pinned_callback()
"""


def test_a_run_end_callback_runs_in_its_versions_environment(
    db: Database, settings: Settings, tmp_path: Path
) -> None:
    """The callback's process moves into the environment as a try does (ADR 0044): the
    request it read on stdin is handed over to the environment's interpreter."""
    _push_source(db, tmp_path / "dags", CALLBACK_IN_ENV)
    _run(db, settings, "pinned_callback")
    assert run_state(db, "pinned_callback", "r1") == "success"
    with db.read() as s:
        (callback,) = s.scalars(select(RunCallback))
    assert (callback.kind, callback.state, callback.error) == ("on_success", "success", None)
    assert callback.log_path is not None
    log = Path(callback.log_path).read_text()
    assert "running in the environment" in log
    line = next(x for x in log.splitlines() if x.startswith("callback for r1"))
    assert f"pfdemo 1.0 python {settings.venv_dir}" in line
