"""Issue #4's API bench: requests/s and p50/p99 with 1,000 DAGs and 100,000 runs, scheduler on.

A real stack (see ``common.py``: API under uvicorn, scheduler and local executor running) on
a fresh database, seeded in bulk through SQLAlchemy Core: ``--dags`` DAGs (a 3-task spec
each, one active version) and ``--runs`` finished runs spread over them, each with one task
instance and one try per task. Then, per endpoint, a load generator in another process
(``loadgen.py``: ``--concurrency`` threads, keep-alive connections, 127.0.0.1) sends at most
``--requests`` requests in at most ``--seconds`` seconds, after a few not counted:

- ``GET /api/v2/dags?limit=100``: a page of the DAG list;
- ``GET /api/v2/dags/~/dagRuns?limit=100``: a page of every DAG's runs (first, last);
- ``GET /api/v2/dags/{dag_id}/dagRuns?limit=100``: one DAG's runs;
- ``POST /api/v2/dags/bench_noop1/dagRuns``: triggers of a one-task DAG, which the
  scheduler runs meanwhile (the bench then says how long it took to run them all).

With ``--busy-runs N`` (issue #17 point 3), N runs of a chain of 10 no-op tasks
(``dags/chain10.py``, real task processes) are triggered just before the first endpoint, so
the API answers while the scheduler works through them; the bench says how many of their
tasks ended while it measured.

    .venv/bin/python bench/api_throughput.py
    .venv/bin/python bench/api_throughput.py --db postgresql://postgres@127.0.0.1/postgres
    .venv/bin/python bench/api_throughput.py --dags 100 --runs 5000 --requests 100
    .venv/bin/python bench/api_throughput.py --db postgresql://… --busy-runs 1000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import (
    BENCH_DIR,
    DAGS_DIR,
    Stack,
    add_stack_arguments,
    open_stack,
    percentile,
    print_machine,
)
from sqlalchemy import func, insert, select, text, update

from pinflow.spec.canonical import snapshot_digest, spec_to_dict
from pinflow.store.tables import (
    Dag,
    DagRun,
    Project,
    Snapshot,
    TaskInstance,
    TaskInstanceTry,
    WorkflowDefinition,
)
from pinflow.testing import make_spec

CHUNK = 5000
T0 = datetime(2026, 1, 1, tzinfo=UTC)
TASKS = {"extract": [], "transform": ["extract"], "load": ["transform"]}
TRIGGERED_DAG = "bench_noop1"
BUSY_DAG = "bench_chain10"
IDLE_WINDOW = 5.0  # seconds


# --- seeding -----------------------------------------------------------------------------------


def chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for i in range(0, len(rows), CHUNK):
        yield rows[i : i + CHUNK]


def seed_dags(stack: Stack, count: int) -> list[tuple[str, str, str]]:
    """``count`` DAGs with one active version each; returns (dag_id, version id, digest)."""
    with stack.db.read() as s:
        project = s.scalars(select(Project.id).where(Project.name == "default")).one()
    dags: list[dict[str, Any]] = []
    snapshots: list[dict[str, Any]] = []
    versions: list[dict[str, Any]] = []
    current: list[tuple[str, str, str]] = []
    for i in range(count):
        dag_id = f"dag_{i:05d}"
        spec = make_spec(dag_id, TASKS, name=f"Pipeline {i}", tags=["bench", f"team{i % 7}"])
        digest = snapshot_digest(spec)
        version_id = str(uuid.uuid4())
        dags.append({"dag_id": dag_id, "project_id": project, "created_at": T0})
        snapshot = {"digest": digest, "dag_id": dag_id, "spec": spec_to_dict(spec), "bundle": b""}
        snapshots.append(snapshot)
        versions.append(
            {
                "id": version_id,
                "dag_id": dag_id,
                "version": 1,
                "status": "active",
                "snapshot_digest": digest,
                "name": f"Pipeline {i}",
                "project_id": project,
                "created_at": T0,
                "published_at": T0,
            }
        )
        current.append((dag_id, version_id, digest))
    with stack.db.transaction() as s:
        for table, rows in ((Dag, dags), (Snapshot, snapshots), (WorkflowDefinition, versions)):
            for part in chunks(rows):
                s.execute(insert(table), part)
        for v in versions:
            s.execute(update(Dag).where(Dag.dag_id == v["dag_id"]), {"current_version_id": v["id"]})
    return current


def _next_ids(stack: Stack) -> tuple[int, int]:
    with stack.db.read() as s:
        run = s.scalar(select(func.coalesce(func.max(DagRun.id), 0)))
        ti = s.scalar(select(func.coalesce(func.max(TaskInstance.id), 0)))
    return int(run or 0) + 1, int(ti or 0) + 1


def _run_rows(
    dags: list[tuple[str, str, str]], count: int, first_run: int, first_ti: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    runs, tis, tries = [], [], []
    ti_id = first_ti
    for n in range(count):
        dag_id, version_id, digest = dags[n % len(dags)]
        at = T0 + timedelta(minutes=n)
        end = at + timedelta(seconds=42)
        state = "failed" if n % 10 == 0 else "success"
        run_pk = first_run + n
        runs.append(
            {
                "id": run_pk,
                "dag_id": dag_id,
                "run_id": f"scheduled__{at.isoformat()}",
                "version_id": version_id,
                "snapshot_digest": digest,
                "run_type": "scheduled",
                "state": state,
                "logical_date": at,
                "run_after": at,
                "start_date": at,
                "end_date": end,
                "created_at": at,
                "updated_at": end,
            }
        )
        for task_id in TASKS:
            ti_state = "failed" if state == "failed" and task_id == "load" else "success"
            times = {"state": ti_state, "start_date": at, "end_date": end}
            tis.append(
                {"id": ti_id, "run_pk": run_pk, "dag_id": dag_id, "task_id": task_id}
                | times
                | {"try_number": 1, "max_tries": 1, "snapshot_digest": digest, "updated_at": end}
            )
            tries.append(
                {"ti_id": ti_id, "try_number": 1, "snapshot_digest": digest}
                | times
                | {"version_id": version_id}
            )
            ti_id += 1
    return runs, tis, tries


def seed_runs(stack: Stack, dags: list[tuple[str, str, str]], count: int) -> None:
    first_run, first_ti = _next_ids(stack)
    runs, tis, tries = _run_rows(dags, count, first_run, first_ti)
    with stack.db.transaction() as s:
        for table, rows in ((DagRun, runs), (TaskInstance, tis), (TaskInstanceTry, tries)):
            for part in chunks(rows):
                s.execute(insert(table), part)
        if stack.db.dialect == "postgresql":  # explicit ids do not advance the sequences
            for name in ("dag_run", "task_instance", "task_instance_try"):  # constants
                sequence = f"pg_get_serial_sequence('{name}', 'id')"
                s.execute(text(f"SELECT setval({sequence}, max(id)) FROM {name}"))  # noqa: S608
    if stack.db.dialect == "postgresql":
        # A database that grew to this size has its statistics (autovacuum analyzes it in
        # time); right after a bulk insert, the planner would still believe the tables empty.
        with stack.db.engine.connect() as conn:
            conn.execute(text("ANALYZE"))
            conn.commit()


# --- load ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str
    body: dict[str, Any] | None = None


@dataclass(frozen=True)
class Result:
    endpoint: Endpoint
    latencies: list[float]
    errors: dict[str, int]
    elapsed: float

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0


def endpoints(dags: int, runs: int) -> list[Endpoint]:
    last = max(0, runs - 100)
    one = f"dag_{dags // 2:05d}"
    return [
        Endpoint(f"list DAGs (100 of {dags})", "GET", "/api/v2/dags?limit=100"),
        Endpoint(
            f"list runs, every DAG (100 of {runs}, first page)",
            "GET",
            "/api/v2/dags/~/dagRuns?limit=100",
        ),
        Endpoint(
            f"list runs, every DAG (100 of {runs}, last page)",
            "GET",
            f"/api/v2/dags/~/dagRuns?limit=100&offset={last}",
        ),
        Endpoint(
            f"list runs of one DAG (100 of {runs // dags})",
            "GET",
            f"/api/v2/dags/{one}/dagRuns?limit=100",
        ),
        Endpoint(
            "trigger a run (POST dagRuns)",
            "POST",
            f"/api/v2/dags/{TRIGGERED_DAG}/dagRuns",
            {"dag_run_id": f"load_{uuid.uuid4().hex[:8]}_{{n}}", "logical_date": None},
        ),
    ]


def load(stack: Stack, endpoint: Endpoint, args: argparse.Namespace) -> Result:
    job = {
        "url": stack.url,
        "token": stack.token,
        "method": endpoint.method,
        "path": endpoint.path,
        "body": endpoint.body,
        "requests": args.requests,
        "seconds": args.seconds,
        "concurrency": args.concurrency,
        "warmup": args.warmup,
    }
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, str(BENCH_DIR / "loadgen.py")],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        check=True,
    )
    out = json.loads(done.stdout)
    return Result(endpoint, out["latencies"], out["errors"], out["elapsed"])


def drain_triggered(stack: Stack, timeout: float) -> tuple[int, float]:
    """Wait until the scheduler has run every triggered run; (runs, seconds waited)."""
    started = time.monotonic()
    query = select(func.count()).where(
        DagRun.dag_id == TRIGGERED_DAG, DagRun.state.in_(("queued", "running"))
    )
    while time.monotonic() - started < timeout:
        with stack.db.read() as s:
            if not s.scalar(query):
                break
        time.sleep(0.1)
    with stack.db.read() as s:
        total = s.scalar(select(func.count()).where(DagRun.dag_id == TRIGGERED_DAG)) or 0
    return int(total), time.monotonic() - started


def busy_tasks_ended(stack: Stack) -> int:
    """The tasks of the ``--busy-runs`` runs that have ended so far."""
    query = select(func.count()).where(
        TaskInstance.dag_id == BUSY_DAG, TaskInstance.state == "success"
    )
    with stack.db.read() as s:
        return int(s.scalar(query) or 0)


def idle_scheduler_cpu(stack: Stack, seconds: float) -> float:
    """The scheduler thread's CPU over ``seconds`` with nothing to run (share of one core):
    its safety-net timers, which it spends under the API's GIL."""
    scheduler = stack.scheduler
    assert scheduler is not None
    before = scheduler.cpu_seconds()
    time.sleep(seconds)
    return (scheduler.cpu_seconds() - before) / seconds


