"""A sensor's waits in the engine (ADR 0036), on a fake clock and no processes: a rescheduled
sensor's next poke is not started before it is due and spends no retry; a deferred sensor is
completed by the scheduler's check of its trigger, from the database alone (a restarted
scheduler finds it), and of two schedulers checking it at once one wins (PostgreSQL)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from pinflow.services import engine
from pinflow.services.commands import _push as push
from pinflow.services.commands import _runs as runs
from pinflow.store.db import Database
from pinflow.store.tables import TaskInstance, TaskInstanceTry
from pinflow.testing import ExecutionContext, TaskOutcome, make_spec, run_until_idle

T0 = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
SENSOR = {"kind": "python", "callable": "m:poke", "bash_command": None}


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def push_sensor(db: Database, dag_id: str, **sensor: Any) -> None:
    fields = {"wait": {**SENSOR, "sensor": sensor}, "after": {}}
    spec = make_spec(dag_id, {"wait": [], "after": ["wait"]}, task_fields=fields)
    push.register_snapshot(db, spec, b"", actor="ci")
    runs.trigger_run(db, dag_id=dag_id, run_id="r1", actor="alice")


def rows(db: Database, task_id: str = "wait") -> tuple[TaskInstance, list[TaskInstanceTry]]:
    with db.read() as s:
        ti = s.scalars(select(TaskInstance).filter_by(task_id=task_id)).one()
        tries = list(
            s.scalars(select(TaskInstanceTry).filter_by(ti_id=ti.id).order_by("try_number"))
        )
        return ti, tries


def pokes(*outcomes: TaskOutcome) -> Any:
    script = iter(outcomes)

    def handler(ctx: ExecutionContext) -> TaskOutcome:
        return next(script) if ctx.task_id == "wait" else TaskOutcome(success=True)

    return handler


NOT_DONE = TaskOutcome(success=False, sensor="reschedule")


def test_a_rescheduled_sensor_pokes_when_due_and_spends_no_retry(db: Database) -> None:
    push_sensor(db, "resched", poke_interval=30, timeout=600, mode="reschedule")
    clock = Clock()
    handler = pokes(NOT_DONE, NOT_DONE, TaskOutcome(success=True, value="found"))
    assert run_until_idle(db, handler, clock=clock) == 1
    ti, _ = rows(db)
    assert (ti.state, ti.next_try_at, ti.first_poke_at) == (
        "up_for_reschedule",
        T0 + timedelta(seconds=30),
        T0,
    )
    clock.now += timedelta(seconds=29)
    assert run_until_idle(db, handler, clock=clock) == 0  # not due yet
    clock.now += timedelta(seconds=1)
    assert run_until_idle(db, handler, clock=clock) == 1
    clock.now += timedelta(seconds=30)
    assert run_until_idle(db, handler, clock=clock) == 2  # the done poke, then "after"
    ti, tries = rows(db)
    assert ti.state == "success"
    assert [t.state for t in tries] == ["up_for_reschedule", "up_for_reschedule", "success"]
    assert (ti.max_tries, ti.sensor_pokes) == (2, 2)  # retries 0, and two pokes granted


def test_a_rescheduled_sensor_past_its_timeout_fails_without_retrying(db: Database) -> None:
    push_sensor(db, "late", poke_interval=30, timeout=50, mode="reschedule")
    clock = Clock()
    handler = pokes(NOT_DONE, NOT_DONE)
    run_until_idle(db, handler, clock=clock)
    clock.now += timedelta(seconds=60)
    run_until_idle(db, handler, clock=clock)
    ti, tries = rows(db)
    assert ti.state == "failed"
    assert tries[-1].error is not None
    assert tries[-1].error.startswith("AirflowSensorTimeout")
    assert rows(db, "after")[0].state == "upstream_failed"


def test_a_deferred_sensor_is_completed_by_the_scheduler_even_after_a_restart(
    db: Database,
) -> None:
    push_sensor(db, "deferred", poke_interval=5, timeout=600)
    clock = Clock()
    at = (T0 + timedelta(seconds=30)).isoformat()
    defer = TaskOutcome(success=False, sensor="defer", trigger={"kind": "time", "at": at})
    assert run_until_idle(db, pokes(defer), clock=clock) == 1
    ti, _ = rows(db)
    assert (ti.state, ti.next_try_at) == ("deferred", T0 + timedelta(seconds=30))
    assert engine.resume_deferred(db, now=T0 + timedelta(seconds=29)) == 0
    restarted = Database(db.url)  # a new scheduler: all it knows is in the database
    try:
        assert engine.resume_deferred(restarted, now=T0 + timedelta(seconds=30)) == 1
    finally:
        restarted.dispose()
    clock.now += timedelta(seconds=30)
    assert run_until_idle(db, pokes(), clock=clock) == 1  # "after"; the sensor needed no try
    ti, tries = rows(db)
    assert ti.state == "success"
    assert [t.state for t in tries] == ["success"]


def test_a_sensor_deferring_on_an_unknown_trigger_fails_saying_what_is_supported(
    db: Database,
) -> None:
    push_sensor(db, "unknown_trigger", timeout=600)
    defer = TaskOutcome(success=False, sensor="defer", trigger={"kind": "http"})
    run_until_idle(db, pokes(defer), clock=Clock())
    ti, tries = rows(db)
    assert ti.state == "failed"
    assert "the scheduler checks 'time' and 'file' triggers only" in (tries[-1].error or "")


def test_two_schedulers_checking_one_deferred_sensor_one_wins(pg_db: Database) -> None:
    push_sensor(pg_db, "ha", poke_interval=5, timeout=600)
    at = (T0 + timedelta(seconds=1)).isoformat()
    defer = TaskOutcome(success=False, sensor="defer", trigger={"kind": "time", "at": at})
    run_until_idle(pg_db, pokes(defer), clock=Clock())
    assert rows(pg_db)[0].state == "deferred"
    schedulers = [Database(pg_db.url), Database(pg_db.url)]
    barrier = threading.Barrier(2)
    changed: list[int] = []

    def check(db: Database) -> None:
        barrier.wait()
        changed.append(engine.resume_deferred(db, now=T0 + timedelta(seconds=1)))

    threads = [threading.Thread(target=check, args=(db,)) for db in schedulers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for db in schedulers:
        db.dispose()
    assert sorted(changed) == [0, 1]
    ti, tries = rows(pg_db)
    assert ti.state == "success"
    assert len(tries) == 1
