"""One no-op task: what the API bench triggers while the scheduler runs what it triggers."""

from __future__ import annotations

from pfbench import noop

from pinflow import dag


@dag(dag_id="bench_noop1", max_active_runs=16)
def bench_noop1() -> None:
    noop()


bench_noop1()
