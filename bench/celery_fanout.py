"""Issue #13's figures: the 1 -> 100 -> 1 fan-out and the task-to-task latency over Celery,
with the local executor measured in the same run, on PostgreSQL.

The cluster is the production one, as processes: ``pinflow api-server``, ``pinflow scheduler``
(``PINFLOW_EXECUTOR=celery``) and two ``pinflow celery worker`` (no database URL, no secret),
on a Redis server this script starts (or ``--broker``). Then the Celery scheduler is stopped
and a ``PINFLOW_EXECUTOR=local`` scheduler runs the same DAGs on the same database.

For each run: trigger (the service call) -> the run's ``end_date``; for the chain, each
task's ``start_date`` minus its upstream's ``end_date`` (what the orchestration adds between
two tasks: the result's report, the claim, the broker, the worker's start call, the fork).

    .venv/bin/python bench/celery_fanout.py --db postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/celery_fanout.py --db ... --broker amqp://guest:guest@127.0.0.1:5672//
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from common import DAGS_DIR, fresh_database, ms, percentile, print_machine
from sqlalchemy import select

from pinflow.sdk.compiler import compile_path
from pinflow.services.commands import _runs as runs
from pinflow.services.commands._push import register_snapshot
from pinflow.store import migrate
from pinflow.store.db import Database
from pinflow.store.tables import DagRun, TaskInstance, TaskInstanceTry

PINFLOW = [sys.executable, "-m", "pinflow.cli"]
SECRET = "bench-instance-secret-0123456789abcdef0123456789"  # noqa: S105 - the bench's own
TARGET_FAN = 1.5  # seconds, issue #13
TARGET_GAP = 0.030  # seconds, issue #13 (task-to-task p50 over Celery)
SPLIT = "--split" in sys.argv


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Processes:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (self.root / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [*PINFLOW, *argv],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.procs.append(proc)
        return proc

    def wait_for_line(self, name: str, text: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while text not in (self.root / f"{name}.log").read_text(errors="replace"):
            if time.monotonic() > deadline:
                raise SystemExit(f"{name} did not say {text!r}; see {self.root / name}.log")
            time.sleep(0.05)

    @staticmethod
    def stop(proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 15)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, 9)

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            self.stop(proc)


@contextlib.contextmanager
def redis_server(root: Path) -> Iterator[str]:
    port = free_port()
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    with (root / "redis.log").open("ab") as log:
        proc = subprocess.Popen([*argv, "--dir", str(root)], stdout=log, stderr=log)  # noqa: S603
    time.sleep(0.3)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


def shared_store(root: Path, off: bool) -> dict[str, str]:
    """A file:// shared store (run staging synced around every try), unless ``off``."""
    return {} if off else {"PINFLOW_SHARED_STORE_URL": (root / "shared").as_uri()}


def env_of(home: Path, **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINFLOW_")}
    return {**env, "PYTHONUNBUFFERED": "1", "PINFLOW_HOME": str(home), **values}


def run_once(db: Database, dag_id: str, timeout: float = 120) -> tuple[float, list[float]]:
    """Trigger -> end_date, and the chain's task-to-task gaps (start - upstream's end)."""
    started = time.time()
    run_id = runs.trigger_run(db, dag_id=dag_id, actor="bench").run_id
    deadline = time.monotonic() + timeout
    while True:
        with db.read() as s:
            run = s.scalars(select(DagRun).filter_by(dag_id=dag_id, run_id=run_id)).one()
            if run.state in ("success", "failed"):
                tis = s.scalars(select(TaskInstance).filter_by(run_pk=run.id)).all()
                break
        if time.monotonic() > deadline:
            raise SystemExit(f"{dag_id} {run_id} did not finish in {timeout}s")
        time.sleep(0.05)  # the figure is the run's end_date: polling faster only steals CPU
    if run.state != "success":
        with db.read() as s:
            errors = s.execute(
                select(TaskInstanceTry.error, TaskInstanceTry.hostname)
                .join(TaskInstance, TaskInstance.id == TaskInstanceTry.ti_id)
                .where(TaskInstance.run_pk == run.id, TaskInstanceTry.error.is_not(None))
            ).all()
        raise SystemExit(f"{dag_id} {run_id} ended {run.state}: {errors[:3]}")
    assert run.end_date is not None
    ordered = sorted((t for t in tis if t.start_date and t.end_date), key=lambda t: t.start_date)
    gaps = [
        (b.start_date - a.end_date).total_seconds()  # type: ignore[operator]
        for a, b in itertools.pairwise(ordered)
    ]
    if dag_id == "bench_chain20" and SPLIT:
        pairs = list(itertools.pairwise(ordered))
        react = [(b.queued_at - a.end_date).total_seconds() for a, b in pairs]  # type: ignore[operator]
        start = [(b.start_date - b.queued_at).total_seconds() for _, b in pairs]  # type: ignore[operator]
        spent = [(b.end_date - b.start_date).total_seconds() for b in ordered]  # type: ignore[operator]
        print(
            f"    upstream end -> claimed p50 {ms(percentile(react, 50))}, claimed -> started "
            f"{ms(percentile(start, 50))}, started -> ended {ms(percentile(spent, 50))}"
        )
    return run.end_date.timestamp() - started, gaps


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU of a process and its reaped children (utime, stime, cutime, cstime)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(f) for f in fields[11:15]) / TICK


