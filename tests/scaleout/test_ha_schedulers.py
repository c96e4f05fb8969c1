"""HA schedulers: several ``pinflow scheduler`` processes on one PostgreSQL database, one of
them killed with ``kill -9`` at random moments while runs are in flight (issue #13, point 4).

Every task appends one JSON line to a ledger when it starts and another when it ends (one
``O_APPEND`` write each, so lines never mix). At the end, after a drain with a deadline:

- every run succeeded and every task instance has an ``end`` line for its last try: 0 lost,
  0 stuck;
- no ``(dag, run, task, map_index, try)`` started twice: 0 duplicated tries;
- no run was created twice: the manual runs are the ones triggered, and the scheduled runs of
  two cron DAGs with catchup (which every scheduler races to create) are exactly their
  intervals;
- every scheduler process has its row in the fleet: stopped for those stopped gracefully,
  left to age for those killed.

The kills: ``KILLS`` at most, within ``CAMPAIGN_SECONDS``, each after a random pause, of a
scheduler running its loop (one still starting up is not worth a kill), never of the last one
(one always survives: this tests HA, not restarts), preferably of one running tries; the killed
one is restarted at once. A scheduler takes seconds to start on a loaded 2-core machine, which
is what bounds the count there. A kill also kills the scheduler's task processes (the local
executor's death chain), so their tries fail and are retried (retries are plentiful).

The pauses and the choices are seeded and the seed printed, with the recovery times (kill →
start of the next try of a task that ran under the killed scheduler): ``PINFLOW_HA_SEED=<seed>``
replays the schedule, not the processes' timing. ``campaign.json`` in the test's directory
records the kills.
"""

from __future__ import annotations

import json
import os
import random
import signal
import statistics
import subprocess
import sys
import textwrap
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from tests.cli.helpers import cli_env
from tests.scheduler.helpers import push_dag

from pinflow.services.commands._runs import trigger_run
from pinflow.services.engine import scheduler_id
from pinflow.store.db import Database
from pinflow.store.tables import Component, DagRun, TaskInstance

pytestmark = [pytest.mark.postgres_only, pytest.mark.timeout(150)]

SCHEDULERS = 3
KILLS = 20
TARGETED_KILLS = 5  # at most, after the random ones, if none caught a try in flight
MIN_KILLS = 3  # fewer proves little (schedulers too slow to start on a loaded machine)
MANUAL_RUNS = 6
CAMPAIGN_SECONDS = 30.0  # the kills stop by then, whatever their count
DRAIN_SECONDS = 45.0
CRON_RUNS = 8  # per cron DAG: its intervals between start_date and end_date
TASKS_PER_RUN = 30

TASK_CODE = """
    import json
    import os
    import socket
    import time

    from pinflow import chain, dag, task

    LEDGER = {ledger!r}


    def ancestors():
        found, pid = [], os.getpid()
        for _ in range(5):
            try:
                stat = open(f"/proc/{{pid}}/stat").read()
                pid = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                break
            found.append(pid)
        return found


    def note(event, dag_id, run_id, task_id, map_index, try_number):
        line = json.dumps({{
            "event": event, "dag": dag_id, "run": run_id, "task": task_id,
            "map_index": map_index, "try": try_number, "host": socket.gethostname(),
            "pid": os.getpid(), "ancestors": ancestors(), "t": time.time(),
        }}) + "\\n"
        fd = os.open(LEDGER, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode())
        finally:
            os.close(fd)


    def work(seconds, ctx):
        note("start", *ctx)
        time.sleep(seconds)
        note("end", *ctx)


    @task(retries=8, retry_delay=0)
    def step(seconds, dag_id=None, run_id=None, task_id=None, map_index=None, try_number=None):
        work(seconds, (dag_id, run_id, task_id, map_index, try_number))
        return seconds


    @task(retries=8, retry_delay=0)
    def listing(dag_id=None, run_id=None, task_id=None, map_index=None, try_number=None):
        work(0.2, (dag_id, run_id, task_id, map_index, try_number))
        return [0.3] * 6
"""

