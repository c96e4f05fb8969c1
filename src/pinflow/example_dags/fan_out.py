"""Dynamic task mapping: one task instance per element of an upstream list, then a reduce."""

from __future__ import annotations

from pinflow import dag, task


@task
def list_files() -> list[str]:
    return [f"part-{i:03d}.csv" for i in range(8)]


@task
def count_rows(name: str) -> int:
    return len(name) * 10


@task
def total(counts: list[int]) -> int:
    return sum(counts)


@dag(dag_id="example_fan_out", name="Example: fan-out with mapping", tags=["example"])
def example_fan_out() -> None:
    total(count_rows.expand(name=list_files()))


example_fan_out()
