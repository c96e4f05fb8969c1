"""Issue #3's second bench DAG: a 1 -> 100 -> 1 fan-out of no-op tasks, with mapping."""

from __future__ import annotations

from pfbench import items, join, mapped

from pinflow import dag


@dag(dag_id="bench_fan100", max_active_runs=1, max_active_tasks=128)
def bench_fan100() -> None:
    join(mapped.expand(item=items(100)))


bench_fan100()
