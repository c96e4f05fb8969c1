"""A randomized crash campaign: ``kill -9`` of the scheduler, of ``pinflow standalone`` and of
task processes at random moments, then the guarantee checked against a ledger the tasks keep.

The guarantee (docs/adr/0022-interrupted-tries.md): a crash fails no run and loses no task;
an interrupted try runs again (at least once), but a try whose result was recorded never runs
again and two tries of a task never overlap. The tasks have no retries and the default
``retry_delay`` of 300 s, so any try that a crash failed, or made wait out the delay, would
show as a failed or unfinished run.

Bounded: ``KILLS`` kills (at least 20), each at a random moment drawn from a seeded generator
(``PINFLOW_CAMPAIGN_SEED`` replays a campaign; the seed is printed), within ``BUDGET`` seconds.
Prints the recovery time: from a restart to the first try that starts after it.
"""

from __future__ import annotations

import os
import random
import signal
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
from tests.scheduler.helpers import push_dag, run_state, task_instances, tries_of
from tests.scheduler.test_crash import eventually, process_exists

from pinflow.services.commands._runs import trigger_run
from pinflow.store.db import Database
from pinflow.store.tables import TaskInstance

KILLS = int(os.environ.get("PINFLOW_CAMPAIGN_KILLS", "20"))
BUDGET = 200.0  # seconds for the whole campaign, kills and the final drain
LAYERS, WIDTH = 5, 4

LEDGER_DAG = """
    import fcntl
    import os
    import time

    from pinflow import dag, task

    LEDGER = {ledger!r}


    def note(line):
        fd = os.open(LEDGER, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (line + "\\n").encode())  # one short O_APPEND write: never torn
        finally:
            os.close(fd)


    @task
    def step(name, seconds):
        key = os.environ["PINFLOW_RUN_ID"] + "/" + name
        try_number = os.environ["PINFLOW_TRY_NUMBER"]
        lock = open(LEDGER + "." + key.replace("/", "_") + ".lock", "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            note(f"OVERLAP {{key}} {{try_number}} {{os.getpid()}}")
            raise
        note(f"start {{key}} {{try_number}} {{os.getpid()}}")
        time.sleep(seconds)
        note(f"end {{key}} {{try_number}} {{os.getpid()}}")
        return name


    @dag(dag_id="ledger", max_active_runs=2)
    def ledger():
        previous = []
        for layer in range({layers}):
            current = [
                step.override(task_id=f"t{{layer}}_{{i}}")(f"t{{layer}}_{{i}}", 0.15 + 0.1 * i)
                for i in range({width})
            ]
            for up in previous:
                for down in current:
                    up >> down
            previous = current


    ledger()
"""


class Campaign:
    def __init__(self, db: Database, tmp_path: Path) -> None:
        self.db = db
        self.home = tmp_path / "home"
        self.ledger = tmp_path / "ledger.log"
        self.log = tmp_path / "processes.log"
        self.seed = int(os.environ.get("PINFLOW_CAMPAIGN_SEED", str(random.randrange(2**32))))
        self.rng = random.Random(self.seed)
        self.runs: list[str] = []
        self.kills: dict[str, int] = defaultdict(int)
        self.recoveries: list[float] = []

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "PINFLOW_HOME": str(self.home),
            "PINFLOW_DATABASE_URL": self.db.url,
            "PINFLOW_ZOMBIE_THRESHOLD": "2",
            "PINFLOW_SWEEP_INTERVAL": "0.2",
            "PINFLOW_PARALLELISM": "4",
            "PINFLOW_STOP_GRACE": "1",
            # A random campaign may interrupt one task's tries many times in a row; the bound
            # is tested on its own (tests/scheduler/test_recovery.py).
            "PINFLOW_MAX_INTERRUPTIONS": str(KILLS + 1),
        }

    def start(self, kind: str) -> subprocess.Popen[bytes]:
        if kind == "standalone":
            command = [sys.executable, "-m", "pinflow.cli", "standalone", "--port", "0"]
            command += ["--no-examples", "--home", str(self.home)]
        else:
            command = [sys.executable, "-m", "pinflow.scheduler", "--home", str(self.home)]
            command += ["--db", self.db.url]
        with self.log.open("ab") as out:
            return subprocess.Popen(command, env=self.env(), stdout=out, stderr=subprocess.STDOUT)

    def lines(self) -> list[list[str]]:
        if not self.ledger.exists():
            return []
        return [line.split() for line in self.ledger.read_text().splitlines()]

    def running_task_pids(self) -> list[int]:
        open_pids: dict[str, int] = {}
        for kind, key, _try, pid in self.lines():
            if kind == "start":
                open_pids[key] = int(pid)
            elif kind == "end":
                open_pids.pop(key, None)
        return [pid for pid in open_pids.values() if process_exists(pid)]

    def trigger(self) -> None:
        run_id = f"r{len(self.runs) + 1}"
        trigger_run(self.db, dag_id="ledger", run_id=run_id, actor="tester")
        self.runs.append(run_id)

    def unfinished(self) -> list[str]:
        return [
            r for r in self.runs if run_state(self.db, "ledger", r) not in ("success", "failed")
        ]

    def one_cycle(self, deadline: float) -> None:
        """Start a supervisor, let it work for a random moment, then kill something -9."""
        kind = self.rng.choice(("scheduler", "scheduler", "standalone"))
        starts_before = sum(1 for line in self.lines() if line[0] == "start")
        began = time.monotonic()
        process = self.start(kind)
        try:
            # Recovery: the first try to start after this restart (unless all is done).
            def started() -> bool:
                return sum(1 for line in self.lines() if line[0] == "start") > starts_before

            eventually(
                lambda: started() or not self.unfinished(),
                max(1.0, deadline - time.monotonic()),
                self.log,
            )
            if started():
                self.recoveries.append(time.monotonic() - began)
            moment = time.monotonic() + self.rng.uniform(0.0, 1.2)
            eventually(lambda: time.monotonic() >= moment, 5, self.log)
            victims = self.running_task_pids()
            if victims and self.rng.random() < 0.3:
                os.kill(self.rng.choice(victims), signal.SIGKILL)
                self.kills["task process"] += 1
                # The supervisor lives on and retries it; give it a moment, then kill it too.
                moment = time.monotonic() + self.rng.uniform(0.0, 0.8)
                eventually(lambda: time.monotonic() >= moment, 5, self.log)
            process.kill()  # SIGKILL: no cleanup, no goodbye
            self.kills[kind] += 1
        finally:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)
        for pid in self.running_task_pids():  # its task processes die with it (PDEATHSIG)
            eventually(lambda pid=pid: not process_exists(pid), 10, self.log)


