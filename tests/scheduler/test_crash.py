"""Crash safety with real processes: ``kill -9`` of the scheduler, and of a task process.

The scheduler runs in a subprocess (``python -m pinflow.scheduler``), as in production.
Tasks take an exclusive ``flock`` for their whole run: a second process of the same task
running at the same time could not take it and would record ``OVERLAP``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.scheduler.helpers import make_settings, push_dag, run_state, task_instances, tries_of

from pinflow.runtime.paths import staging_path
from pinflow.services.commands._runs import trigger_run
from pinflow.settings import Settings
from pinflow.store.db import Database

CRASHY = """
    import fcntl
    import os
    import time
    from pathlib import Path

    from pinflow import chain, dag, task


    def guarded(name, seconds):
        staging = Path(os.environ["PINFLOW_STAGING_DIR"])
        markers = staging / "markers.log"
        lock = open(staging / f"{name}.lock", "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            with markers.open("a") as out:
                out.write(f"OVERLAP {name} {os.getpid()}\\n")
            raise
        with markers.open("a") as out:
            out.write(f"start {name} {os.getpid()}\\n")
        time.sleep(seconds)
        with markers.open("a") as out:
            out.write(f"end {name} {os.getpid()}\\n")
        return name


    @task  # no retries, and the default retry_delay of 300 s: a crash must cost neither
    def step(name, seconds):
        return guarded(name, seconds)


    @dag(dag_id="crashy", max_active_runs=4)
    def crashy():
        chain(
            step.override(task_id="a")("a", 1.5),
            step.override(task_id="b")("b", 0.2),
            step.override(task_id="c")("c", 0.2),
        )
        step.override(task_id="side")("side", 1.5)


    crashy()
"""

RUNS = ("r1", "r2")
TASKS = ("a", "b", "c", "side")


def scheduler_process(settings: Settings, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PINFLOW_ZOMBIE_THRESHOLD": "2",
        "PINFLOW_SWEEP_INTERVAL": "0.2",
        "PINFLOW_PARALLELISM": "4",
        "PINFLOW_STOP_GRACE": "1",
    }
    command = [sys.executable, "-m", "pinflow.scheduler"]
    command += ["--db", settings.database_url, "--home", str(settings.home), *extra]
    with log.open("ab") as out:
        return subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)


def markers(settings: Settings, run_id: str) -> list[list[str]]:
    path = staging_path(settings.staging_dir, "crashy", run_id) / "markers.log"
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def test_kill_9_of_the_scheduler_mid_run_then_a_restart_finishes_every_run(
    db: Database, tmp_path: Path
) -> None:
    settings = make_settings(db, tmp_path / "home")
    push_dag(db, tmp_path / "dags", "crashy", CRASHY)
    for run_id in RUNS:
        trigger_run(db, dag_id="crashy", run_id=run_id, actor="tester")
    log = tmp_path / "scheduler.log"

    # Kill it twice: while the first tasks run, then around the chain's hand-over to ``b``.
    moments: list[Callable[[], bool]] = [
        lambda: all(markers(settings, r) for r in RUNS),
        lambda: any(m[:2] == ["start", "b"] for r in RUNS for m in markers(settings, r)),
    ]
    for moment in moments:
        crashing = scheduler_process(settings, log)
        try:
            eventually(moment, 60, log)
        finally:
            crashing.kill()  # SIGKILL: no cleanup, no goodbye
            crashing.wait(timeout=30)
        started = [int(m[2]) for r in RUNS for m in markers(settings, r) if m[0] == "start"]
        for pid in started:  # the task processes died with the scheduler
            eventually(lambda pid=pid: not process_exists(pid), 10, log)

    second = scheduler_process(settings, log, "--until-idle", "--timeout", "90")
    assert second.wait(timeout=110) == 0, log.read_text()

    for run_id in RUNS:
        assert run_state(db, "crashy", run_id) == "success", log.read_text()
        lines = markers(settings, run_id)
        assert not [m for m in lines if m[0] == "OVERLAP"], lines
        for name in TASKS:
            assert_tries_never_interleave([m for m in lines if m[1] == name])
        tis = task_instances(db, "crashy", run_id)
        assert {ti.state for ti in tis.values()} == {"success"}


VICTIM = """
    import os
    import time
    from pathlib import Path

    from pinflow import dag, task


    @task  # no retries, and the default retry_delay of 300 s: a kill -9 must cost neither
    def victim():
        staging = Path(os.environ["PINFLOW_STAGING_DIR"])
        tries = staging / "tries"
        with tries.open("a") as out:
            out.write("x\\n")
        if len(tries.read_text().splitlines()) == 1:
            (staging / "victim.pid").write_text(str(os.getpid()))
            time.sleep(60)
        return "second try"


    @dag(dag_id="victim")
    def victim_dag():
        victim()


    victim_dag()
"""


def test_kill_9_of_a_task_process_is_detected_and_retried(db: Database, tmp_path: Path) -> None:
    settings = make_settings(db, tmp_path / "home")
    push_dag(db, tmp_path / "dags", "victim", VICTIM)
    trigger_run(db, dag_id="victim", run_id="r1", actor="tester")
    log = tmp_path / "scheduler.log"
    pid_file = staging_path(settings.staging_dir, "victim", "r1") / "victim.pid"

    scheduler = scheduler_process(settings, log, "--until-idle", "--timeout", "90")
    try:
        eventually(lambda: pid_file.exists() and pid_file.read_text() != "", 60, log)
        os.kill(int(pid_file.read_text()), signal.SIGKILL)
        assert scheduler.wait(timeout=110) == 0, log.read_text()
    finally:
        if scheduler.poll() is None:
            scheduler.kill()
            scheduler.wait(timeout=30)

    assert run_state(db, "victim", "r1") == "success"
    ti = task_instances(db, "victim", "r1")["victim"]
    first, second = tries_of(db, ti.id)
    # Killed from outside: an interruption, retried at once with one more try granted.
    assert (first.state, first.error, first.interrupted) == (
        "up_for_retry",
        "interrupted: the task process killed by signal SIGKILL (retried at once; no retry spent)",
        True,
    )
    assert (second.state, second.interrupted) == ("success", False)
    assert (ti.try_number, ti.max_tries) == (2, 1)  # the task's own retries (0) were not spent


# -- helpers -----------------------------------------------------------------------------------


def assert_tries_never_interleave(events: list[list[str]]) -> None:
    """Each ``end`` closes the latest ``start`` and comes from its process; a ``start`` without
    an ``end`` is a try killed with its scheduler. The last try ended.

    A task may run again after an ``end`` (it finished, but the scheduler died before it could
    record that: at-least-once, as in Airflow), yet never while another of its tries runs.
    """
    open_pid: str | None = None
    for kind, _name, pid in events:
        if kind == "start":
            open_pid = pid
        else:
            assert (kind, pid) == ("end", open_pid), events
            open_pid = None
    assert events, "the task never ran"
    assert events[-1][0] == "end", events


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def eventually(predicate: Callable[[], bool], timeout: float, log: Path) -> None:
    """Another process's progress: nothing to wait on but the clock (bounded)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out; scheduler log:\n{log.read_text()}"
        time.sleep(0.02)
