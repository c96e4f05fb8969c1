"""Every example DAG a new user tries first runs end to end, in real processes, on each backend."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from tests.scheduler.helpers import DRAIN_TIMEOUT, make_settings, running_scheduler

from pinflow.sdk.compiler import compile_path
from pinflow.services.commands import _runs as runs
from pinflow.services.commands._push import register_snapshot
from pinflow.services.xcom_values import value_of as get_xcom
from pinflow.store.db import Database
from pinflow.store.tables import DagRun, TaskInstance

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "pinflow" / "example_dags"
EXPECTED = {
    "example_etl": "success",
    "example_fan_out": "success",
    "example_retries": "success",
    "example_bash": "success",
    "example_failing": "failed",
}


def task_states(db: Database, run_pk: int) -> dict[tuple[str, int], tuple[str, int]]:
    with db.read() as s:
        rows = s.execute(
            select(
                TaskInstance.task_id,
                TaskInstance.map_index,
                TaskInstance.state,
                TaskInstance.try_number,
            ).where(TaskInstance.run_pk == run_pk)
        ).all()
    return {(t, m): (st, n) for t, m, st, n in rows}


@pytest.fixture
def example_runs(db: Database, tmp_path: Path) -> dict[str, int]:
    compiled = compile_path(EXAMPLES)
    assert {c.spec.dag_id for c in compiled} == set(EXPECTED)
    started = {}
    for item in compiled:
        register_snapshot(db, item.spec, item.bundle, actor="tester")
        started[item.spec.dag_id] = runs.trigger_run(db, dag_id=item.spec.dag_id, actor="t").id
    with running_scheduler(db, make_settings(db, tmp_path / "home")) as scheduler:
        assert scheduler.drain(DRAIN_TIMEOUT), "the examples did not finish in time"
    return started


def test_each_example_reaches_its_expected_state(
    db: Database, example_runs: dict[str, int]
) -> None:
    with db.read() as s:
        states = {
            dag_id: s.scalars(select(DagRun.state).where(DagRun.id == pk)).one()
            for dag_id, pk in example_runs.items()
        }
    assert states == EXPECTED


def test_example_details(db: Database, example_runs: dict[str, int]) -> None:
    etl = example_runs["example_etl"]
    assert get_xcom(db, etl, "load") == 2
    assert get_xcom(db, etl, "transform")[0]["temp"] == pytest.approx(38.3)

    fan = task_states(db, example_runs["example_fan_out"])
    mapped = sorted(m for (t, m) in fan if t == "count_rows")
    assert mapped == list(range(8))
    assert get_xcom(db, example_runs["example_fan_out"], "total") == sum(
        len(f"part-{i:03d}.csv") * 10 for i in range(8)
    )

    assert task_states(db, example_runs["example_retries"])[("flaky", -1)] == ("success", 3)
    assert get_xcom(db, example_runs["example_bash"], "check") == "staged"
    assert task_states(db, example_runs["example_failing"])[("divide", -1)][0] == "failed"
