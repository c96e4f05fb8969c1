"""A run's task instances: one row per task, with the task's resolved retries and pool."""

from __future__ import annotations

from sqlalchemy import select

from pinflow.services.commands._push import register_snapshot
from pinflow.services.commands._runs import trigger_run
from pinflow.store.db import Database
from pinflow.store.tables import DagRun, TaskInstance
from pinflow.testing import make_spec


def test_trigger_creates_one_task_instance_per_task_with_its_resolved_settings(
    db: Database,
) -> None:
    spec = make_spec(
        "rows",
        {"a": [], "b": ["a"], "c": ["a"]},
        task_fields={"b": {"retries": 0, "pool": "io", "pool_slots": 3}},
        default_args={"retries": 2, "pool": "etl"},
    )
    register_snapshot(db, spec, actor="t")
    run = trigger_run(db, dag_id="rows", actor="t")
    with db.read() as s:
        run_pk = s.scalars(select(DagRun.id).where(DagRun.run_id == run.run_id)).one()
        rows = s.scalars(
            select(TaskInstance).where(TaskInstance.run_pk == run_pk).order_by(TaskInstance.id)
        ).all()
        got = [
            (r.dag_id, r.task_id, r.map_index, r.state, r.try_number, r.max_tries, r.pool)
            for r in rows
        ]
        assert got == [
            ("rows", "a", -1, "none", 0, 2, "etl"),
            ("rows", "b", -1, "none", 0, 0, "io"),
            ("rows", "c", -1, "none", 0, 2, "etl"),
        ]
        assert [r.pool_slots for r in rows] == [1, 3, 1]
        assert all(r.updated_at.tzinfo is not None for r in rows)
