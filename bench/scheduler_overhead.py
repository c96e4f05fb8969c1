"""The scheduler's own cost per task, with no task processes: what issue #3's "scheduler
overhead ≤ 1 ms per task" is about, isolated from forks, the API and a busy machine.

The real ``Scheduler`` loop (``pinflow.scheduler.loop``) drives an executor that ends every
try as soon as it is submitted (a no-op task that takes no time): so every database
transaction, plan, claim, start, report and request the scheduler makes for a task is
measured, and nothing else. The figure is the process's CPU time (``process_time``) from the
run's creation (``trigger_run``, the API's work, is timed apart) to its final state, divided
by the number of task instances.

    .venv/bin/python bench/scheduler_overhead.py                    # 100 chains of 100
    .venv/bin/python bench/scheduler_overhead.py --shape chain --depth 20
    .venv/bin/python bench/scheduler_overhead.py --shape fan --width 100
    .venv/bin/python bench/scheduler_overhead.py --db postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/scheduler_overhead.py --profile /tmp/overhead.pstats
    .venv/bin/python bench/scheduler_overhead.py --both --db postgresql://…   # SQLite, then PG
    .venv/bin/python bench/scheduler_overhead.py --shape chain --depth 10 --runs 1000 --db …

``bench/scheduler_scale.py`` measures the same DAG with real task processes.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import cProfile
import dataclasses
import os
import resource
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text

from pinflow.runtime.contract import TaskKey, TaskRequest, TaskResult
from pinflow.scheduler.loop import Scheduler
from pinflow.services.commands._push import register_snapshot
from pinflow.services.commands._runs import trigger_run
from pinflow.settings import Settings
from pinflow.spec.bundle_rules import DEFAULT_LIMITS
from pinflow.spec.models import DagSpec
from pinflow.store.db import Database
from pinflow.store.migrate import upgrade


class InstantExecutor:
    """The ``Executor`` protocol, with tries that succeed the moment they are submitted."""

    def __init__(self, parallelism: int) -> None:
        self.parallelism = parallelism
        self._ready: list[TaskResult] = []
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        self.submitted = 0

    def start(self) -> None: ...

    def free_slots(self) -> int:
        return max(0, self.parallelism - len(self._ready))

    def submit(self, request: TaskRequest) -> None:
        self.submitted += 1
        self._ready.append(TaskResult(request.ti_id, request.try_number, success=True))
        os.write(self._w, b"!")

    def poll(self, timeout: float = 0.0) -> list[TaskResult]:
        with contextlib.suppress(BlockingIOError):
            os.read(self._r, 65536)
        ready, self._ready = self._ready, []
        return ready

    def fileno(self) -> int:
        return self._r

    def live(self) -> list[TaskKey]:
        return [result.key for result in self._ready]

    def kill(self, key: TaskKey, reason: str) -> None: ...

    def stop(self, *, graceful: bool = True) -> list[TaskResult]:
        return self.poll()


def count_round_trips() -> collections.Counter[str]:
    """Count the statements and commits every connection sends (SQLite's and psycopg's, the
    prepared hot path's included, which bypasses SQLAlchemy's events), and the round trips on
    PostgreSQL: a statement each, except that the statements sent in one psycopg pipeline
    share one (an ``executemany``, which makes its own: ``Together`` with several rows,
    ADR 0048). SQLite's are counted by ``count_sqlite`` once its engine exists."""
    counts: collections.Counter[str] = _HotCounter()
    piped = [0]  # >0: inside a pipeline (or an executemany, which makes its own)

    def counted(cls: Any, name: str, key: str) -> None:
        original = getattr(cls, name)

        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            counts[key] += 1
            if key == "execute" and not piped[0]:
                counts["round_trips"] += 1
            if name != "executemany":
                return original(self, *args, **kwargs)
            piped[0] += 1
            try:
                return original(self, *args, **kwargs)
            finally:
                piped[0] -= 1

        setattr(cls, name, wrapper)

    with contextlib.suppress(ImportError):
        import psycopg

        counted(psycopg.Cursor, "execute", "execute")
        counted(psycopg.Cursor, "executemany", "execute")
        counted(psycopg.Connection, "commit", "commit")
        pipeline = psycopg.Connection.pipeline

        @contextlib.contextmanager
        def counted_pipeline(self: Any) -> Any:
            if not piped[0]:
                counts["round_trips"] += 1  # its one Sync
            piped[0] += 1
            try:
                with pipeline(self) as p:
                    yield p
            finally:
                piped[0] -= 1

        psycopg.Connection.pipeline = counted_pipeline  # type: ignore[method-assign]
    return counts


