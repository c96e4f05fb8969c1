"""A chain of 10 no-op tasks with room for 1,000 runs at once: the load the API bench keeps the
scheduler under with ``--busy-runs`` (issue #17 point 3)."""

from __future__ import annotations

from pfbench import noop

from pinflow import chain, dag


@dag(dag_id="bench_chain10", max_active_runs=1000, max_active_tasks=16)
def bench_chain10() -> None:
    chain(*[noop.override(task_id=f"t{i}")() for i in range(10)])


bench_chain10()
