"""DAG-level ``on_success_callback``/``on_failure_callback`` (ADR 0044): DAG files pushed
unmodified and run by the real scheduler and local executor, on SQLite and PostgreSQL. Each
callback is called in a process of its own when the run ends; the test reads what it printed
to its log. Driven by the scheduler's own steps and drains: no sleeps."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from tests.api.helpers import bearer, client_for, make_app, make_user
from tests.compat.callback_dag_files import (
    AIRFLOW_CALLBACKS,
    AIRFLOW_TIMEOUT_CALLBACK,
    NATIVE_CALLBACKS,
)
from tests.scheduler.helpers import (
    DRAIN_TIMEOUT,
    make_settings,
    push_dag,
    run_state,
    running_scheduler,
)

from pinflow.lifecycle.states import RunState
from pinflow.scheduler.loop import Scheduler
from pinflow.services.commands._run_states import set_run_state
from pinflow.services.commands._runs import trigger_run
from pinflow.services.engine import run_callbacks
from pinflow.store.db import Database
from pinflow.store.tables import DagRun, RunCallback

LOGICAL = datetime(2024, 3, 1, tzinfo=UTC)


def _run(db: Database, scheduler: Scheduler, dag_id: str, run_id: str, **conf: object) -> str:
    trigger_run(db, dag_id=dag_id, run_id=run_id, logical_date=LOGICAL, conf=conf, actor="tester")
    scheduler.wake()
    assert scheduler.drain(DRAIN_TIMEOUT), "the run or its callbacks did not finish in time"
    return run_state(db, dag_id, run_id)


def _callbacks(db: Database, dag_id: str, run_id: str) -> list[RunCallback]:
    with db.read() as s:
        return list(
            s.scalars(
                select(RunCallback)
                .join(DagRun, DagRun.id == RunCallback.run_pk)
                .where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
                .order_by(RunCallback.id)
            )
        )


def _log(callback: RunCallback) -> str:
    assert callback.log_path is not None
    return Path(callback.log_path).read_text()


def test_a_successful_run_calls_on_success_with_airflows_context(
    db: Database, scheduler: Scheduler, tmp_path: Path
) -> None:
    push_dag(db, tmp_path / "dags", "alerting", AIRFLOW_CALLBACKS)
    assert _run(db, scheduler, "alerting", "ok") == "success"
    [callback] = _callbacks(db, "alerting", "ok")
    assert (callback.kind, callback.reason, callback.state) == ("on_success", "success", "success")
    assert callback.attempts == 1
    assert callback.error is None
    assert "DAG SUCCESS alerting ok success reason=success ds=2024-03-01 ti=load" in _log(callback)


def test_a_failed_run_calls_each_on_failure_callback_and_one_that_raises_changes_nothing(
    db: Database, scheduler: Scheduler, tmp_path: Path
) -> None:
    push_dag(db, tmp_path / "dags", "alerting", AIRFLOW_CALLBACKS)
    assert _run(db, scheduler, "alerting", "bad", fail=True) == "failed"
    [callback] = _callbacks(db, "alerting", "bad")
    assert (callback.kind, callback.reason, callback.state) == (
        "on_failure",
        "task_failure",
        "failed",
    )
    # The first callback raised; the second still ran, and the run stays failed.
    assert callback.error is not None
    assert "broken_alert: RuntimeError: the pager is down" in callback.error
    log = _log(callback)
    assert "RuntimeError: the pager is down" in log  # its traceback, in the callback's log
    assert "DAG FAILURE alerting bad failed reason=task_failure ti=extract failed" in log
    assert "conf={'fail': True}" in log
    assert run_state(db, "alerting", "bad") == "failed"
    _the_api_shows_the_callback(db, tmp_path / "api")


def _the_api_shows_the_callback(db: Database, home: Path) -> None:
    app = make_app(db, home)
    make_user(db, "admin", superuser=True)
    with client_for(app) as client:
        url = "/api/v2/dags/alerting/dagRuns/bad/callbacks"
        response = client.get(url, headers=bearer(app, "admin"))
        assert response.status_code == 200, response.text
        [shown] = response.json()["callbacks"]
        assert shown["kind"] == "on_failure"
        assert shown["state"] == "failed"
        assert shown["reason"] == "task_failure"
        assert shown["attempts"] == 1
        assert "the pager is down" in shown["error"]
        assert "DAG FAILURE alerting bad failed" in shown["output"]
        assert client.get(url).status_code == 401
        missing = client.get(
            "/api/v2/dags/alerting/dagRuns/nope/callbacks", headers=bearer(app, "admin")
        )
        assert missing.status_code == 404


def test_a_run_past_its_dagrun_timeout_calls_on_failure_with_reason_timed_out(
    db: Database, scheduler: Scheduler, tmp_path: Path
) -> None:
    push_dag(db, tmp_path / "dags", "slow", AIRFLOW_TIMEOUT_CALLBACK)
    trigger_run(db, dag_id="slow", run_id="r1", actor="tester")
    scheduler.wake()
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while run_state(db, "slow", "r1") != "running":
        assert time.monotonic() < deadline, "the run never started"
        scheduler.step(0.05)  # waits on the executor's pipe and the timers, not a sleep
    with db.transaction() as s:  # the run started two hours ago: its hour is over
        s.execute(
            update(DagRun)
            .where(DagRun.dag_id == "slow")
            .values(start_date=datetime.now(UTC) - timedelta(hours=2))
        )
    scheduler._timers.deadline = 0.0  # what the timer set at the start would say by now
    assert scheduler.drain(DRAIN_TIMEOUT)
    assert run_state(db, "slow", "r1") == "failed"
    [callback] = _callbacks(db, "slow", "r1")
    assert (callback.reason, callback.state) == ("timed_out", "success")
    assert "DAG FAILURE reason=timed_out state=failed" in _log(callback)


def test_pinflows_own_dag_callbacks_receive_the_run_end(
    db: Database, scheduler: Scheduler, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PINFLOW_SECRET_KEY", "not-for-callbacks")
    push_dag(db, tmp_path / "dags", "native_alerts", NATIVE_CALLBACKS)
    assert _run(db, scheduler, "native_alerts", "r1") == "failed"
    [callback] = _callbacks(db, "native_alerts", "r1")
    assert callback.state == "success", callback.error
    log = _log(callback)
    assert "RUN ENDED native_alerts r1 failed task_failure failed=['work'] last=work" in log
    # The control plane's settings stay with the scheduler, as a task process's do.
    assert "ENV ['PINFLOW_DAG_ID', 'PINFLOW_RUN_ID']" in log
    assert callback.output is not None
    assert "RUN ENDED" in callback.output


def test_marking_a_run_calls_no_callback_as_in_airflow(
    db: Database, scheduler: Scheduler, tmp_path: Path
) -> None:
    push_dag(db, tmp_path / "dags", "alerting", AIRFLOW_CALLBACKS)
    trigger_run(db, dag_id="alerting", run_id="marked", actor="tester")
    set_run_state(db, dag_id="alerting", run_id="marked", state=RunState.FAILED, actor="tester")
    assert scheduler.drain(DRAIN_TIMEOUT)
    assert _callbacks(db, "alerting", "marked") == []


def test_a_callback_claimed_by_a_scheduler_that_died_is_called_by_another(
    db: Database, scheduler: Scheduler, tmp_path: Path
) -> None:
    """The row is the promise: written with the run's end, claimed by exactly one scheduler,
    and taken again only when that scheduler's claim is older than the timeout."""
    push_dag(db, tmp_path / "dags", "native_alerts", NATIVE_CALLBACKS)
    trigger_run(db, dag_id="native_alerts", run_id="r1", actor="tester")
    scheduler.stop()  # the run is ended by hand below; no scheduler runs
    with db.transaction() as s:
        run = s.scalars(select(DagRun).where(DagRun.run_id == "r1")).one()
        run.state = "failed"
        s.add(RunCallback(run_pk=run.id, kind="on_failure", reason="task_failure", attempts=0))
    long_ago = datetime.now(UTC) - timedelta(days=1)
    [first] = run_callbacks.claim_run_callbacks(db, claimer="dead", limit=4, stale_before=long_ago)
    assert first.attempt == 1
    assert first.refs == ["native_alerts:notify"]
    # A second scheduler finds nothing while the claim is fresh: no callback runs twice.
    assert (
        run_callbacks.claim_run_callbacks(db, claimer="other", limit=4, stale_before=long_ago) == []
    )
    # Past the timeout the claim is stale: the next scheduler takes it and calls it.
    with db.transaction() as s:
        s.execute(update(RunCallback).values(claimed_at=long_ago - timedelta(hours=1)))
    scheduler.start()
    assert scheduler.drain(DRAIN_TIMEOUT)
    [callback] = _callbacks(db, "native_alerts", "r1")
    assert (callback.state, callback.attempts) == ("success", 2)
    assert callback.claimed_by == scheduler._safety.component_id
    # The dead scheduler's late report changes nothing: the claim is not its own any more.
    assert not run_callbacks.finish_run_callback(db, callback.id, claimer="dead", error="late")
    assert "RUN ENDED native_alerts r1" in _log(callback)


