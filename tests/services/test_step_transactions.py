"""A scheduler step's transactions (ADR 0042): on PostgreSQL the reports of one step share one
transaction (their runs locked first, in run order) and the claim another; on SQLite the whole
step is one. Counted with SQLAlchemy's ``commit`` event, on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import event, select

from pinflow.errors import ConflictError
from pinflow.services.commands._push import register_snapshot
from pinflow.services.commands._runs import trigger_run
from pinflow.services.engine import TaskReport, claim_and_start, report_and_claim, start_new_runs
from pinflow.store.db import Database
from pinflow.store.tables import DagRun, TaskInstance, TaskInstanceTry
from pinflow.testing import make_spec


@pytest.fixture
def two_runs(db: Database) -> Database:
    """Two runs of ``a >> b``, each ``a`` running."""
    register_snapshot(db, make_spec("steps", {"a": [], "b": ["a"]}), actor="t")
    for _ in range(2):
        trigger_run(db, dag_id="steps", actor="t")
    start_new_runs(db)
    started, held = claim_and_start(db, limit=10)
    assert (len(started), held) == (2, [])
    return db


def _commits(db: Database) -> list[int]:
    commits: list[int] = []
    event.listen(db.engine, "commit", lambda conn: commits.append(1))
    return commits


def test_a_steps_reports_commit_together_and_start_what_they_made_ready(
    two_runs: Database,
) -> None:
    db = two_runs
    with db.read() as s:
        running = s.execute(
            select(TaskInstance.id, TaskInstance.try_number).where(TaskInstance.state == "running")
        ).all()
    commits = _commits(db)
    # Given in the reverse of run order: the runs are locked in run order all the same.
    reports = [TaskReport(ti_id, try_number, True) for ti_id, try_number in reversed(running)]
    outcome = report_and_claim(db, reports, limit=10)

    assert sorted(str(state) for state in outcome.states.values()) == ["success", "success"]
    assert sorted(task.task_id for task, _ in outcome.started) == ["b", "b"]
    one_writer = db.dialect_ops.one_writer
    assert len(commits) == (1 if one_writer else 2)  # PostgreSQL: the reports, then the claim
    with db.read() as s:
        states = s.execute(
            select(TaskInstance.task_id, TaskInstance.state).order_by(TaskInstance.id)
        ).all()
        tries = s.scalars(select(TaskInstanceTry.state).order_by(TaskInstanceTry.ti_id)).all()
    assert [tuple(row) for row in states] == [
        ("a", "success"),
        ("b", "running"),
        ("a", "success"),
        ("b", "running"),
    ]
    assert sorted(tries) == ["running", "running", "success", "success"]


def test_a_stale_report_in_a_shared_step_changes_nothing_and_the_other_is_kept(
    two_runs: Database,
) -> None:
    db = two_runs
    with db.read() as s:
        (first, try_number), (second, _) = s.execute(
            select(TaskInstance.id, TaskInstance.try_number).where(TaskInstance.state == "running")
        ).all()
    reports = [TaskReport(first, try_number, True), TaskReport(second, try_number + 5, True)]
    outcome = report_and_claim(db, reports, limit=10)

    assert str(outcome.states[(first, try_number)]) == "success"
    refused = outcome.states[(second, try_number + 5)]
    assert "stale or a duplicate" in str(refused)
    with db.read() as s:
        assert s.get(TaskInstance, second).state == "running"  # type: ignore[union-attr]
    assert [task.task_id for task, _ in outcome.started] == ["b"]


def test_a_try_row_in_the_way_of_a_start_is_a_conflict_and_nothing_moves(
    db: Database,
) -> None:
    # The start's three writes go in one round trip on PostgreSQL: the try row's unique key
    # error is raised when they are sent, and must still be the conflict it was.
    register_snapshot(db, make_spec("steps", {"a": []}), actor="t")
    trigger_run(db, dag_id="steps", actor="t")
    start_new_runs(db)
    with db.transaction() as s:
        ti = s.scalars(select(TaskInstance).where(TaskInstance.task_id == "a")).one()
        digest = s.scalars(select(DagRun.snapshot_digest)).one()
        s.add(TaskInstanceTry(ti_id=ti.id, try_number=1, state="failed", snapshot_digest=digest))
    with pytest.raises(ConflictError, match="a try row with that number already exists"):
        claim_and_start(db, limit=10)
    with db.read() as s:
        assert s.scalars(select(TaskInstance.state)).all() == ["scheduled"]
        assert s.scalars(select(TaskInstanceTry.state)).all() == ["failed"]
