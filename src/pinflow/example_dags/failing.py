"""A task that fails: see the traceback in its log, fix the DAG, clear it, watch it pass."""

from __future__ import annotations

from pinflow import dag, task


@task
def prepare() -> dict[str, int]:
    return {"rows": 3}


@task
def divide(stats: dict[str, int]) -> float:
    return stats["rows"] / 0  # the bug: fix it, push, then clear this task


@dag(dag_id="example_failing", name="Example: a failing task", tags=["example"])
def example_failing() -> None:
    divide(prepare())


example_failing()
