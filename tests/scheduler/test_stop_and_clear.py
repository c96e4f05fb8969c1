"""A scheduler that stops with tries running, and a task cleared while its try runs."""

from __future__ import annotations

import time
from pathlib import Path

from tests.scheduler.helpers import (
    DRAIN_TIMEOUT,
    make_settings,
    push_dag,
    run_state,
    running_scheduler,
    task_instances,
    tries_of,
)

from pinflow.runtime.paths import staging_path
from pinflow.scheduler.loop import Scheduler
from pinflow.services.commands._clear import clear_task_instances
from pinflow.services.commands._runs import trigger_run
from pinflow.settings import Settings
from pinflow.store.db import Database

SLEEPER = """
    import fcntl
    import os
    import time
    from pathlib import Path

    from pinflow import dag, task


    @task(retries=1, retry_delay=0)
    def sleeper():
        staging = Path(os.environ["PINFLOW_STAGING_DIR"])
        lock = open(staging / "sleeper.lock", "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            (staging / "OVERLAP").write_text("two tries at once")
            raise
        try_number = os.environ["PINFLOW_TRY_NUMBER"]
        (staging / f"try-{try_number}.pid").write_text(str(os.getpid()))
        if try_number == "1":
            time.sleep(60)
        return f"try {try_number}"


    @dag(dag_id="sleepy")
    def sleepy():
        sleeper()


    sleepy()
"""


def _until_first_try_runs(scheduler: Scheduler, settings: Settings) -> int:
    """Step the scheduler until try 1 is inside the task function; its pid."""
    pid_file = staging_path(settings.staging_dir, "sleepy", "r1") / "try-1.pid"
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while not (pid_file.exists() and pid_file.read_text()):
        assert time.monotonic() < deadline, "try 1 never started"
        scheduler.step(0.05)  # waits on the executor's pipe, not a sleep
    return int(pid_file.read_text())


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")


def test_stopping_the_scheduler_interrupts_running_tries_and_the_next_one_retries_them(
    db: Database, tmp_path: Path
) -> None:
    settings = make_settings(db, tmp_path / "home")
    push_dag(db, tmp_path / "dags", "sleepy", SLEEPER)
    trigger_run(db, dag_id="sleepy", run_id="r1", actor="tester")
    with running_scheduler(db, settings) as scheduler:
        pid = _until_first_try_runs(scheduler, settings)
        scheduler.stop()
        assert _gone(pid)
        ti = task_instances(db, "sleepy", "r1")["sleeper"]
        (first,) = tries_of(db, ti.id)
        assert (first.state, first.interrupted) == ("up_for_retry", True)
        assert first.error == "interrupted: scheduler stopped (retried at once; no retry spent)"
        assert ti.max_tries == 2  # one more granted: the task's own retry is still there

    with running_scheduler(db, settings) as again:  # the next scheduler retries it
        assert again.drain(DRAIN_TIMEOUT)
    assert run_state(db, "sleepy", "r1") == "success"


def test_a_task_cleared_while_running_is_killed_before_its_next_try(
    db: Database, tmp_path: Path
) -> None:
    settings = make_settings(db, tmp_path / "home")
    push_dag(db, tmp_path / "dags", "sleepy", SLEEPER)
    trigger_run(db, dag_id="sleepy", run_id="r1", actor="tester")
    with running_scheduler(db, settings) as scheduler:
        pid = _until_first_try_runs(scheduler, settings)
        clear_task_instances(
            db, "sleepy", actor="alice", task_ids=["sleeper"], only_failed=False, dag_run_id="r1"
        )
        scheduler.wake()
        assert scheduler.drain(DRAIN_TIMEOUT)
    assert _gone(pid)
    assert run_state(db, "sleepy", "r1") == "success"
    staging = staging_path(settings.staging_dir, "sleepy", "r1")
    assert not (staging / "OVERLAP").exists()
    assert (staging / "try-2.pid").exists()