_SECTIONS = ("hot", "poll", "sweep")


class _HotCounter(collections.Counter[str]):
    """Counts each key, and also as ``<section>_<key>`` while the scheduler is in one of the
    ``_SECTIONS``: ``hot`` while it records a step's results and claims what they freed
    (``Scheduler._report_and_dispatch``: the hot path's own statements), ``poll`` while it
    looks for new runs (``_start_new_runs``), ``sweep`` during the safety sweep (``_sweep``).
    The polls' and the sweeps' number grows with the wall time (so with the machine's load);
    what is left (retry and deadline timers, heartbeats, the drain's idle checks) is the
    rest."""

    section: str | None = None

    def __missing__(self, key: str) -> int:
        return 0

    def __setitem__(self, key: str, value: int) -> None:
        section = self.section
        if section is not None and not key.startswith(_SECTIONS):
            name = f"{section}_{key}"
            super().__setitem__(name, self[name] + value - self[key])
        super().__setitem__(key, value)


def count_hot_path(counts: collections.Counter[str]) -> None:
    """Count the statements of each of ``_SECTIONS`` apart (see ``_HotCounter``)."""
    for section, method in (
        ("hot", "_report_and_dispatch"),
        ("poll", "_start_new_runs"),
        ("sweep", "_sweep"),
    ):
        _count_in(counts, section, method)


def _count_in(counts: collections.Counter[str], section: str, method: str) -> None:
    original = getattr(Scheduler, method)

    def counted(self: Scheduler, *args: Any) -> Any:
        outer = counts.section  # type: ignore[attr-defined]
        counts.section = section  # type: ignore[attr-defined]
        try:
            return original(self, *args)
        finally:
            counts.section = outer  # type: ignore[attr-defined]

    setattr(Scheduler, method, counted)


