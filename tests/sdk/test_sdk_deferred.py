"""A task process imports its DAG file without building the DAG, unless something reads it."""

from __future__ import annotations

from pinflow.sdk import dag, task
from pinflow.sdk.dag import Dag, LazyDag, collecting, deferred

built: list[str] = []


@task
def extract() -> int:
    return 1


@dag(dag_id="lazy")
def lazy(suffix: str = "") -> None:
    built.append(suffix)
    extract.override(task_id=f"extract{suffix}")()


def test_a_deferred_call_builds_nothing_until_read() -> None:
    built.clear()
    with deferred():
        handle = lazy("_x")
    assert isinstance(handle, LazyDag)
    assert built == []
    assert handle.dag_id == "lazy"  # first use: built, with the call's arguments
    assert built == ["_x"]
    assert [t.task_id for t in handle.spec.tasks] == ["extract_x"]
    assert built == ["_x"]  # once


def test_outside_the_block_and_while_compiling_a_call_builds_at_once() -> None:
    built.clear()
    assert isinstance(lazy(), Dag)
    with deferred(), collecting() as collector:  # the compiler never defers
        result = lazy("_c")
    assert isinstance(result, Dag)
    assert [d.dag_id for d in collector.dags] == ["lazy"]
    assert built == ["", "_c"]
