"""``max_active_tis_per_dag`` with the real scheduler and the local executor (real processes,
``parallelism`` 4), on SQLite and PostgreSQL: the try rows' times show it held."""

from __future__ import annotations

import itertools
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from tests.scheduler.helpers import (
    DRAIN_TIMEOUT,
    make_settings,
    push_dag,
    run_state,
    running_scheduler,
)

from pinflow.services.commands._runs import trigger_run
from pinflow.store.db import Database
from pinflow.store.tables import TaskInstance, TaskInstanceTry

LIMITED = """
    from pinflow import dag, task


    @dag(dag_id="limited", max_active_runs=3)
    def limited():
        one = task.bash(task_id="one", bash_command="sleep 0.3", max_active_tis_per_dag=1)
        free = task.bash(task_id="free", bash_command="sleep 0.3", queue="elsewhere")
        one >> task.bash(task_id="after", bash_command="true")
        free


    limited()
"""


def intervals(db: Database, task_id: str) -> list[tuple[datetime, datetime]]:
    with db.read() as s:
        rows = s.execute(
            select(TaskInstanceTry.start_date, TaskInstanceTry.end_date)
            .join(TaskInstance, TaskInstance.id == TaskInstanceTry.ti_id)
            .where(TaskInstance.dag_id == "limited", TaskInstance.task_id == task_id)
        ).all()
    spans = []
    for start, end in rows:
        assert start is not None
        assert end is not None
        spans.append((start, end))
    return sorted(spans)


def overlap(a: tuple[datetime, datetime], b: tuple[datetime, datetime]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def test_a_limited_task_never_runs_twice_at_once_across_runs(db: Database, tmp_path: Path) -> None:
    settings = make_settings(db, tmp_path / "home", parallelism=4)
    push_dag(db, tmp_path / "dags", "limited_dag", LIMITED)
    with running_scheduler(db, settings) as scheduler:
        for i in range(3):
            trigger_run(db, dag_id="limited", run_id=f"r{i}", actor="tester")
        assert scheduler.drain(DRAIN_TIMEOUT), "the runs did not finish in time"

    assert [run_state(db, "limited", f"r{i}") for i in range(3)] == ["success"] * 3
    ones = intervals(db, "one")
    assert len(ones) == 3
    assert not any(overlap(a, b) for a, b in itertools.pairwise(ones))
    # The executor did run tries side by side: the unlimited task of the three runs did.
    frees = intervals(db, "free")
    assert len(frees) == 3
    assert any(overlap(a, b) for a, b in itertools.combinations(frees, 2))
    with db.read() as s:
        queues = set(s.scalars(select(TaskInstance.queue).where(TaskInstance.task_id == "free")))
    assert queues == {"elsewhere"}