def report(result: Result) -> None:
    lat = result.latencies
    if not lat:
        print(f"  {result.endpoint.name:<48} no successful request; errors {result.errors}")
        return
    errors = f"  errors {result.errors}" if result.errors else ""
    print(
        f"  {result.endpoint.name:<48} {result.rate:>7.1f} {percentile(lat, 50) * 1000:>8.1f} "
        f"{percentile(lat, 99) * 1000:>8.1f} {len(lat):>6}{errors}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_stack_arguments(parser)
    parser.add_argument("--dags", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=500, help="per endpoint, at most")
    parser.add_argument("--seconds", type=float, default=30.0, help="per endpoint, at most")
    parser.add_argument("--concurrency", type=int, default=4, help="client threads")
    parser.add_argument("--warmup", type=int, default=10, help="requests not counted")
    parser.add_argument("--profile", type=Path, help="cProfile the scheduler thread into FILE")
    parser.add_argument(
        "--busy-runs",
        type=int,
        default=0,
        help="runs of a chain of 10 triggered before the first endpoint (the scheduler busy)",
    )
    args = parser.parse_args()
    with open_stack(
        args.db, parallelism=args.parallelism, keep=args.keep, profile=args.profile
    ) as stack:
        print("Pinflow API throughput (issue #4)")
        print_machine(stack.db_url)
        stack.push(DAGS_DIR / "noop1.py")
        if args.busy_runs:
            stack.push(DAGS_DIR / "chain10.py")
        started = time.perf_counter()
        dags = seed_dags(stack, args.dags)
        seed_runs(stack, dags, args.runs)
        seeded = time.perf_counter() - started
        print(f"  seeded {args.dags} DAGs, {args.runs} runs ({len(TASKS)} tasks each) in ", end="")
        print(f"{seeded:.1f} s; scheduler running, parallelism {stack.settings.parallelism}")
        print(f"  client: {args.concurrency} threads in another process, keep-alive, 127.0.0.1")
        idle = idle_scheduler_cpu(stack, IDLE_WINDOW)
        print(f"  scheduler thread CPU at rest (nothing to run): {idle * 100:.0f}% of a core")
        if args.busy_runs:
            for n in range(args.busy_runs):
                stack.trigger(BUSY_DAG, f"busy_{n:05d}")
            print(f"  triggered {args.busy_runs} runs of {BUSY_DAG} (10 tasks each) first")
        print(f"\n  {'endpoint':<48} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'n':>6}")
        for endpoint in endpoints(args.dags, args.runs):
            busy = busy_tasks_ended(stack) if args.busy_runs else 0
            report(load(stack, endpoint, args))
            if args.busy_runs:
                print(f"    (busy runs' tasks ended meanwhile: {busy_tasks_ended(stack) - busy})")
        total, waited = drain_triggered(stack, timeout=600)
        print(f"\n  the scheduler ran the {total} triggered runs {waited:.1f} s after the last")
    return 0


if __name__ == "__main__":
    sys.exit(main())