BIG_DAG = """
    @dag(dag_id="ha_big", max_active_runs=16)
    def ha_big():
        first = step.override(task_id="first")(0.2)
        links = [step.override(task_id=f"c{i}")(0.4) for i in range(1, 9)]
        fans = [step.override(task_id=f"f{i}")(0.3) for i in range(1, 13)]
        items = listing()
        mapped = step.override(task_id="m").expand(seconds=items)
        join = step.override(task_id="join")(0.1)
        last = step.override(task_id="last")(0.1)
        chain(first, *links, last)
        chain(first, fans, join, last)
        first >> items
        mapped >> join


    ha_big()
"""

CRON_DAG = """
    from datetime import datetime, timezone


    @dag(
        dag_id={dag_id!r},
        schedule="* * * * *",
        timezone="UTC",
        start_date=datetime.fromisoformat({start!r}),
        end_date=datetime.fromisoformat({end!r}),
        catchup=True,
        max_active_runs=16,
    )
    def cron_dag():
        chain(*[step.override(task_id=f"s{{i}}")(0.1) for i in range(3)])


    cron_dag()
"""


@dataclass
class Fleet:
    """The scheduler processes: started, killed (``kill -9``) and restarted, then stopped."""

    env: dict[str, str]
    home: Path
    logs: Path
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    killed: list[tuple[float, int]] = field(default_factory=list)  # (when, pid)
    stopped: list[int] = field(default_factory=list)
    spawned: dict[int, float] = field(default_factory=dict)  # pid: when
    started: int = 0

    def spawn(self) -> subprocess.Popen[bytes]:
        self.started += 1
        log = self.logs / f"scheduler-{self.started}.log"
        command = [sys.executable, "-m", "pinflow.cli", "scheduler", "--home", str(self.home)]
        with log.open("wb") as out:
            proc = subprocess.Popen(
                command, env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=self.home
            )
        self.spawned[proc.pid] = time.time()
        return proc

    def start(self, count: int) -> None:
        self.procs = [self.spawn() for _ in range(count)]

    def up(self, db: Database) -> list[int]:
        """The schedulers running their loop (their row is in the fleet)."""
        for proc in self.procs:
            assert proc.poll() is None, self.tail(f"scheduler {proc.pid} exited on its own")
        with db.read() as s:
            up = set(s.scalars(select(Component.pid).where(Component.kind == "scheduler")))
        return [i for i, proc in enumerate(self.procs) if proc.pid in up]

    def victims(self, db: Database, ledger: Path) -> list[int]:
        """Who may be killed now: a scheduler running its loop (one still starting up is not
        worth a kill), never the last one (one always survives, or this would test restarts,
        not HA); those with a try in flight first (seen in the ledger: its process's
        ancestors)."""
        up = self.up(db)
        if len(up) < 2:
            return []
        busy = in_flight_under(read_ledger(ledger))
        return [i for i in up if self.procs[i].pid in busy] or up

    def busy_victims(self, db: Database, ledger: Path) -> list[int]:
        busy = in_flight_under(read_ledger(ledger))
        up = self.up(db)
        return [i for i in up if self.procs[i].pid in busy] if len(up) >= 2 else []

    def kill_and_restart(self, index: int) -> None:
        victim = self.procs[index]
        assert victim.poll() is None, self.tail(f"scheduler {victim.pid} exited on its own")
        os.kill(victim.pid, signal.SIGKILL)
        self.killed.append((time.time(), victim.pid))
        victim.wait(10)
        self.procs[index] = self.spawn()

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                code = proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
                raise AssertionError(self.tail(f"scheduler {proc.pid} ignored SIGTERM")) from None
            assert code == 0, self.tail(f"scheduler {proc.pid} exited with {code}")
            self.stopped.append(proc.pid)

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)

    def tail(self, headline: str, lines: int = 40) -> str:
        parts = [headline]
        for log in sorted(self.logs.glob("scheduler-*.log")):
            text = log.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {log.name}\n" + "\n".join(text))
        return "\n".join(parts)


def minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def task_code(ledger: Path) -> str:
    return textwrap.dedent(TASK_CODE.format(ledger=str(ledger)))


