"""The same 1 -> 100 -> 1 shape with 100 distinct tasks instead of mapping (no XComs)."""

from __future__ import annotations

from pfbench import marked

from pinflow import chain, dag


@dag(dag_id="bench_fan100_static", max_active_runs=1, max_active_tasks=128)
def bench_fan100_static() -> None:
    first = marked.override(task_id="first")()
    middle = [marked.override(task_id=f"m{i:03d}")() for i in range(100)]
    last = marked.override(task_id="last")()
    chain(first, middle, last)


bench_fan100_static()