def test_a_callback_lost_max_attempts_times_is_failed_not_called_again(
    db: Database, tmp_path: Path, scheduler: Scheduler
) -> None:
    push_dag(db, tmp_path / "dags", "native_alerts", NATIVE_CALLBACKS)
    trigger_run(db, dag_id="native_alerts", run_id="r1", actor="tester")
    long_ago = datetime.now(UTC) - timedelta(days=1)
    with db.transaction() as s:
        run = s.scalars(select(DagRun).where(DagRun.run_id == "r1")).one()
        s.add(
            RunCallback(
                run_pk=run.id,
                kind="on_failure",
                reason="task_failure",
                state="running",
                attempts=run_callbacks.MAX_ATTEMPTS,
                claimed_by="dead",
                claimed_at=long_ago,
            )
        )
    assert (
        run_callbacks.claim_run_callbacks(db, claimer="me", limit=4, stale_before=datetime.now(UTC))
        == []
    )
    [callback] = _callbacks(db, "native_alerts", "r1")
    assert callback.state == "failed"
    assert callback.error == "not called: its scheduler stopped during each of 3 attempts"


def test_a_scheduler_runs_at_most_run_callback_parallelism_callbacks_at_once(
    db: Database, tmp_path: Path
) -> None:
    """With ``run_callback_parallelism=1`` the second run's callback is claimed only once the
    first one's has ended: the claims and ends of the two rows do not overlap."""
    push_dag(db, tmp_path / "dags", "native_alerts", NATIVE_CALLBACKS)
    settings = make_settings(db, tmp_path / "home", run_callback_parallelism=1)
    with running_scheduler(db, settings) as scheduler:
        for run_id in ("r1", "r2"):
            trigger_run(db, dag_id="native_alerts", run_id=run_id, conf={}, actor="tester")
        scheduler.wake()
        assert scheduler.drain(DRAIN_TIMEOUT), "the runs or their callbacks did not finish"
    first, second = sorted(
        (*_callbacks(db, "native_alerts", "r1"), *_callbacks(db, "native_alerts", "r2")),
        key=lambda c: c.claimed_at or datetime.max.replace(tzinfo=UTC),
    )
    assert (first.state, second.state) == ("success", "success")
    assert first.end_date is not None
    assert second.claimed_at is not None
    assert second.claimed_at >= first.end_date
