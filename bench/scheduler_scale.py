"""Issue #3's scale bench: one run of a 10,000-task DAG, and what it costs the scheduler.

The DAG (``--shape``): ``chains``, ``--width`` parallel chains of ``--depth`` no-op tasks
(default 100 x 100: every task that ends makes exactly one task ready, so the scheduler
decides 10,000 times, on a run that holds 10,000 task instances), or ``fan``, one task, then
``width x depth - 2`` in parallel, then a join (one decision releases almost everything). Tasks
are Python no-ops run by the local executor, at most ``--parallelism`` at a time.

The scheduler runs in a process of its own (this script again, with ``--scheduler-child``),
exactly as ``python -m pinflow.scheduler.main`` builds it: so its CPU time (``process_time``,
its own threads, not the task processes) and its peak RSS (``VmHWM``) are its own, not the
API's or the DAG compiler's. The API that takes the trigger runs in this process.

    .venv/bin/python bench/scheduler_scale.py                   # 100 chains of 100, SQLite
    .venv/bin/python bench/scheduler_scale.py --shape fan
    .venv/bin/python bench/scheduler_scale.py --width 20 --depth 50 --profile /tmp/s.pstats
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from common import DAGS_DIR, Stack, Triggered, add_stack_arguments, open_stack, print_machine

TARGET_CPU_PER_TASK = 0.001  # seconds (issue #3)
TARGET_RSS_MB = 300.0

CHAINS = """
from pfbench import noop

from pinflow import chain, dag


@dag(dag_id="bench_scale", max_active_tasks=1024)
def bench_scale():
    for c in range({width}):
        chain(*[noop.override(task_id=f"c{{c:03d}}_{{i:03d}}")() for i in range({depth})])


bench_scale()
"""

FAN = """
from pfbench import noop

from pinflow import chain, dag


@dag(dag_id="bench_scale", max_active_tasks=1024)
def bench_scale():
    middle = [noop.override(task_id=f"m{{i:05d}}")() for i in range({count})]
    chain(noop.override(task_id="first")(), middle, noop.override(task_id="last")())


