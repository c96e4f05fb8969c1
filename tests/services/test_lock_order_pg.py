"""The report and start paths lock a run before its task instance (ADR 0002), now in one
joined ``SELECT … FOR UPDATE`` (ADR 0025): staged on PostgreSQL, where rows are locked."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import text

from pinflow.services.commands._push import register_snapshot
from pinflow.services.commands._runs import trigger_run
from pinflow.services.engine import _try_rows
from pinflow.spec.models import DagSpec, TaskSpec
from pinflow.store.db import Database


@pytest.mark.postgres_only
def test_the_task_instance_is_not_locked_while_its_run_is_waited_for(pg_db: Database) -> None:
    spec = DagSpec(dag_id="order", tasks=[TaskSpec(task_id="a", kind="bash", bash_command="true")])
    register_snapshot(pg_db, spec, actor="ci")
    run = trigger_run(pg_db, dag_id="order", actor="ci")
    with pg_db.read() as s:
        run_pk, ti_id = s.execute(
            text("SELECT run_pk, id FROM task_instance WHERE task_id = 'a'")
        ).one()
    assert run is not None

    holder = pg_db.engine.connect()
    holder.begin()
    holder.execute(text("SELECT id FROM dag_run WHERE id = :id FOR UPDATE"), {"id": run_pk})
    locked: list[int] = []
    waiter_pid: list[int] = []

    def lock_both() -> None:
        with pg_db.transaction() as s:
            waiter_pid.append(s.execute(text("SELECT pg_backend_pid()")).scalar_one())
            locked.append(_try_rows.lock(s, ti_id)[1].id)

    thread = threading.Thread(target=lock_both)
    thread.start()
    try:
        probe = Database(pg_db.url)
        try:
            # Autocommit: pg_stat_activity is read afresh by each statement, not per transaction.
            with probe.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                waiting = False
                for _ in range(1000):  # until the waiter blocks on the run's row lock
                    if waiter_pid:
                        waiting = conn.execute(
                            text(
                                "SELECT wait_event_type = 'Lock' FROM pg_stat_activity "
                                "WHERE pid = :pid"
                            ),
                            {"pid": waiter_pid[0]},
                        ).scalar_one()
                    if waiting:
                        break
                    thread.join(timeout=0.01)
                assert waiting, "the waiter never waited for the run's row"
                # The task instance's row is free: the waiter holds nothing it would make a
                # run-holder wait for (a run holder may go on to lock its task instances).
                free = conn.execute(
                    text("SELECT id FROM task_instance WHERE id = :id FOR UPDATE NOWAIT"),
                    {"id": ti_id},
                ).scalar_one()
                assert free == ti_id
        finally:
            probe.dispose()
    finally:
        holder.rollback()
        holder.close()
        thread.join(timeout=30)
    assert locked == [ti_id]