def push_cron_dag(db: Database, dags: Path, dag_id: str, ledger: Path) -> set[str]:
    """A cron DAG whose catchup covers ``CRON_RUNS`` minutes, all in the past; the run ids
    its schedule must produce, each once."""
    end = minute(datetime.now(UTC)) - timedelta(minutes=3)
    start = end - timedelta(minutes=CRON_RUNS - 1)
    source = CRON_DAG.format(dag_id=dag_id, start=start.isoformat(), end=end.isoformat())
    push_dag(db, dags, dag_id, task_code(ledger) + textwrap.dedent(source))
    return {f"scheduled__{(start + timedelta(minutes=i)).isoformat()}" for i in range(CRON_RUNS)}


def read_ledger(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


def key_of(line: dict[str, Any]) -> tuple[str, str, str, int, int]:
    return (line["dag"], line["run"], line["task"], line["map_index"], line["try"])


def in_flight_under(ledger: list[dict[str, Any]]) -> set[int]:
    """The ancestor pids of every try that started and has not ended."""
    ended = {key_of(line) for line in ledger if line["event"] == "end"}
    return {
        pid
        for line in ledger
        if line["event"] == "start" and key_of(line) not in ended
        for pid in line["ancestors"]
    }


def kills_in_flight(ledger: list[dict[str, Any]], killed: list[tuple[float, int]]) -> int:
    """How many kills hit a scheduler with a try that started before and never ended."""
    ended = {key_of(line) for line in ledger if line["event"] == "end"}
    return sum(
        any(
            line["event"] == "start"
            and pid in line["ancestors"]
            and line["t"] <= at
            and key_of(line) not in ended
            for line in ledger
        )
        for at, pid in killed
    )


def all_runs(db: Database) -> list[tuple[str, str, str]]:
    with db.read() as s:
        rows = s.execute(select(DagRun.dag_id, DagRun.run_id, DagRun.state))
        return [(dag_id, run_id, state) for dag_id, run_id, state in rows]


def wait_until(what: str, check: Callable[[], bool], timeout: float, fleet: Fleet) -> None:
    """Other processes' progress: nothing to wait on but the clock (bounded)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(fleet.tail(f"timed out after {timeout}s waiting for {what}"))
        time.sleep(0.1)


def recovery_times(ledger: list[dict[str, Any]], killed: list[tuple[float, int]]) -> list[float]:
    """Per try that ran under a killed scheduler and never ended: seconds from the kill to the
    start of the task instance's next try."""
    ended = {key_of(line) for line in ledger if line["event"] == "end"}
    starts = sorted((line for line in ledger if line["event"] == "start"), key=lambda x: x["t"])
    times: list[float] = []
    for at, pid in killed:
        for line in starts:
            if pid in line["ancestors"] and key_of(line) not in ended and line["t"] <= at:
                later = [
                    s["t"]
                    for s in starts
                    if key_of(s)[:4] == key_of(line)[:4] and s["try"] > line["try"]
                ]
                if later:
                    times.append(min(later) - at)
    return times


@dataclass
class Campaign:
    """The runs to make and the kills to inflict, on a seeded schedule."""

    db: Database
    dags: Path
    ledger: Path
    fleet: Fleet
    rng: random.Random
    manual: set[str] = field(default_factory=set)
    cron: dict[str, set[str]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    def trigger(self) -> None:
        run_id = f"manual_{len(self.manual)}"
        trigger_run(self.db, dag_id="ha_big", run_id=run_id, actor="tester")
        self.manual.add(run_id)

    def push_cron(self, dag_id: str) -> None:
        if dag_id not in self.cron:
            self.cron[dag_id] = push_cron_dag(self.db, self.dags, dag_id, self.ledger)

    def run(self) -> None:
        """Kill a scheduler at random moments while runs are in flight, then drain."""
        self.trigger()
        self.push_cron("ha_cron_a")  # every scheduler races to create its runs
        began = time.monotonic()
        pauses = [self.rng.uniform(0.2, 1.0) for _ in range(KILLS)]
        print("pauses before the kills (s):", [round(p, 2) for p in pauses])
        for pause in pauses:
            elapsed = time.monotonic() - began
            if elapsed > CAMPAIGN_SECONDS:
                break
            # Runs in flight all along: a new one every few seconds, a cron DAG half-way.
            if len(self.manual) < 1 + elapsed * (MANUAL_RUNS - 1) / CAMPAIGN_SECONDS:
                self.trigger()
            if elapsed > CAMPAIGN_SECONDS / 2:
                self.push_cron("ha_cron_b")
            ready = lambda: bool(self.fleet.victims(self.db, self.ledger))  # noqa: E731
            wait_until("two schedulers up", ready, 30, self.fleet)
            time.sleep(pause)
            self.fleet.kill_and_restart(self.rng.choice(self.fleet.victims(self.db, self.ledger)))
        self.hit_a_try_in_flight()
        while len(self.manual) < MANUAL_RUNS:
            self.trigger()
        self.push_cron("ha_cron_b")
        self.timings["kills"] = time.monotonic() - began
        wait_until("every run to finish", self.drained, DRAIN_SECONDS, self.fleet)
        self.timings["drain"] = time.monotonic() - began - self.timings["kills"]
        # Signal handlers are installed as a scheduler starts: stop them once they run.
        everyone = lambda: len(self.fleet.up(self.db)) == SCHEDULERS  # noqa: E731
        wait_until("every scheduler up", everyone, 30, self.fleet)
        self.fleet.stop()

    def hit_a_try_in_flight(self) -> None:
        """Random moments can all fall between tries on a loaded machine: if none of the kills
        so far caught a try in flight, kill schedulers the ledger shows running one (a bounded
        number of times) so the campaign always tests what it is for."""
        for _ in range(TARGETED_KILLS):
            if kills_in_flight(read_ledger(self.ledger), self.fleet.killed):
                return
            busy = lambda: bool(self.fleet.busy_victims(self.db, self.ledger))  # noqa: E731
            if len(self.manual) < MANUAL_RUNS:
                self.trigger()  # work to catch in flight
            wait_until("a scheduler running a try", busy, 30, self.fleet)
            self.fleet.kill_and_restart(
                self.rng.choice(self.fleet.busy_victims(self.db, self.ledger))
            )

    def drained(self) -> bool:
        runs = all_runs(self.db)
        expected = len(self.manual) + CRON_RUNS * len(self.cron)
        return len(runs) >= expected and all(s in ("success", "failed") for *_, s in runs)


def task_instances(db: Database) -> list[Any]:
    with db.read() as s:
        return list(
            s.execute(
                select(
                    DagRun.dag_id,
                    DagRun.run_id,
                    TaskInstance.task_id,
                    TaskInstance.map_index,
                    TaskInstance.try_number,
                    TaskInstance.state,
                ).join(DagRun, DagRun.id == TaskInstance.run_pk)
            ).all()
        )


def assert_each_run_created_once(campaign: Campaign, context: str) -> None:
    runs = all_runs(campaign.db)
    ids = Counter((dag_id, run_id) for dag_id, run_id, _ in runs)
    assert [k for k, n in ids.items() if n > 1] == [], context
    by_dag: dict[str, set[str]] = {}
    for dag_id, run_id, _ in runs:
        by_dag.setdefault(dag_id, set()).add(run_id)
    assert by_dag == {"ha_big": campaign.manual, **campaign.cron}, context
    assert [r for r in runs if r[2] != "success"] == [], context


def assert_each_try_started_once_and_none_lost(
    campaign: Campaign, ledger: list[dict[str, Any]], context: str
) -> None:
    started = Counter(key_of(line) for line in ledger if line["event"] == "start")
    twice = [key for key, n in started.items() if n > 1]
    assert twice == [], f"{context}: tries started twice: {twice}"
    tis = task_instances(campaign.db)
    per_run = Counter((dag_id, run_id) for dag_id, run_id, *_ in tis)
    assert {per_run[("ha_big", run_id)] for run_id in campaign.manual} == {TASKS_PER_RUN}
    assert [ti for ti in tis if ti.state != "success"] == [], context
    ended = {key_of(line) for line in ledger if line["event"] == "end"}
    missing = [tuple(ti[:5]) for ti in tis if tuple(ti[:5]) not in ended]
    assert missing == [], f"{context}: succeeded without a trace in the ledger: {missing}"


def assert_every_scheduler_in_the_fleet(fleet: Fleet, db: Database, host: str) -> None:
    """The stopped ones say they stopped; the killed ones are left to age."""
    with db.read() as s:
        rows = {row.id: row for row in s.scalars(select(Component))}
    for _, pid in fleet.killed:
        assert scheduler_id(host, pid) in rows, pid
        assert rows[scheduler_id(host, pid)].stopped_at is None, pid
    for pid in fleet.stopped:
        assert scheduler_id(host, pid) in rows, pid
        assert rows[scheduler_id(host, pid)].stopped_at is not None, pid


def report(campaign: Campaign, ledger: list[dict[str, Any]], recoveries: list[float]) -> None:
    fleet, timings = campaign.fleet, campaign.timings
    with campaign.db.read() as s:
        rows = s.execute(select(Component.pid, Component.started_at)).all()
    startups = [at.timestamp() - fleet.spawned[pid] for pid, at in rows if pid in fleet.spawned]
    started = {key_of(line) for line in ledger if line["event"] == "start"}
    tries = Counter(key[:4] for key in started)
    ends = Counter(key_of(line)[:4] for line in ledger if line["event"] == "end")
    print(
        f"HA campaign: {len(fleet.killed)} kills in {timings['kills']:.1f}s, drained "
        f"{timings['drain']:.1f}s later; {len(tries)} task instances, {len(started)} tries "
        f"started, {len(started) - len(tries)} retried, {sum(n > 1 for n in ends.values())} "
        "ran to their end twice (their scheduler died before recording the result)"
    )
    print(
        f"a scheduler's start (spawn to its first beat): median {statistics.median(startups):.1f}s"
    )
    print(
        f"recovery after a kill (to the next try's start): {len(recoveries)} tries, "
        f"median {statistics.median(recoveries):.2f}s, max {max(recoveries):.2f}s"
    )


def test_schedulers_killed_at_random_create_no_run_twice_and_start_no_try_twice(
    pg_db: Database, tmp_path: Path
) -> None:
    seed = int(os.environ.get("PINFLOW_HA_SEED") or random.SystemRandom().randrange(2**32))
    print(f"HA campaign seed {seed} (replay the kill schedule: PINFLOW_HA_SEED={seed})")
    home, dags, logs = tmp_path / "home", tmp_path / "dags", tmp_path / "logs"
    for folder in (home, logs):
        folder.mkdir()
    ledger_path = tmp_path / "ledger.jsonl"
    push_dag(pg_db, dags, "ha_big", task_code(ledger_path) + textwrap.dedent(BIG_DAG))
    env = cli_env(
        PINFLOW_HOME=str(home),
        PINFLOW_DATABASE_URL=pg_db.url,
        PINFLOW_EXECUTOR="local",
        PINFLOW_PARALLELISM="6",
        PINFLOW_SWEEP_INTERVAL="0.3",
        PINFLOW_HEARTBEAT_INTERVAL="0.5",
        PINFLOW_ZOMBIE_THRESHOLD="3",
        PINFLOW_STOP_GRACE="1",
    )
    fleet = Fleet(env, home, logs)
    campaign = Campaign(pg_db, dags, ledger_path, fleet, random.Random(seed))
    fleet.start(SCHEDULERS)
    try:
        campaign.run()
    finally:
        fleet.kill_all()
        record = {"seed": seed, "killed": fleet.killed, "spawned": fleet.spawned}
        (tmp_path / "campaign.json").write_text(json.dumps(record))  # to study a failure

    context = f"seed {seed}"
    ledger = read_ledger(ledger_path)
    assert_each_run_created_once(campaign, context)
    assert_each_try_started_once_and_none_lost(campaign, ledger, context)
    assert_every_scheduler_in_the_fleet(fleet, pg_db, ledger[0]["host"])
    # The campaign did what it is for: schedulers killed while they ran tries.
    recoveries = recovery_times(ledger, fleet.killed)
    kills = len(fleet.killed)
    assert kills >= MIN_KILLS, fleet.tail(f"{context}: only {kills} kills")
    assert recoveries, f"{context}: no kill hit a scheduler while it ran a try"
    report(campaign, ledger, recoveries)
