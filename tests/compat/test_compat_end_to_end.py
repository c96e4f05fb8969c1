"""Airflow 3 DAG files pushed unmodified and run by the real scheduler and local executor
(real task processes, which import ``airflow`` through the alias), on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.compat.dag_files import (
    EXAMPLE_BASH_OPERATOR,
    EXAMPLE_TASK_GROUP_DECORATOR,
    PYTHON_OPERATOR,
    TASKFLOW,
    TUTORIAL,
)
from tests.scheduler.helpers import (
    push_dag,
    run,
    task_instances,
    tries_of,
)

from pinflow.scheduler.loop import Scheduler
from pinflow.services.xcom_values import value_of as get_xcom
from pinflow.store.db import Database


def states(db: Database, dag_id: str) -> dict[str, str]:
    return {task_id: ti.state for task_id, ti in task_instances(db, dag_id, "r1").items()}


def test_the_tutorial_runs_its_bash_operators(
    db: Database, scheduler: Scheduler, tmp_path: Path
) -> None:
    push_dag(db, tmp_path / "dags", "tutorial", TUTORIAL)
    assert run(db, scheduler, "tutorial") == "success"
    assert set(states(db, "tutorial").values()) == {"success"}
    run_pk = task_instances(db, "tutorial", "r1")["print_date"].run_pk
    assert get_xcom(db, run_pk, "templated") == "templated"
    assert get_xcom(db, run_pk, "print_date").isdigit()  # `date +%Y`: the year


def test_the_unmodified_taskflow_tutorial_runs_with_multiple_outputs(
    db: Database, scheduler: Scheduler, tmp_path: Path
) -> None:
    push_dag(db, tmp_path / "dags", "taskflow", TASKFLOW)
    assert run(db, scheduler, "tutorial_taskflow_api") == "success"
    tis = task_instances(db, "tutorial_taskflow_api", "r1")
    run_pk = tis["load"].run_pk
    assert get_xcom(db, run_pk, "transform") == {"total_order_value": pytest.approx(1236.7)}
    assert tis["load"].state == "success"
    (load_try,) = tries_of(db, tis["load"].id)
    assert load_try.log_path is not None
    assert "Total order value is: 1236.70" in Path(load_try.log_path).read_text()


def test_example_bash_operator_skips_on_exit_99_and_runs_the_rest(
    db: Database, scheduler: Scheduler, tmp_path: Path
) -> None:
    push_dag(db, tmp_path / "dags", "example_bash_operator", EXAMPLE_BASH_OPERATOR)
    assert run(db, scheduler, "example_bash_operator") == "success"
    assert states(db, "example_bash_operator") == {
        "runme_0": "success",
        "runme_1": "success",
        "runme_2": "success",
        "run_after_loop": "success",
        "also_run_this": "success",
        "this_will_skip": "skipped",
        "run_this_last": "skipped",  # all_success with a skipped upstream, as in Airflow
    }
    run_pk = task_instances(db, "example_bash_operator", "r1")["also_run_this"].run_pk
    assert get_xcom(db, run_pk, "also_run_this") == "ti_key=also_run_this"


def test_task_groups_run_with_prefixed_ids_passing_outputs_inside_each_group(
    db: Database, scheduler: Scheduler, tmp_path: Path
) -> None:
    push_dag(db, tmp_path / "dags", "groups", EXAMPLE_TASK_GROUP_DECORATOR)
    assert run(db, scheduler, "example_task_group_decorator") == "success"
    found = states(db, "example_task_group_decorator")
    assert len(found) == 11
    assert set(found.values()) == {"success"}
    run_pk = task_instances(db, "example_task_group_decorator", "r1")["task_end"].run_pk
    assert get_xcom(db, run_pk, "task_group_function__1.task_3") == "[ Task2 [ Task1 1 ] ]"


def test_python_operators_skip_and_fail_through_airflow_exceptions(
    db: Database, scheduler: Scheduler, tmp_path: Path
) -> None:
    push_dag(db, tmp_path / "dags", "python_operator", PYTHON_OPERATOR)
    assert run(db, scheduler, "example_python_operator") == "failed"
    assert states(db, "example_python_operator") == {
        "multiply": "success",
        "report": "success",
        "skip_me": "skipped",
        "after_skip": "skipped",
        "fail_me": "failed",
        "cleanup": "success",  # trigger_rule=TriggerRule.ALL_DONE
    }
    tis = task_instances(db, "example_python_operator", "r1")
    run_pk = tis["multiply"].run_pk
    assert get_xcom(db, run_pk, "multiply") == 84
    assert get_xcom(db, run_pk, "report") == "the product is 84"
    (failed_try,) = tries_of(db, tis["fail_me"].id)
    assert failed_try.error == "AirflowFailException: bad input, no point retrying"


RETRIES_AND_ENV = """
from datetime import timedelta

import pendulum

from airflow.sdk import dag, task
from airflow.providers.standard.operators.bash import BashOperator


@dag(
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    default_args={"owner": "data", "retries": 2, "retry_delay": timedelta(seconds=0)},
)
def retries_and_env():
    @task
    def flaky(try_number=None):
        if try_number < 2:
            raise RuntimeError(f"try {try_number} fails")
        return try_number

    clean = BashOperator(
        task_id="clean_env",
        bash_command='echo "$GREETING ${PINFLOW_RUN_ID:-unset}"',
        env={"GREETING": "hello"},
    )
    appended = BashOperator(
        task_id="appended_env",
        bash_command='echo "$GREETING $PINFLOW_RUN_ID"',
        env={"GREETING": "hi there"},
        append_env=True,
    )
    flaky() >> [clean, appended]


retries_and_env()
"""


def test_default_args_retries_and_bash_env_follow_airflow(
    db: Database, scheduler: Scheduler, tmp_path: Path
) -> None:
    compiled = push_dag(db, tmp_path / "dags", "retries_and_env", RETRIES_AND_ENV)
    assert compiled.spec.owner == "data"
    assert run(db, scheduler, "retries_and_env") == "success"
    tis = task_instances(db, "retries_and_env", "r1")
    assert (tis["flaky"].state, tis["flaky"].try_number) == ("success", 2)
    run_pk = tis["flaky"].run_pk
    assert get_xcom(db, run_pk, "flaky") == 2
    # env= replaces the environment (Airflow's rule); append_env=True adds to it.
    assert get_xcom(db, run_pk, "clean_env") == "hello unset"
    assert get_xcom(db, run_pk, "appended_env") == "hi there r1"