@pytest.mark.timeout(BUDGET + 60)
def test_a_randomized_kill_campaign_fails_no_run_loses_no_task_and_reruns_no_result(
    db: Database, tmp_path: Path
) -> None:
    campaign = Campaign(db, tmp_path)
    print(f"\nkill campaign on {db.url.split(':')[0]}: seed {campaign.seed}")
    push_dag(
        db,
        tmp_path / "dags",
        "ledger",
        LEDGER_DAG.format(ledger=str(campaign.ledger), layers=LAYERS, width=WIDTH),
    )
    deadline = time.monotonic() + BUDGET
    campaign.trigger()
    campaign.trigger()
    while sum(campaign.kills.values()) < KILLS:
        assert time.monotonic() < deadline, f"campaign over budget: {dict(campaign.kills)}"
        if not campaign.unfinished():
            campaign.trigger()  # keep work in flight until every kill has happened
        campaign.one_cycle(deadline)

    final = campaign.start("scheduler")
    try:
        eventually(
            lambda: not campaign.unfinished(), max(1.0, deadline - time.monotonic()), campaign.log
        )
    finally:
        final.kill()
        final.wait(timeout=30)

    lines = campaign.lines()
    assert not [line for line in lines if line[0] == "OVERLAP"], "two tries of a task overlapped"
    starts: dict[str, list[int]] = defaultdict(list)
    for kind, key, try_number, _pid in lines:
        if kind == "start":
            starts[key].append(int(try_number))
    failed_by_crash = spent = 0
    for run_id in campaign.runs:
        tis = task_instances(db, "ledger", run_id)
        assert run_state(db, "ledger", run_id) == "success", _story(db, run_id, tis)
        assert len(tis) == LAYERS * WIDTH
        for task_id, ti in tis.items():
            assert ti.state == "success", f"{run_id}/{task_id} lost: {ti.state}"
            tries = tries_of(db, ti.id)
            successes = [t.try_number for t in tries if t.state == "success"]
            assert successes == [ti.try_number], f"{run_id}/{task_id}: {successes}"
            # Every earlier try was an interruption: none spent a retry (the task has none).
            spent += sum(1 for t in tries if t.state != "success" and not t.interrupted)
            failed_by_crash += sum(1 for t in tries if t.state == "failed")
            # A recorded result is never executed again: no try starts after the successful one.
            key = f"{run_id}/{task_id}"
            assert max(starts[key]) == ti.try_number, f"{key} ran after its result: {starts[key]}"
    assert (failed_by_crash, spent) == (0, 0)
    recoveries = sorted(campaign.recoveries)
    print(
        f"kill campaign: {sum(campaign.kills.values())} kills -9 ({dict(campaign.kills)}), "
        f"{len(campaign.runs)} runs of {LAYERS * WIDTH} tasks, all succeeded; 0 lost, "
        f"0 re-executed after their result; recovery (restart to the next try's start) "
        f"p50 {statistics.median(recoveries):.2f}s max {recoveries[-1]:.2f}s"
    )


def _story(db: Database, run_id: str, tis: dict[str, TaskInstance]) -> str:
    """What became of a run that did not succeed: its task instances' tries."""
    lines = [f"run {run_id} did not succeed:"]
    for task_id, ti in sorted(tis.items()):
        tries = [(t.try_number, t.state, t.interrupted, t.error) for t in tries_of(db, ti.id)]
        lines.append(f"  {task_id}: {ti.state} try {ti.try_number}/{ti.max_tries} {tries}")
    return "\n".join(lines)
