"""Issue #3's first bench DAG: a chain of 20 no-op tasks."""

from __future__ import annotations

from pfbench import marked

from pinflow import chain, dag


@dag(dag_id="bench_chain20", max_active_runs=1)
def bench_chain20() -> None:
    chain(*[marked.override(task_id=f"t{i:02d}")() for i in range(20)])


bench_chain20()
