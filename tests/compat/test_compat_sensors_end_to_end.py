"""Airflow 3 sensors, pushed unmodified and run by the real scheduler and local executor (real
task processes), on SQLite and PostgreSQL (ADR 0036): poke and reschedule modes, timeout and
``soft_fail``, a rescheduled sensor that frees its pool slot between pokes, and deferred time
and file sensors that the scheduler completes with no process while they wait."""

from __future__ import annotations

import time
from pathlib import Path

from tests.compat.sensor_dag_files import DEFERRED, POKES, POOLED, TIMEOUTS
from tests.scheduler.helpers import DRAIN_TIMEOUT, push_dag, run, task_instances, tries_of

from pinflow.lifecycle.permissions import Principal
from pinflow.scheduler.loop import Scheduler
from pinflow.services.commands import _resource_pools as pools
from pinflow.services.commands._runs import trigger_run
from pinflow.services.xcom_values import value_of
from pinflow.store.db import Database


def states(db: Database, dag_id: str) -> dict[str, str]:
    return {task_id: ti.state for task_id, ti in task_instances(db, dag_id, "r1").items()}


def try_states(db: Database, dag_id: str, task_id: str) -> list[str]:
    return [t.state for t in tries_of(db, task_instances(db, dag_id, "r1")[task_id].id)]


def test_sensors_poke_until_done_and_a_poke_return_value_is_the_output(
    db: Database, scheduler: Scheduler, tmp_path: Path
) -> None:
    push_dag(db, tmp_path / "dags", "pokes", POKES)
    assert run(db, scheduler, "sensor_pokes") == "success"
    assert set(states(db, "sensor_pokes").values()) == {"success"}
    run_pk = task_instances(db, "sensor_pokes", "r1")["use"].run_pk
    assert value_of(db, run_pk, "wait_for_upstream") == "found after 3 pokes"
    assert value_of(db, run_pk, "use") == "FOUND AFTER 3 POKES"
    # poke mode: three pokes in one process, one try
    assert try_states(db, "sensor_pokes", "wait_for_upstream") == ["success"]
    assert try_states(db, "sensor_pokes", "custom_sensor") == ["success"]
    # reschedule mode: a try per poke, and the retries (2) are all still there
    assert try_states(db, "sensor_pokes", "python_sensor") == ["up_for_reschedule", "success"]
    assert task_instances(db, "sensor_pokes", "r1")["python_sensor"].max_tries == 3


def test_a_timed_out_sensor_fails_without_retrying_and_soft_fail_skips(
    db: Database, scheduler: Scheduler, tmp_path: Path
) -> None:
    push_dag(db, tmp_path / "dags", "timeouts", TIMEOUTS)
    assert run(db, scheduler, "sensor_timeouts") == "failed"
    assert states(db, "sensor_timeouts") == {
        "never": "failed",
        "after_failure": "upstream_failed",
        "never_softly": "skipped",
        "after_skip": "skipped",
    }
    [timed_out] = tries_of(db, task_instances(db, "sensor_timeouts", "r1")["never"].id)
    assert timed_out.error is not None
    assert timed_out.error.startswith("AirflowSensorTimeout")
    softly = try_states(db, "sensor_timeouts", "never_softly")
    assert softly[-1] == "skipped"
    assert set(softly[:-1]) <= {"up_for_reschedule"}


def test_a_rescheduled_sensor_holds_no_pool_slot_between_pokes(
    db: Database, scheduler: Scheduler, tmp_path: Path
) -> None:
    pools.create_pool(db, Principal("tester", is_superuser=True), {"name": "one_slot", "slots": 1})
    push_dag(db, tmp_path / "dags", "pooled", POOLED)
    # the sensor waits for what the other task of its one-slot pool does: in poke mode it
    # would hold the slot and time out; rescheduled, it frees it between pokes
    assert run(db, scheduler, "sensor_pooled") == "success"
    tis = task_instances(db, "sensor_pooled", "r1")
    sensor_tries = tries_of(db, tis["wait_for_work"].id)
    [work] = tries_of(db, tis["work"].id)
    assert sensor_tries[-1].state == "success"
    assert work.start_date is not None
    assert sensor_tries[0].end_date is not None
    assert sensor_tries[-1].start_date is not None
    assert work.end_date is not None
    assert sensor_tries[0].end_date <= work.start_date
    assert work.end_date <= sensor_tries[-1].start_date


def test_deferred_sensors_wait_with_no_process_and_the_scheduler_completes_them(
    db: Database, scheduler: Scheduler, tmp_path: Path
) -> None:
    folder = tmp_path / "landing"
    folder.mkdir()
    push_dag(db, tmp_path / "dags", "deferred", DEFERRED)
    trigger_run(db, dag_id="sensor_deferred", run_id="r1", conf={"folder": str(folder)}, actor="t")
    scheduler.wake()
    deadline = time.monotonic() + DRAIN_TIMEOUT
    # until everything but the file sensor is done: it waits for the file, deferred
    while not _settled_but_the_file(states(db, "sensor_deferred")):
        assert time.monotonic() < deadline, states(db, "sensor_deferred")
        scheduler.step(0.05)
    assert not scheduler.executor.live()  # it waits, and no process waits for it
    (folder / "data.csv").write_text("a,b\n")
    assert scheduler.drain(DRAIN_TIMEOUT)
    assert states(db, "sensor_deferred") == {
        "wait_a_bit": "success",
        "after_wait": "success",
        "already_past": "success",
        "wait_for_file": "success",
        "never_comes": "skipped",
        "later": "skipped",
    }
    # one try each: the scheduler ended them, no process resumed them
    assert try_states(db, "sensor_deferred", "wait_a_bit") == ["success"]
    assert try_states(db, "sensor_deferred", "wait_for_file") == ["success"]
    tis = task_instances(db, "sensor_deferred", "r1")
    assert tis["wait_for_file"].trigger == {
        "kind": "file",
        "path": f"{folder}/*.csv",  # rendered from the run's conf
        "recursive": False,
    }
    assert tis["wait_a_bit"].trigger is not None  # it was deferred, on a time trigger
    assert tis["wait_a_bit"].trigger["kind"] == "time"
    assert tis["already_past"].trigger is None  # done at its first poke: never deferred


def _settled_but_the_file(found: dict[str, str]) -> bool:
    others = {task_id: state for task_id, state in found.items() if task_id != "wait_for_file"}
    done = {"success", "skipped"}
    return found.get("wait_for_file") == "deferred" and set(others.values()) <= done
