"""Issue #3's latency bench: a chain of 20 no-op tasks and a 1 -> 100 -> 1 fan-out.

Each DAG is triggered through the API (``POST /api/v2/dags/{dag_id}/dagRuns``) of a real
stack (see ``common.py``), ``--runs`` times after ``--warmup`` runs that are not counted. For
each run: the wall time from the trigger request to the run's ``end_date``; the task-to-task
latency from the database (a task's ``start_date`` minus its upstream's ``end_date``: what the
scheduler adds) and from inside the tasks (the end of one task's code to the start of the
next one's: what a user sees, fork and snapshot load included); and where the time goes.
Printed with issue #3's targets and the peers' published figures side by side.

    .venv/bin/python bench/run_latency.py                      # SQLite, 5 runs each
    .venv/bin/python bench/run_latency.py --db postgresql://postgres@127.0.0.1/postgres
    .venv/bin/python bench/run_latency.py --only chain --runs 20 --profile /tmp/sched.pstats
    .venv/bin/python bench/run_latency.py --both --db postgresql://postgres@127.0.0.1/postgres
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from common import (
    DAGS_DIR,
    RunTimes,
    Stack,
    add_stack_arguments,
    ms,
    open_stack,
    percentile,
    print_machine,
)

from pinflow.runtime.paths import staging_path

Marks = dict[tuple[str, str, int], float]  # (start|end, task_id, map_index) -> epoch seconds
DB = "DB stamps"  # the next task's start_date - its upstream's end_date
INSIDE = "inside the tasks"  # the next task's code starts - its upstream's code ended
PEERS = ("Airflow 3.3", "Dagster 1.13", "Prefect 3.8")
FIRST_RUN_TIMEOUT = 60.0


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    file: str
    dag_id: str
    target: float  # seconds, trigger -> final (issue #3)
    peers: tuple[float, float, float]  # seconds, as PEERS (issue #3)
    check: Callable[[RunTimes], str | None]
    gaps: Callable[[RunTimes, Marks], dict[str, list[float]]]


@dataclass
class Figures:
    walls: list[float] = field(default_factory=list)
    gaps: dict[str, list[float]] = field(default_factory=dict)
    scheduler_cpu: float = 0.0  # seconds of the scheduler thread's CPU over the measured runs
    tasks: int = 0  # task instances over the measured runs
    phases: dict[str, list[float]] = field(default_factory=dict)
    skipped: str | None = None


# --- what a run must look like, and its gaps ---------------------------------------------------


def _check_count(expected: int) -> Callable[[RunTimes], str | None]:
    def check(run: RunTimes) -> str | None:
        if run.state != "success":
            return f"the run ended {run.state}"
        if len(run.tasks) != expected:
            return f"{len(run.tasks)} task instances, expected {expected}"
        return None

    return check


def _check_mapped(run: RunTimes) -> str | None:
    copies = [t for t in run.tasks if t.task_id == "mapped" and t.map_index >= 0]
    if len(copies) != 100:
        return f"{len(copies)} mapped task instances, expected 100 (is .expand supported yet?)"
    return _check_count(102)(run)


def _ti(run: RunTimes, task_id: str, map_index: int = -1) -> tuple[float, float]:
    for t in run.tasks:
        if t.task_id == task_id and t.map_index == map_index:
            if t.start is None or t.end is None:
                raise ValueError(f"{t} has not both started and ended")
            return t.start, t.end
    raise KeyError(task_id)


def chain_gaps(run: RunTimes, marks: Marks) -> dict[str, list[float]]:
    """Each of the 19 links, from the DB and from the marks, and the link cut in three:
    the upstream's code ends -> its ``end_date`` (the result reaches the scheduler, which
    stamps it when it starts recording it), ``end_date`` -> the next ``start_date`` (the
    scheduler's transactions), ``start_date`` -> the next task's code starts (the request is
    built and sent, a process takes it, loads the snapshot and imports the DAG's module)."""
    gaps: dict[str, list[float]] = {DB: [], INSIDE: [], "  1. code end -> end_date": []}
    gaps |= {"  2. end_date -> next start_date": [], "  3. start_date -> code start": []}
    for i in range(19):
        up, down = f"t{i:02d}", f"t{i + 1:02d}"
        (_, up_end), (down_start, _) = _ti(run, up), _ti(run, down)
        code_end, code_start = marks[("end", up, -1)], marks[("start", down, -1)]
        gaps[DB].append(down_start - up_end)
        gaps[INSIDE].append(code_start - code_end)
        gaps["  1. code end -> end_date"].append(up_end - code_end)
        gaps["  2. end_date -> next start_date"].append(down_start - up_end)
        gaps["  3. start_date -> code start"].append(code_start - down_start)
    return gaps


def _fan_gaps(run: RunTimes, marks: Marks, middle: set[str], last: str) -> dict[str, list[float]]:
    """The join's link: its start - the end of the last middle task to end."""
    middle_ends = [t.end for t in run.tasks if t.task_id in middle and t.end is not None]
    marks_ends = [v for (kind, task, _), v in marks.items() if kind == "end" and task in middle]
    return {
        DB: [_ti(run, last)[0] - max(middle_ends)],
        INSIDE: [marks[("start", last, -1)] - max(marks_ends)],
    }


def mapped_gaps(run: RunTimes, marks: Marks) -> dict[str, list[float]]:
    return _fan_gaps(run, marks, {"mapped"}, "join")


def static_gaps(run: RunTimes, marks: Marks) -> dict[str, list[float]]:
    return _fan_gaps(run, marks, {f"m{i:03d}" for i in range(100)}, "last")


SCENARIOS = (
    Scenario(
        "chain",
        "chain of 20 no-op tasks",
        "chain20.py",
        "bench_chain20",
        0.3,
        (20.9, 30.4, 2.3),
        _check_count(20),
        chain_gaps,
    ),
    Scenario(
        "fan",
        "fan-out 1 -> 100 -> 1, .expand()",
        "fan100.py",
        "bench_fan100",
        0.7,
        (29.2, 89.2, 3.0),
        _check_mapped,
        mapped_gaps,
    ),
    Scenario(
        "static",
        "fan-out 1 -> 100 -> 1, 100 distinct tasks",
        "fan100_static.py",
        "bench_fan100_static",
        0.7,
        (29.2, 89.2, 3.0),
        _check_count(102),
        static_gaps,
    ),
)


# --- measuring -------------------------------------------------------------------------------


def read_marks(stack: Stack, run: RunTimes) -> dict[tuple[str, str, int], float]:
    path = staging_path(stack.settings.staging_dir, run.dag_id, run.run_id) / "marks"
    marks = {}
    for line in path.read_text().splitlines():
        kind, task_id, map_index, at = line.split()
        marks[(kind, task_id, int(map_index))] = float(at)
    return marks


def phases(run: RunTimes) -> dict[str, float]:
    """Where a run's wall time goes, from the stamps (each phase ends where the next begins)."""
    starts = [t.start for t in run.tasks if t.start is not None]
    ends = [t.end for t in run.tasks if t.end is not None]
    return {
        "trigger sent -> run created (API)": run.created - run.sent_at,
        "run created -> started by the scheduler": run.start - run.created,
        "run started -> first task started": min(starts) - run.start,
        "first task started -> last task ended": max(ends) - min(starts),
        "last task ended -> run final": run.end - max(ends),
    }


def measure(stack: Stack, scenario: Scenario, runs: int, warmup: int, timeout: float) -> Figures:
    figures = Figures()
    scheduler = stack.scheduler
    assert scheduler is not None
    for n in range(warmup + runs):
        cpu = scheduler.cpu_seconds()
        triggered = stack.trigger(scenario.dag_id, f"r{n:03d}")
        try:
            # The first run shows whether the DAG runs at all: give it less time.
            run = stack.wait(triggered, min(timeout, FIRST_RUN_TIMEOUT) if n == 0 else timeout)
        except TimeoutError as exc:
            stack.give_up(triggered)
            figures.skipped = str(exc)
            return figures
        problem = scenario.check(run)
        if problem is not None:
            figures.skipped = problem
            return figures
        if n < warmup:
            continue
        figures.scheduler_cpu += scheduler.cpu_seconds() - cpu
        figures.tasks += len(run.tasks)
        figures.walls.append(run.wall)
        for name, values in scenario.gaps(run, read_marks(stack, run)).items():
            figures.gaps.setdefault(name, []).extend(values)
        for name, value in phases(run).items():
            figures.phases.setdefault(name, []).append(value)
    return figures


# --- printing -------------------------------------------------------------------------------


# Issue #17's targets, per database: trigger -> final p50 (seconds) per DAG, and the
# scheduler thread's CPU per task with task processes (PostgreSQL only).
ISSUE17_WALL = {
    "sqlite": {"chain": 0.15, "fan": 0.4, "static": 0.4},
    "postgresql": {"chain": 0.2, "fan": 0.5, "static": 0.5},
}
ISSUE17_CPU = {"postgresql": 0.0015}


def issue17(results: list[tuple[Scenario, Figures]], database: str) -> None:
    """Each figure against issue #17's target for this database."""
    print(f"\nIssue #17's targets ({database}):")
    walls, cpu_target = ISSUE17_WALL[database], ISSUE17_CPU.get(database)
    for scenario, f in results:
        if f.skipped or scenario.key not in walls:
            continue
        p50, target = statistics.median(f.walls), walls[scenario.key]
        print(f"  {scenario.title:<42} {p50:>7.3f}s  target <= {target} s: {verdict(p50, target)}")
        if cpu_target is not None:
            cpu = f.scheduler_cpu / f.tasks
            met = "met" if cpu <= cpu_target else f"MISSED ({cpu / cpu_target:.1f}x)"
            print(f"    scheduler CPU per task {ms(cpu)}, target <= {ms(cpu_target)}: {met}")


def verdict(value: float, target: float) -> str:
    if value <= target:
        return "met"
    return f"MISSED by {value - target:.3f} s ({value / target:.1f}x the target)"


def report(scenario: Scenario, f: Figures) -> None:
    print(f"\n{scenario.title} ({len(f.walls)} runs)")
    if f.skipped:
        print(f"  not measured: {f.skipped}")
        return
    p50 = statistics.median(f.walls)
    print(
        f"  wall, trigger -> final   min {min(f.walls):.3f} s  p50 {p50:.3f} s  "
        f"max {max(f.walls):.3f} s   target <= {scenario.target} s: {verdict(p50, scenario.target)}"
    )
    per_run = f.tasks // len(f.walls)
    print(f"  scheduler thread CPU per task {ms(f.scheduler_cpu / f.tasks)} (x {per_run} per run)")
    link = "task-to-task" if scenario.key == "chain" else "into the join"
    print(f"  {link} latency, {'':<22}   p50       p99       max")
    for label, gaps in f.gaps.items():
        print(
            f"    {label:<34} {ms(percentile(gaps, 50)):>9} {ms(percentile(gaps, 99)):>9} "
            f"{ms(max(gaps)):>9}  (n={len(gaps)})"
        )
    print("  where the time goes (p50 of each phase):")
    for name, values in f.phases.items():
        print(f"    {name:<44} {ms(statistics.median(values))}")


def summary(results: list[tuple[Scenario, Figures]]) -> None:
    print("\nSummary: p50 wall time, trigger -> final state; peers' figures from issue #3")
    header = f"  {'DAG':<42} {'Pinflow':>8} {'target':>8}"
    print(header + "".join(f" {peer:>18}" for peer in PEERS))
    for scenario, f in results:
        if f.skipped:
            print(f"  {scenario.title:<42} {'n/a':>8} {scenario.target:>7}s")
            continue
        p50 = statistics.median(f.walls)
        line = f"  {scenario.title:<42} {p50:>7.3f}s {scenario.target:>7}s"
        line += "".join(f" {peer:>6}s ({peer / p50:>5.1f}x)" for peer in scenario.peers)
        print(line)
    chain = next((f for s, f in results if s.key == "chain" and not f.skipped), None)
    if chain is not None:
        p50 = percentile(chain.gaps[DB], 50)
        print(
            f"  task-to-task p50 (chain, DB stamps): {ms(p50)}, target <= 5 ms: "
            f"{'met' if p50 <= 0.005 else 'MISSED'}; inside the tasks: "
            f"{ms(percentile(chain.gaps[INSIDE], 50))}. Airflow: about 1 s."
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_stack_arguments(parser)
    parser.add_argument("--runs", type=int, default=5, help="measured runs per DAG")
    parser.add_argument("--warmup", type=int, default=1, help="runs not counted, first")
    parser.add_argument("--only", choices=[s.key for s in SCENARIOS], action="append")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per run")
    parser.add_argument("--profile", type=Path, help="cProfile the scheduler thread into FILE")
    parser.add_argument(
        "--both", action="store_true", help="SQLite, then PostgreSQL at --db, in one run"
    )
    args = parser.parse_args()
    if args.both and not args.db:
        parser.error("--both needs --db (the PostgreSQL server)")
    chosen = [s for s in SCENARIOS if not args.only or s.key in args.only]
    passes = []
    for db in [None, args.db] if args.both else [args.db]:
        profile = args.profile
        if profile is not None and args.both:
            profile = profile.with_suffix(f".{'postgresql' if db else 'sqlite'}{profile.suffix}")
        passes.append(run_on(db, args, chosen, profile))
    if args.both:  # both databases' verdicts together, at the end
        for database, results, load in passes:
            print(f"\n[{database}: 1-minute load average {load:.2f} at the start]", end="")
            issue17(results, database)
    return 0


def run_on(
    db: str | None, args: argparse.Namespace, chosen: list[Scenario], profile: Path | None
) -> tuple[str, list[tuple[Scenario, Figures]], float]:
    """Every chosen DAG on a fresh stack on ``db`` (SQLite when ``None``)."""
    results = []
    load = os.getloadavg()[0]
    with open_stack(db, parallelism=args.parallelism, keep=args.keep, profile=profile) as stack:
        database = "sqlite" if stack.db_url.startswith("sqlite") else "postgresql"
        print(f"Pinflow run latency (issue #3), {database}")
        print_machine(stack.db_url)
        print(f"  {'parallelism':<26} {stack.settings.parallelism}")
        for scenario in chosen:
            stack.push(DAGS_DIR / scenario.file)
            figures = measure(stack, scenario, args.runs, args.warmup, args.timeout)
            report(scenario, figures)
            results.append((scenario, figures))
        summary(results)
        issue17(results, database)
    if profile:
        print(f"\nscheduler thread profile: {profile} (python -m pstats)")
    return database, results, load


if __name__ == "__main__":
    sys.exit(main())
