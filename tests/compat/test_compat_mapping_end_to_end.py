"""Dynamic task mapping in Airflow 3 DAG files (ADR 0039), pushed unmodified and run by the
real scheduler and local executor (real task processes), on SQLite and PostgreSQL: the task
ids, map indexes, states and XComs Airflow's documentation gives for the same files."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from tests.compat.mapping_dag_files import MAPPING, MAPPING_FAILURES
from tests.compat.test_compat_flow_end_to_end import states, xcom
from tests.scheduler.helpers import push_dag, run, task_instances, tries_of

from pinflow.scheduler.loop import Scheduler
from pinflow.services.xcom_values import value_of as get_xcom
from pinflow.store.db import Database
from pinflow.store.tables import DagRun, TaskInstance


def elements(db: Database, dag_id: str, task_id: str) -> list[tuple[int, str]]:
    with db.read() as s:
        rows = s.execute(
            select(TaskInstance.map_index, TaskInstance.state)
            .join(DagRun, DagRun.id == TaskInstance.run_pk)
            .where(DagRun.dag_id == dag_id, TaskInstance.task_id == task_id)
            .order_by(TaskInstance.map_index)
        )
        return [(map_index, state) for map_index, state in rows]


def values(db: Database, dag_id: str, task_id: str) -> list[object]:
    """The XComs of a mapped task's elements, in map_index order."""
    run_pk = task_instances(db, dag_id, "r1")[task_id].run_pk
    indexes = [i for i, _ in elements(db, dag_id, task_id)]
    return [get_xcom(db, run_pk, task_id, map_index=i) for i in indexes]


def test_literal_lists_expand_kwargs_keys_and_classic_operators_map_as_in_airflow(
    db: Database, scheduler: Scheduler, tmp_path: Path
) -> None:
    push_dag(db, tmp_path / "dags", "mapping", MAPPING)
    assert run(db, scheduler, "mapping") == "success"
    assert elements(db, "mapping", "add_one") == [(0, "success"), (1, "success"), (2, "success")]
    assert xcom(db, "mapping", "sum_it") == 9  # Airflow's docs: "Total was 9"
    # several arguments: their cross product, the last one varying fastest
    assert [i for i, _ in elements(db, "mapping", "cross")] == list(range(6))
    assert values(db, "mapping", "cross") == [11, 21, 31, 12, 22, 32]
    assert values(db, "mapping", "mixed") == [110, 120]  # partial() constant, upstream list
    assert values(db, "mapping", "ordered") == [11, 12, 21, 22]  # expand(y=..., x=...): y first
    assert values(db, "mapping", "pair") == ["a=1", "b=2"]  # a dict maps over its items
    assert values(db, "mapping", "kwargs_literal") == [3, 10]
    assert values(db, "mapping", "kwargs_upstream") == [3, 7]
    assert elements(db, "mapping", "never") == [(-1, "skipped")]  # an empty literal list
    assert values(db, "mapping", "shout") == ["A.CSV", "B.CSV"]  # output["files"]: that XCom
    assert values(db, "mapping", "bash_commands") == ["one", "two"]
    assert values(db, "mapping", "bash_env") == ["ada 0", "bob 1"]  # rendered per map index
    assert values(db, "mapping", "py_args") == [
        {"double": 2, "map_index": 0},
        {"double": 4, "map_index": 1},
    ]
    assert values(db, "mapping", "py_kwargs") == [
        {"double": 6, "map_index": 0},
        {"double": 8, "map_index": 1},
    ]


def test_a_non_dict_element_fails_and_too_many_elements_fail_the_task(
    db: Database, scheduler: Scheduler, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PINFLOW_MAX_MAP_LENGTH", "3")
    push_dag(db, tmp_path / "dags", "mapping_failures", MAPPING_FAILURES)
    assert run(db, scheduler, "mapping_failures") == "failed"
    # as Airflow: each element resolves its own dict; the ones that are not dicts fail
    assert elements(db, "mapping_failures", "show") == [
        (0, "success"),
        (1, "failed"),
        (2, "failed"),
    ]
    with db.read() as s:
        failed = s.scalars(
            select(TaskInstance)
            .join(DagRun, DagRun.id == TaskInstance.run_pk)
            .where(TaskInstance.task_id == "show", TaskInstance.map_index > 0)
            .order_by(TaskInstance.map_index)
        ).all()
        ids = [ti.id for ti in failed]
    errors = [tries_of(db, ti_id)[-1].error or "" for ti_id in ids]
    assert "expand_kwargs() expects a list[dict], not list[int]" in errors[0]
    assert "expand_kwargs() expects a list[dict], not list[None]" in errors[1]
    assert states(db, "mapping_failures")["add_one"] == "failed"  # 4 elements, at most 3
    assert elements(db, "mapping_failures", "add_one") == [(-1, "failed")]
