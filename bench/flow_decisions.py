"""ADR 0033: the cost of a branch / short-circuit decision, taken in the report's transaction.

Pure rules, no database: a branch task with ``--width`` direct downstream chains of ``--depth``
tasks each (``width * depth + 2`` tasks); prints the wall time per decision (median of
``--repeat``) for a branch following one chain, and for a short circuit skipping everything.
"""

from __future__ import annotations

import argparse
import statistics
import time

from pinflow.lifecycle.flow_rules import flow_decision
from pinflow.spec.models import DagSpec, TaskFlow, TaskSpec


def build(width: int, depth: int) -> DagSpec:
    tasks = [
        TaskSpec(task_id="branch", callable="m:f", flow=TaskFlow.BRANCH),
        TaskSpec(task_id="check", callable="m:f", flow=TaskFlow.SHORT_CIRCUIT),
    ]
    for w in range(width):
        previous = ["branch", "check"]
        for d in range(depth):
            task_id = f"c{w}_{d}"
            tasks.append(TaskSpec(task_id=task_id, callable="m:f", depends_on=previous))
            previous = [task_id]
    return DagSpec(dag_id="bench_flow", tasks=tasks)


def timed(spec: DagSpec, task_id: str, value: object, repeat: int) -> tuple[float, int]:
    task = spec.task(task_id)
    assert task is not None
    times, skipped = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        skipped = len(flow_decision(spec, task, value).skip)
        times.append(time.perf_counter() - start)
    return statistics.median(times), skipped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--width", type=int, default=100)
    parser.add_argument("--depth", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    spec = build(args.width, args.depth)
    print(f"tasks: {len(spec.tasks)}")
    for label, task_id, value in [
        ("branch, one chain followed", "branch", "c0_0"),
        ("short circuit, all skipped", "check", False),
    ]:
        seconds, skipped = timed(spec, task_id, value, args.repeat)
        print(f"{label}: {seconds * 1000:.2f} ms per decision, {skipped} tasks skipped")


if __name__ == "__main__":
    main()
