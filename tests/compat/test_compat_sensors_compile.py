"""Airflow sensors compiled to Pinflow specs (ADR 0036): the ``SensorSpec`` each gets, and the
compile problems of what cannot be honoured."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.compat.sensor_dag_files import DEFERRED, POKES, TIMEOUTS
from tests.compat.test_compat_compile import compile_one, problems_of, tasks_of

from pinflow.spec.canonical import spec_from_json, spec_to_json
from pinflow.spec.models import SensorMode, SensorSpec


def test_sensors_compile_to_python_tasks_with_their_sensor_spec(tmp_path: Path) -> None:
    tasks = tasks_of(compile_one(tmp_path, POKES, "pokes"))
    assert tasks["wait_for_upstream"].sensor == SensorSpec(poke_interval=0.05, timeout=30)
    assert tasks["python_sensor"].sensor == SensorSpec(
        poke_interval=0.05, mode=SensorMode.RESCHEDULE
    )
    assert tasks["python_sensor"].callable == "pokes:ready"
    assert tasks["custom_sensor"].callable == "pokes:CountingSensor.pinflow_execute"
    assert tasks["use"].sensor is None
    assert tasks["wait_for_upstream"].retries is None  # default_args' retries apply


def test_the_provider_sensors_run_pinflow_code_and_keep_their_arguments(tmp_path: Path) -> None:
    spec = compile_one(tmp_path, DEFERRED, "deferred")
    tasks = tasks_of(spec)
    wait = tasks["later"]
    assert wait.callable == "pinflow.compat.airflow._sensors:TimeDeltaSensorAsync.pinflow_execute"
    kwargs = wait.args["__airflow_operator_kwargs__"]
    assert kwargs == {"task_id": "later", "delta": 3600.0, "timeout": 0.3, "soft_fail": True}
    never = tasks["never_comes"].sensor
    assert never is not None
    assert (never.timeout, never.soft_fail) == (0.3, True)
    assert spec_from_json(spec_to_json(spec)) == spec


def test_a_dag_without_sensors_keeps_its_canonical_form(tmp_path: Path) -> None:
    spec = compile_one(tmp_path, TIMEOUTS, "timeouts")
    assert '"sensor"' not in spec_to_json(
        spec.model_copy(update={"tasks": [t for t in spec.tasks if t.sensor is None]})
    )


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "class Mine(BaseSensorOperator):\n"
            "    def poke(self, context):\n        return True\n\n"
            "with DAG('d', schedule=None):\n    Mine(task_id='m', deferrable=True)\n",
            "deferrable=True is supported on TimeDeltaSensor, DateTimeSensor, TimeSensor and "
            "FileSensor only",
        ),
        (
            "class Mine(BaseSensorOperator):\n    pass\n\n"
            "with DAG('d', schedule=None):\n    Mine(task_id='m')\n",
            "a BaseSensorOperator subclass must define poke(self, context)",
        ),
        (
            "@task.sensor(deferrable=True)\ndef ready():\n    return True\n\n"
            "with DAG('d', schedule=None):\n    ready()\n",
            "@task.sensor(deferrable=...) is not supported",
        ),
        (
            "@task.sensor(poke_interval=0)\ndef ready():\n    return True\n\n"
            "with DAG('d', schedule=None):\n    ready()\n",
            "poke_interval: Input should be greater than 0",
        ),
        (
            "from airflow.providers.standard.sensors.filesystem import FileSensor\n"
            "with DAG('d', schedule=None):\n"
            "    FileSensor(task_id='f', filepath='x', fs_conn_id='my_fs')\n",
            "FileSensor: fs_conn_id='my_fs' is not supported",
        ),
    ],
    ids=["custom-deferrable", "no-poke", "taskflow-deferrable", "bad-interval", "fs-conn"],
)
def test_what_a_sensor_cannot_honour_is_a_compile_problem(
    tmp_path: Path, body: str, expected: str
) -> None:
    source = "from airflow.sdk import DAG, BaseSensorOperator, task\n" + body
    [problem] = problems_of(tmp_path, source)
    assert expected in problem
