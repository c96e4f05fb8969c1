"""A queued run wakes the scheduler at once: in-process, and across processes on PostgreSQL."""

from __future__ import annotations

import select
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from pinflow.errors import ConflictError
from pinflow.executors.local_channel import ChannelledLocalExecutor
from pinflow.scheduler.listen import listen
from pinflow.scheduler.loop import Scheduler
from pinflow.services.commands._push import register_snapshot
from pinflow.services.commands._runs import trigger_run
from pinflow.services.engine import _wakeups as wakeups
from pinflow.store.db import Database
from pinflow.store.tables import Dag
from pinflow.testing import make_spec

from .helpers import make_settings, run_state, running_scheduler


def _register(db: Database) -> None:
    register_snapshot(db, make_spec("wake", {"a": []}), actor="tester")


def test_subscribers_are_called_after_the_commit_that_queued_a_run(db: Database) -> None:
    _register(db)
    calls: list[str] = []
    unsubscribe = wakeups.subscribe(lambda: calls.append("woken"))
    try:
        trigger_run(db, dag_id="wake", run_id="first", actor="tester")
        assert calls == ["woken"]
        with pytest.raises(ConflictError):  # rolled back: nobody is woken
            trigger_run(db, dag_id="wake", run_id="first", actor="tester")
        assert calls == ["woken"]
    finally:
        unsubscribe()
    trigger_run(db, dag_id="wake", run_id="second", actor="tester")
    assert calls == ["woken"]


def test_a_triggered_run_starts_without_waiting_for_the_poll(db: Database, tmp_path: Path) -> None:
    _register(db)
    settings = make_settings(db, tmp_path, poll_interval=3600.0, sweep_interval=3600.0)
    with running_scheduler(db, settings) as scheduler:
        scheduler.step(0.0)  # the start's timers have run: the next poll is an hour away
        trigger_run(db, dag_id="wake", run_id="now", actor="tester")
        scheduler.step(5.0)  # returns on the wake-up, not after 5 s or an hour
        assert run_state(db, "wake", "now") == "running"
        assert scheduler.drain(timeout=30.0)
    assert run_state(db, "wake", "now") == "success"


def test_another_process_hears_of_a_queued_run_on_commit(pg_db: Database) -> None:
    _register(pg_db)
    listener = listen(pg_db.url)
    assert listener is not None
    try:
        assert not listener.drain()
        trigger_run(pg_db, dag_id="wake", run_id="remote", actor="tester")
        readable, _, _ = select.select([listener.fileno()], [], [], 10.0)
        assert readable
        assert listener.drain()
        assert not listener.drain()  # consumed
    finally:
        listener.close()


def test_a_run_waiting_for_max_active_runs_starts_when_the_previous_one_ends(
    db: Database, tmp_path: Path
) -> None:
    register_snapshot(db, make_spec("one_at_a_time", {"a": []}, max_active_runs=1), actor="t")
    settings = make_settings(db, tmp_path, poll_interval=3600.0, sweep_interval=3600.0)
    with running_scheduler(db, settings) as scheduler:
        scheduler.step(0.0)
        for run_id in ("first", "second"):
            trigger_run(db, dag_id="one_at_a_time", run_id=run_id, actor="t")
        # Without a wake-up when "first" ends, "second" would wait for the hourly poll.
        assert scheduler.drain(timeout=30.0)
    assert run_state(db, "one_at_a_time", "second") == "success"


def _idle_scheduler(db: Database, tmp_path: Path, *, in_process_api: bool) -> Scheduler:
    settings = make_settings(db, tmp_path, sweep_interval=0.01, idle_interval=3600.0)
    return Scheduler(
        db, ChannelledLocalExecutor.from_settings(settings), settings, in_process_api=in_process_api
    )


def _until_a_sweep_at_rest(scheduler: Scheduler) -> None:
    """Step until a sweep at the busy rhythm found nothing to do (a wake-up still in flight,
    e.g. a NOTIFY of the drained run's end, brings the busy rhythm back once more)."""
    for _ in range(50):
        scheduler.step(0.05)
        if scheduler.next_sweep_in() > 1.0:
            return


def test_at_rest_the_scheduler_sleeps_until_the_next_schedule_or_an_event(
    db: Database, tmp_path: Path
) -> None:
    _register(db)
    register_snapshot(db, make_spec("daily", {"a": []}, trigger={"schedule": "@daily"}), actor="t")
    scheduler = _idle_scheduler(db, tmp_path, in_process_api=True)
    try:
        assert scheduler.drain(timeout=30.0)  # the daily DAG's first run, if any, is done
        with db.transaction() as s:  # its next run is due in two minutes
            s.execute(
                update(Dag)
                .where(Dag.dag_id == "daily")
                .values(next_dagrun_after=datetime.now(UTC) + timedelta(seconds=120))
            )
        _until_a_sweep_at_rest(scheduler)
        assert 100.0 < scheduler.next_sweep_in() <= 120.0  # the schedule, not the idle hour

        trigger_run(db, dag_id="wake", run_id="now", actor="tester")  # wakes it
        scheduler.step(1.0)
        assert run_state(db, "wake", "now") == "running"
        assert scheduler.next_sweep_in() <= 0.01  # busy again
        assert scheduler.drain(timeout=30.0)
    finally:
        scheduler.close()
    assert run_state(db, "wake", "now") == "success"


def test_a_scheduler_that_no_event_reaches_keeps_its_rhythm(db: Database, tmp_path: Path) -> None:
    _register(db)
    scheduler = _idle_scheduler(db, tmp_path, in_process_api=False)
    try:
        scheduler.start()
        _until_a_sweep_at_rest(scheduler)
        if not db.is_sqlite:  # LISTEN: events reach it, so it rests like standalone
            assert scheduler.next_sweep_in() > 60.0
        else:  # its own process on SQLite: nothing would wake it, so it keeps sweeping
            assert scheduler.next_sweep_in() <= 0.01
    finally:
        scheduler.close()