def count_sqlite(db: Database, counts: collections.Counter[str]) -> None:
    """SQLite's statements and commits: its trace callback sees every statement a connection
    runs (``BEGIN`` not counted, as psycopg's are not)."""
    if db.engine.dialect.name != "sqlite":
        return

    def trace(sql: str) -> None:
        head = sql.lstrip()[:6].upper()
        if head == "COMMIT":
            counts["commit"] += 1
        elif not head.startswith("BEGIN"):
            counts["execute"] += 1
            counts["round_trips"] += 1  # in process: no network, a statement each

    @event.listens_for(db.engine, "checkout")
    def _traced(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        dbapi_connection.set_trace_callback(trace)


def build_spec(shape: str, width: int, depth: int, *, max_active_runs: int = 16) -> DagSpec:
    tasks: list[dict[str, Any]] = []

    def add(task_id: str, upstream: list[str]) -> None:
        tasks.append(
            {"task_id": task_id, "kind": "bash", "bash_command": "true", "depends_on": upstream}
        )

    if shape == "chain":
        for i in range(depth):
            add(f"t{i:05d}", [f"t{i - 1:05d}"] if i else [])
    elif shape == "chains":
        for c in range(width):
            for i in range(depth):
                add(f"c{c:03d}_{i:04d}", [f"c{c:03d}_{i - 1:04d}"] if i else [])
    else:  # fan: 1 -> width -> 1
        add("start", [])
        for i in range(width):
            add(f"m{i:05d}", ["start"])
        add("join", [f"m{i:05d}" for i in range(width)])
    runs = max(16, max_active_runs)
    dag = {"dag_id": f"overhead_{shape}", "tasks": tasks, "max_active_runs": runs}
    return DagSpec.model_validate(dag)


def open_db(url: str | None, home: Path) -> tuple[Database, str | None]:
    if url is None:
        return Database(f"sqlite:///{home / 'pinflow.db'}"), None
    name = f"pinflow_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return Database(url.rsplit("/", 1)[0] + "/" + name), name


def drop_db(url: str, name: str) -> None:
    admin = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@dataclass(frozen=True)
class Measured:
    database: str
    tasks: int
    runs: int
    idle: bool
    submitted: int
    trigger: float
    wall: float
    cpu: float
    counts: dict[str, int]
    peak_rss_mb: float
    load: tuple[float, float, float]  # when it started


def report(args: argparse.Namespace, m: Measured) -> None:
    n = m.tasks
    print(
        f"Pinflow scheduler overhead: {args.shape}, {m.runs} run(s), {n} tasks, "
        f"parallelism {args.parallelism}"
    )
    print(f"  database              {m.database}")
    print(f"  load average at start {' '.join(f'{x:.2f}' for x in m.load)}")
    print(f"  drained               {m.idle} ({m.submitted} tries)")
    print(f"  trigger (API's work)  {m.trigger * 1000:.1f} ms (the runs and their task instances)")
    print(f"  wall                  {m.wall:.3f} s   ({m.wall / n * 1000:.3f} ms per task)")
    print(f"  scheduler CPU         {m.cpu:.3f} s   ({m.cpu / n * 1000:.3f} ms per task)")
    statements, commits = m.counts.get("execute", 0), m.counts.get("commit", 0)
    trips = m.counts.get("round_trips", 0)
    print(f"  statements            {statements}   ({statements / n:.1f} per task)")
    if m.database == "PostgreSQL":
        print(f"  round trips           {trips}   ({trips / n:.1f} per task, commits apart)")
    print(f"  commits               {commits}   ({commits / n:.1f} per task)")
    hot = [m.counts.get(f"hot_{key}", 0) / n for key in ("execute", "round_trips", "commit")]
    print(
        f"  hot path per task     {hot[0]:.2f} statements, {hot[1]:.2f} round trips, "
        f"{hot[2]:.2f} commits (a step's reports and claims; the timers' work left out)"
    )
    for section in ("poll", "sweep"):
        got = [m.counts.get(f"{section}_{key}", 0) / n for key in ("execute", "commit")]
        print(f"  {section + 's':<6} per task       {got[0]:.2f} statements, {got[1]:.2f} commits")
    print(f"  peak RSS (process)    {m.peak_rss_mb:.0f} MB")
    verdict = "met" if m.cpu / n <= 0.001 else f"MISSED ({m.cpu / n / 0.001:.1f}x)"
    print(f"  target                <= 1 ms per task (issues #3 and #17): {verdict}")


def measure(
    args: argparse.Namespace, url: str | None, counts: collections.Counter[str]
) -> Measured:
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="pinflow-overhead-") as tmp:
        home = Path(tmp)
        db, created = open_db(url, home)
        try:
            count_sqlite(db, counts)
            upgrade(db)
            spec = build_spec(args.shape, args.width, args.depth, max_active_runs=args.runs)
            # A 10,000-task DAG is past the default per-DAG limit (5,000): the bench's own.
            limits = dataclasses.replace(DEFAULT_LIMITS, max_tasks_per_dag=len(spec.tasks))
            register_snapshot(db, spec, actor="bench", limits=limits)
            settings = Settings(home=home)
            executor = InstantExecutor(args.parallelism)
            scheduler = Scheduler(db, executor, settings)  # type: ignore[arg-type]
            scheduler.start()
            # A CPU clock (--profile-clock cpu) leaves out the time spent waiting on the server.
            timer = time.process_time if args.profile_clock == "cpu" else time.perf_counter
            profiler = cProfile.Profile(timer) if args.profile else None
            trigger = time.perf_counter()
            for _ in range(args.runs):  # all of them waiting at once: concurrent runs
                trigger_run(db, dag_id=spec.dag_id, actor="bench")
            trigger = time.perf_counter() - trigger
            wall, cpu = time.perf_counter(), time.process_time()
            counts.clear()
            if profiler:
                profiler.enable()
            idle = scheduler.drain(timeout=3600)
            if profiler:
                profiler.disable()
                profiler.dump_stats(args.profile)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            measured = dict(counts)
            scheduler.close()
        finally:
            db.dispose()
            if created:
                drop_db(url, created)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    database = "PostgreSQL" if url else "SQLite (file, WAL)"
    n = len(spec.tasks) * args.runs
    times = (trigger, wall, cpu)
    return Measured(database, n, args.runs, idle, executor.submitted, *times, measured, rss, load)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=["chains", "chain", "fan"], default="chains")
    parser.add_argument("--width", type=int, default=100)
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--runs", type=int, default=1, help="concurrent runs of the DAG")
    parser.add_argument("--parallelism", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--db", help="a PostgreSQL server URL (a fresh database is created)")
    parser.add_argument(
        "--both", action="store_true", help="SQLite, then PostgreSQL at --db, in one run"
    )
    parser.add_argument("--profile", help="cProfile the scheduler into this file")
    parser.add_argument(
        "--profile-clock",
        choices=["wall", "cpu"],
        default="wall",
        help="what the profile measures: wall time (default) or this process's CPU time",
    )
    args = parser.parse_args()
    if args.both and not args.db:
        parser.error("--both needs --db (the PostgreSQL server)")
    counts = count_round_trips()
    count_hot_path(counts)
    urls = [None, args.db] if args.both else [args.db]
    results = [measure(args, url, counts) for url in urls]
    for m in results:
        report(args, m)
    return 0 if all(m.idle for m in results) else 1


if __name__ == "__main__":
    sys.exit(main())
