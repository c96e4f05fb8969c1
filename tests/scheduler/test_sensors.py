"""Pinflow's own ``@task.sensor`` run by the real scheduler and local executor (real task
processes), on SQLite and PostgreSQL: poke mode waits in its process, reschedule mode ends
its process between pokes and spends no retry (ADR 0036)."""

from __future__ import annotations

from pathlib import Path

from tests.scheduler.helpers import push_dag, run, task_instances, tries_of

from pinflow.scheduler.loop import Scheduler
from pinflow.services.xcom_values import value_of
from pinflow.store.db import Database

SENSORS = """
from pathlib import Path

from pinflow import dag, task
from pinflow.sdk import PokeReturnValue

MARK = Path(__file__).parent / "pokes"


def count() -> int:
    n = int(MARK.read_text()) + 1 if MARK.exists() else 1
    MARK.write_text(str(n))
    return n


@task.sensor(poke_interval=0.05, timeout=30, mode="reschedule")
def third_time_lucky():
    n = count()
    return PokeReturnValue(is_done=n >= 3, xcom_value={"pokes": n})


@task
def after(found):
    return found["pokes"] * 10


@dag(schedule=None)
def sensors():
    after(third_time_lucky())


sensors()
"""


def test_a_rescheduled_sensor_pokes_in_new_processes_and_spends_no_retry(
    db: Database, scheduler: Scheduler, tmp_path: Path
) -> None:
    push_dag(db, tmp_path / "dags", "sensors", SENSORS)
    assert run(db, scheduler, "sensors") == "success"
    tis = task_instances(db, "sensors", "r1")
    sensor = tis["third_time_lucky"]
    assert sensor.state == "success"
    tries = tries_of(db, sensor.id)
    assert [t.state for t in tries] == ["up_for_reschedule", "up_for_reschedule", "success"]
    assert [t.try_number for t in tries] == [1, 2, 3]  # a process per poke, none between
    assert sensor.max_tries == 2  # each reschedule granted its poke: no retry was spent
    assert sensor.first_poke_at == tries[0].start_date
    assert value_of(db, sensor.run_pk, "third_time_lucky") == {"pokes": 3}
    assert value_of(db, sensor.run_pk, "after") == 30