def tree(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            with contextlib.suppress(OSError):
                todo += [int(c) for c in (task / "children").read_text().split()]
    return found


def cpu_by_role(roles: dict[str, int]) -> dict[str, float]:
    """CPU so far of each role's process tree, and of every PostgreSQL backend."""
    spent = {name: sum(cpu_seconds(p) for p in tree(pid)) for name, pid in roles.items()}
    postgres = 0.0
    for stat in Path("/proc").glob("[0-9]*/comm"):
        with contextlib.suppress(OSError):
            if stat.read_text().strip() == "postgres":
                postgres += cpu_seconds(int(stat.parent.name))
    return {**spent, "postgres": postgres}


def busy_share() -> tuple[int, int]:
    """The machine's idle and total CPU ticks so far (``/proc/stat``)."""
    fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return fields[3] + fields[4], sum(fields)


def measure(
    db: Database, label: str, repeat: int, roles: dict[str, int] | None = None
) -> dict[str, float]:
    for dag_id in ("bench_chain20", "bench_fan100", "bench_fan100_noop"):
        run_once(db, dag_id)  # warm: snapshot caches, imports
    before = cpu_by_role(roles or {})
    fans, noops, chains, gaps = [], [], [], []
    idle0, total0 = busy_share()
    for _ in range(repeat):
        noops.append(run_once(db, "bench_fan100_noop")[0])
        fans.append(run_once(db, "bench_fan100")[0])
        wall, chain_gaps = run_once(db, "bench_chain20")
        chains.append(wall)
        gaps += chain_gaps
    idle1, total1 = busy_share()
    figures = {
        "noop": statistics.median(noops),
        "fan": statistics.median(fans),
        "chain": statistics.median(chains),
        "gap50": percentile(gaps, 50),
        "gap95": percentile(gaps, 95),
    }
    print(
        f"  {label:<28} fan-out 1->100->1 {figures['noop']:.3f} s (tasks writing to the staging "
        f"dir: {figures['fan']:.3f} s)   chain20 {figures['chain']:.3f} s   task-to-task p50 "
        f"{ms(figures['gap50'])} p95 {ms(figures['gap95'])}"
    )
    busy = 100 - 100 * (idle1 - idle0) / max(1, total1 - total0)
    print(f"    machine busy {busy:.0f}% of its {os.cpu_count()} cores while the runs ran")
    if roles:
        after = cpu_by_role(roles)
        tasks = repeat * (102 + 102 + 20)
        parts = ", ".join(f"{k} {ms((after[k] - before[k]) / tasks)}" for k in after)
        print(f"    CPU per task: {parts}")
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="a PostgreSQL server URL")
    parser.add_argument("--broker", help="a broker URL (default: a Redis server of our own)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4, help="per worker")
    parser.add_argument(
        "--no-shared-store", action="store_true", help="no staging sync around each try"
    )
    parser.add_argument("--split", action="store_true", help="the chain's gaps, phase by phase")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="pinflow-celery-bench-"))
    procs = Processes(root)
    try:
        with fresh_database(root, args.db) as url, contextlib.ExitStack() as stack:
            broker = args.broker or stack.enter_context(redis_server(root))
            print_machine(url)
            print(f"  broker                     {broker.split('@')[-1]}")
            db = Database(url)
            migrate.upgrade(db)
            for compiled in compile_path(DAGS_DIR):
                if compiled.spec.dag_id in ("bench_chain20", "bench_fan100", "bench_fan100_noop"):
                    register_snapshot(db, compiled.spec, compiled.bundle, actor="bench")
            port = free_port()
            control = {
                "PINFLOW_DATABASE_URL": url,
                "PINFLOW_JWT_SECRET": SECRET,
                "PINFLOW_BROKER_URL": broker,
                "PINFLOW_EXECUTION_API_URL": f"http://127.0.0.1:{port}",
                **shared_store(root, args.no_shared_store),
            }
            procs.spawn(
                "api",
                ["api-server", "--port", str(port), "--workers", "2"],
                env_of(root / "api", **control),
            )
            procs.wait_for_line("api", "Application startup complete")
            celery = procs.spawn(
                "scheduler",
                ["scheduler"],
                env_of(root / "scheduler", PINFLOW_EXECUTOR="celery", **control),
            )
            for name in ("w1", "w2"):
                argv = ["celery", "worker", "-c", str(args.concurrency), "--hostname", name]
                procs.spawn(name, argv, env_of(root / name, PINFLOW_BROKER_URL=broker))
                procs.wait_for_line(name, "ready.")
            print("\nPostgreSQL, trigger -> final state, median of", args.runs)
            names = ("api", "scheduler", "w1", "w2")  # in the order they were spawned
            roles = {name: proc.pid for name, proc in zip(names, procs.procs, strict=True)}
            over = measure(db, "Celery, 2 workers", args.runs, roles)
            procs.stop(celery)
            procs.spawn(
                "local", ["scheduler"], env_of(root / "local", PINFLOW_EXECUTOR="local", **control)
            )
            local = measure(db, "local executor", args.runs)
            print("\nissue #13 targets (2-core machine):")
            print(
                f"  fan-out over Celery <= {TARGET_FAN} s: {over['noop']:.3f} s "
                f"({'met' if over['noop'] <= TARGET_FAN else 'NOT met'}); local "
                f"{local['noop']:.3f} s (writing to the staging dir: {over['fan']:.3f} s, local "
                f"{local['fan']:.3f} s)"
            )
            print(
                f"  task-to-task p50 over Celery <= {ms(TARGET_GAP)}: {ms(over['gap50'])} "
                f"({'met' if over['gap50'] <= TARGET_GAP else 'NOT met'}); "
                f"local {ms(local['gap50'])}"
            )
            print("  peers (issue #13): Airflow 3.3 LocalExecutor ~29 s for the fan-out here")
            db.dispose()
    finally:
        procs.stop_all()
        if not os.environ.get("PINFLOW_BENCH_KEEP"):
            shutil.rmtree(root, ignore_errors=True)
        else:
            print(f"kept {root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
