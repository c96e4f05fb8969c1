"""The 1 -> 100 -> 1 mapped fan-out of ``fan100.py`` with tasks that write nothing (no marks in
the staging dir): what the orchestration costs and nothing else, as peers measure it."""

from __future__ import annotations

from pfbench import count_of, echo, numbers

from pinflow import dag


@dag(dag_id="bench_fan100_noop", max_active_runs=1, max_active_tasks=128)
def bench_fan100_noop() -> None:
    count_of(echo.expand(item=numbers(100)))


bench_fan100_noop()
