"""A clear racing a task-result report, on PostgreSQL with two connections: one winner.

Either the report lands first (the try ends ``success``, then the clear resets the task) or
the clear lands first (the stale report is refused with ``ConflictError``). Never both, never
a lost update: the task always ends reset, with one consistent try history.
"""

from __future__ import annotations

import threading
from typing import Any

from sqlalchemy import select

from pinflow.errors import ConflictError
from pinflow.lifecycle.states import TaskState
from pinflow.services import engine as scheduling  # the face: schedule_pass
from pinflow.services import engine as task_results  # the face: claim, start, finish
from pinflow.services.commands import _clear as clear
from pinflow.services.commands import _push as push
from pinflow.services.commands import _runs as runs
from pinflow.store.db import Database
from pinflow.store.tables import TaskInstance, TaskInstanceTry
from pinflow.testing import make_spec


def running_task(db: Database, dag_id: str) -> tuple[str, int, int]:
    push.register_snapshot(db, make_spec(dag_id, {"a": []}), b"", actor="ci")
    run = runs.trigger_run(db, dag_id=dag_id, actor="alice")
    scheduling.schedule_pass(db)
    (claimed,) = task_results.claim_scheduled(db, limit=10, run_pk=run.id)
    task_results.start_task(db, claimed.ti_id, try_number=1)
    return run.run_id, claimed.ti_id, 1


def race(pg_db: Database, dag_id: str) -> dict[str, Any]:
    run_id, ti_id, try_number = running_task(pg_db, dag_id)
    clearer, reporter = Database(pg_db.url), Database(pg_db.url)
    barrier = threading.Barrier(2)
    out: dict[str, Any] = {}

    def do_clear() -> None:
        barrier.wait()
        out["clear"] = clear.clear_task_instances(
            clearer, dag_id, actor="alice", dag_run_id=run_id, only_failed=False
        )

    def do_report() -> None:
        barrier.wait()
        try:
            out["report"] = task_results.finish_task(
                reporter, ti_id, try_number=try_number, success=True, xcom=42
            )
        except ConflictError as exc:
            out["report"] = exc

    threads = [threading.Thread(target=do_clear), threading.Thread(target=do_report)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    clearer.dispose()
    reporter.dispose()
    out["ti_id"] = ti_id
    return out


def test_clear_racing_a_report_has_one_winner(pg_db: Database) -> None:
    outcomes = set()
    for attempt in range(5):
        out = race(pg_db, f"race{attempt}")
        assert {"clear", "report"} <= set(out), "both sides must finish"
        with pg_db.read() as s:
            ti = s.get(TaskInstance, out["ti_id"])
            assert ti is not None
            tries = s.scalars(select(TaskInstanceTry).where(TaskInstanceTry.ti_id == ti.id)).all()
        assert ti.state == TaskState.NONE  # the clear always takes effect
        assert len(tries) == 1
        if isinstance(out["report"], ConflictError):
            outcomes.add("clear-first")
            assert tries[0].state == "failed"
            assert tries[0].error == "cleared while running"
        else:
            outcomes.add("report-first")
            assert out["report"] == TaskState.SUCCESS
            assert tries[0].state == "success"
    assert outcomes  # at least one ordering observed; each was consistent
