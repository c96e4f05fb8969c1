"""Airflow 3 DAG files with sensors (ADR 0036), written for these tests in the shapes of
Airflow's sensor examples: ``@task.sensor`` with ``PokeReturnValue``, ``PythonSensor``, a
custom ``BaseSensorOperator``, poke and reschedule modes, timeout and ``soft_fail``, and the
deferrable time and file sensors. Pokes count themselves in files next to the DAG file, since
each poke may be a new process."""

POKES = """
from datetime import timedelta
from pathlib import Path

import pendulum

from airflow.sdk import DAG, BaseSensorOperator, PokeReturnValue, task
from airflow.providers.standard.sensors.python import PythonSensor

HERE = Path(__file__).parent


def count(name):
    mark = HERE / name
    n = int(mark.read_text()) + 1 if mark.exists() else 1
    mark.write_text(str(n))
    return n


@task.sensor(poke_interval=0.05, timeout=30, mode="poke")
def wait_for_upstream() -> PokeReturnValue:
    n = count("taskflow")
    return PokeReturnValue(is_done=n >= 3, xcom_value=f"found after {n} pokes")


@task
def use(found):
    return found.upper()


def ready(threshold):
    return count("python") >= threshold


class CountingSensor(BaseSensorOperator):
    def __init__(self, *, threshold, **kwargs):
        super().__init__(**kwargs)
        self.threshold = threshold

    def poke(self, context):
        return count(context["ti"].task_id) >= self.threshold


with DAG(
    dag_id="sensor_pokes",
    schedule=None,
    start_date=pendulum.datetime(2021, 1, 1, tz="UTC"),
    catchup=False,
    default_args={"retries": 2},
):
    use(wait_for_upstream())
    PythonSensor(
        task_id="python_sensor",
        python_callable=ready,
        op_args=[2],
        poke_interval=timedelta(milliseconds=50),
        mode="reschedule",
    )
    CountingSensor(task_id="custom_sensor", threshold=2, poke_interval=0.05)
"""

TIMEOUTS = """
import pendulum

from airflow.sdk import DAG, task
from airflow.providers.standard.operators.empty import EmptyOperator


@task.sensor(poke_interval=0.05, timeout=0.2)
def never(): return False


@task.sensor(poke_interval=0.05, timeout=0.2, mode="reschedule", soft_fail=True)
def never_softly(): return False


with DAG(
    dag_id="sensor_timeouts",
    schedule=None,
    start_date=pendulum.datetime(2021, 1, 1, tz="UTC"),
    default_args={"retries": 3},
):
    never() >> EmptyOperator(task_id="after_failure")
    never_softly() >> EmptyOperator(task_id="after_skip")
"""

POOLED = """
from pathlib import Path

import pendulum

from airflow.sdk import DAG, task

MARK = Path(__file__).parent / "worked"


@task.sensor(poke_interval=0.05, timeout=30, mode="reschedule", pool="one_slot")
def wait_for_work():
    return MARK.exists()


@task(pool="one_slot")
def work():
    MARK.write_text("done")


with DAG(
    dag_id="sensor_pooled",
    schedule=None,
    start_date=pendulum.datetime(2021, 1, 1, tz="UTC"),
):
    wait_for_work()
    work()
"""

DEFERRED = """
from datetime import timedelta

import pendulum

from airflow.sdk import DAG
from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync
from airflow.providers.standard.sensors.filesystem import FileSensor
from airflow.providers.standard.sensors.time_delta import TimeDeltaSensor, TimeDeltaSensorAsync
from airflow.providers.standard.operators.empty import EmptyOperator

with DAG(
    dag_id="sensor_deferred",
    schedule=None,
    start_date=pendulum.datetime(2021, 1, 1, tz="UTC"),
    params={"folder": "/nonexistent"},
):
    # half a second after its first poke, however late that poke comes on a busy machine
    soon = "{{ macros.datetime.fromtimestamp(macros.time.time() + 0.5).astimezone() }}"
    DateTimeSensorAsync(task_id="wait_a_bit", target_time=soon) >> EmptyOperator(
        task_id="after_wait"
    )
    TimeDeltaSensor(task_id="already_past", delta=timedelta(seconds=-60), deferrable=True)
    TimeDeltaSensorAsync(task_id="later", delta=timedelta(hours=1), timeout=0.3, soft_fail=True)
    FileSensor(
        task_id="wait_for_file",
        filepath="{{ params.folder }}/*.csv",
        poke_interval=0.05,
        deferrable=True,
    )
    DateTimeSensorAsync(
        task_id="never_comes",
        target_time="2999-01-01T00:00:00+00:00",
        timeout=0.3,
        soft_fail=True,
    )
"""
