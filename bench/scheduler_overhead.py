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

``bench/scheduler_scale.py`` measures the same DAG with real task processes.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import cProfile
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from pinflow.runtime.contract import TaskKey, TaskRequest, TaskResult
from pinflow.scheduler.loop import Scheduler
from pinflow.services.commands._push import register_snapshot
from pinflow.services.commands._runs import trigger_run
from pinflow.settings import Settings
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
    prepared hot path's included, which bypasses SQLAlchemy's events): a round trip each on
    PostgreSQL."""
    counts: collections.Counter[str] = collections.Counter()

    def counted(cls: Any, name: str, key: str) -> None:
        original = getattr(cls, name)

        def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
            counts[key] += 1
            return original(self, *args, **kwargs)

        setattr(cls, name, wrapper)

    with contextlib.suppress(ImportError):
        import psycopg

        counted(psycopg.Cursor, "execute", "execute")
        counted(psycopg.Cursor, "executemany", "execute")
        counted(psycopg.Connection, "commit", "commit")
    return counts


def build_spec(shape: str, width: int, depth: int) -> DagSpec:
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
    return DagSpec.model_validate({"dag_id": f"overhead_{shape}", "tasks": tasks})


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


def report(
    args: argparse.Namespace,
    *,
    n: int,
    idle: bool,
    submitted: int,
    times: tuple[float, float, float],
    measured: dict[str, int],
) -> None:
    trigger, wall, cpu = times
    print(f"Pinflow scheduler overhead: {args.shape}, {n} tasks, parallelism {args.parallelism}")
    print(f"  database              {'PostgreSQL' if args.db else 'SQLite (file, WAL)'}")
    print(f"  load average          {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"  drained               {idle} ({submitted} tries)")
    print(f"  trigger (API's work)  {trigger * 1000:.1f} ms (the run and its task instances)")
    print(f"  wall                  {wall:.3f} s   ({wall / n * 1000:.3f} ms per task)")
    print(f"  scheduler CPU         {cpu:.3f} s   ({cpu / n * 1000:.3f} ms per task)")
    statements, commits = measured.get("execute", 0), measured.get("commit", 0)
    print(f"  statements            {statements}   ({statements / n:.1f} per task)")
    print(f"  commits               {commits}   ({commits / n:.1f} per task)")
    print("  target                1 ms per task (issues #3 and #17, on both databases)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=["chains", "chain", "fan"], default="chains")
    parser.add_argument("--width", type=int, default=100)
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--parallelism", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--db", help="a PostgreSQL server URL (a fresh database is created)")
    parser.add_argument("--profile", help="cProfile the scheduler into this file")
    args = parser.parse_args()
    counts = count_round_trips()

    with tempfile.TemporaryDirectory(prefix="pinflow-overhead-") as tmp:
        home = Path(tmp)
        db, created = open_db(args.db, home)
        try:
            upgrade(db)
            spec = build_spec(args.shape, args.width, args.depth)
            register_snapshot(db, spec, actor="bench")
            settings = Settings(home=home)
            executor = InstantExecutor(args.parallelism)
            scheduler = Scheduler(db, executor, settings)  # type: ignore[arg-type]
            scheduler.start()
            profiler = cProfile.Profile() if args.profile else None
            trigger = time.perf_counter()
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
                drop_db(args.db, created)
    times = (trigger, wall, cpu)
    report(
        args,
        n=len(spec.tasks),
        idle=idle,
        submitted=executor.submitted,
        times=times,
        measured=measured,
    )
    return 0 if idle else 1


if __name__ == "__main__":
    sys.exit(main())
