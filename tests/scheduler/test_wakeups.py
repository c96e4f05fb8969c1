"""A queued run wakes the scheduler at once: in-process, and across processes on PostgreSQL."""

from __future__ import annotations

import select
from pathlib import Path

import pytest

from pinflow.errors import ConflictError
from pinflow.scheduler.listen import listen
from pinflow.services import wakeups
from pinflow.services.push import register_snapshot
from pinflow.services.runs import trigger_run
from pinflow.store.db import Database
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