bench_scale()
"""


# --- the scheduler process -----------------------------------------------------------------


def status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def scheduler_child(args: argparse.Namespace) -> int:
    """What ``pinflow.scheduler.main`` runs, measured; the figures go to ``--report`` (JSON)."""
    from pinflow.executors.base import load_executor
    from pinflow.scheduler.loop import Scheduler
    from pinflow.settings import Settings
    from pinflow.store.db import Database

    gc.set_threshold(20_000, 20, 20)  # as pinflow.scheduler.main does
    settings = Settings(home=args.home, database_url=args.db_url, parallelism=args.parallelism)
    db = Database(settings.database_url)
    scheduler = Scheduler(db, load_executor(settings), settings)
    stop = threading.Event()

    def on_signal(_signum: int, _frame: object) -> None:
        stop.set()
        scheduler.wake()

    signal.signal(signal.SIGTERM, on_signal)
    profiler = None
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    scheduler.start()
    started_cpu = time.process_time()
    print("ready", flush=True)
    scheduler.run_forever(stop)
    cpu = time.process_time() - started_cpu
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    scheduler.close()
    db.dispose()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the zygote and its tasks
    figures = {
        "startup_cpu": started_cpu,
        "cpu": cpu,
        "hwm_kb": status_kb("VmHWM"),
        "rss_kb": status_kb("VmRSS"),
        "children_cpu": children.ru_utime + children.ru_stime,
    }
    Path(args.report).write_text(json.dumps(figures))
    return 0


# --- the bench ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    source: str
    tasks: int
    label: str


def shape_of(args: argparse.Namespace) -> Shape:
    count = args.width * args.depth
    if args.shape == "fan":
        return Shape(FAN.format(count=count - 2), count, f"1 -> {count - 2} -> 1")
    source = CHAINS.format(width=args.width, depth=args.depth)
    return Shape(source, count, f"{args.width} parallel chains of {args.depth}")


def write_dag(folder: Path, shape: Shape) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(DAGS_DIR / "pfbench", folder / "pfbench")
    path = folder / "bench_scale.py"
    path.write_text(shape.source)
    return path


def start_child(stack: Stack, args: argparse.Namespace, report: Path) -> subprocess.Popen[str]:
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--scheduler-child",
        f"--home={stack.home}",
        f"--db-url={stack.db_url}",
        f"--parallelism={stack.settings.parallelism}",
        f"--report={report}",
    ]
    if args.profile:
        command.append(f"--profile={args.profile}")
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)  # noqa: S603
    assert child.stdout is not None
    if _read_line(child.stdout) != "ready":
        child.kill()
        raise RuntimeError("the scheduler process did not start")
    return child


def _read_line(stream: IO[str]) -> str:
    return stream.readline().strip()


def run_bench(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    shape = shape_of(args)
    started = time.perf_counter()
    dag_ids = stack.push(write_dag(stack.home / "dags", shape))
    pushed = time.perf_counter() - started
    report = stack.home / "scheduler.json"
    child = start_child(stack, args, report)
    try:
        triggered = stack.trigger(dag_ids[0], "scale")
        run = stack.wait(triggered, args.timeout, poll=0.25)
    finally:
        child.send_signal(signal.SIGTERM)
        child.wait(120)
    figures: dict[str, Any] = json.loads(report.read_text())
    failed = [t for t in run.tasks if t.state != "success"]
    figures.update(
        shape=shape.label,
        tasks=len(run.tasks),
        failed=len(failed),
        state=run.state,
        compile_push=pushed,
        trigger=triggered_seconds(triggered),
        wall=run.wall,
        running=run.end - run.start,
    )
    return figures


def triggered_seconds(t: Triggered) -> float:
    return t.answered_at - t.sent_at


def report_figures(f: dict[str, Any]) -> None:
    tasks = f["tasks"]
    per_task = f["cpu"] / tasks
    rss = f["hwm_kb"] / 1024
    print(f"\n{f['shape']}: {tasks} task instances, run {f['state']}, {f['failed']} not success")
    print(f"  compile + push (this process)         {f['compile_push']:.2f} s")
    print(f"  trigger request (creates the TIs)     {f['trigger']:.2f} s")
    print(f"  wall, trigger -> final                {f['wall']:.2f} s")
    print(f"  run start -> end                      {f['running']:.2f} s")
    print(f"  throughput                            {tasks / f['running']:.0f} tasks/s")
    print(f"  scheduler CPU (after start-up)        {f['cpu']:.2f} s")
    verdict = "met" if per_task <= TARGET_CPU_PER_TASK else "MISSED"
    print(
        f"  scheduler CPU per task                {per_task * 1000:.2f} ms  "
        f"(target <= {TARGET_CPU_PER_TASK * 1000:.0f} ms: {verdict})"
    )
    verdict = "met" if rss <= TARGET_RSS_MB else "MISSED"
    print(
        f"  scheduler RSS peak (VmHWM)            {rss:.0f} MB  "
        f"(target <= {TARGET_RSS_MB:.0f} MB: {verdict})"
    )
    print(f"  scheduler start-up CPU                {f['startup_cpu']:.2f} s")
    children = f["children_cpu"]
    print(
        f"  zygote + task processes CPU           {children:.2f} s "
        f"({children / tasks * 1000:.2f} ms per task)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_stack_arguments(parser)
    parser.add_argument("--shape", choices=["chains", "fan"], default="chains")
    parser.add_argument("--width", type=int, default=100)
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds for the run")
    parser.add_argument("--profile", type=Path, help="cProfile the scheduler process into FILE")
    parser.add_argument("--scheduler-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--home", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--db-url", help=argparse.SUPPRESS)
    parser.add_argument("--report", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scheduler_child:
        return scheduler_child(args)
    with open_stack(
        args.db, parallelism=args.parallelism, keep=args.keep, scheduler=False
    ) as stack:
        print("Pinflow scheduler at scale (issue #3)")
        print_machine(stack.db_url)
        print(f"  {'parallelism':<26} {stack.settings.parallelism}")
        figures = run_bench(stack, args)
        report_figures(figures)
        print(f"  load average after                    {os.getloadavg()[0]:.2f}")
    if args.profile:
        print(f"\nscheduler process profile: {args.profile} (python -m pstats)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
