"""DAG files with DAG-level callbacks (ADR 0044), as Airflow's docs write them, and one in
Pinflow's own SDK. Each callback prints what its context says: the test reads the callback's
log."""

AIRFLOW_CALLBACKS = """
from datetime import datetime, timedelta

from airflow.sdk import dag, task


def dag_success_alert(context):
    run = context["dag_run"]
    print(f"DAG SUCCESS {run.dag_id} {run.run_id} {run.state} reason={context['reason']} "
          f"ds={context['ds']} ti={context['ti'].task_id}", flush=True)


def dag_failure_alert(context):
    run = context["dag_run"]
    ti = context["ti"]
    print(f"DAG FAILURE {run.dag_id} {run.run_id} {run.state} reason={context['reason']} "
          f"ti={ti.task_id} {ti.state} conf={run.conf}", flush=True)


def broken_alert(context):
    raise RuntimeError("the pager is down")


@dag(
    schedule=None,
    start_date=datetime(2024, 1, 1),
    on_success_callback=dag_success_alert,
    on_failure_callback=[broken_alert, dag_failure_alert],
)
def alerting():
    @task
    def extract(**context):
        if context["dag_run"].conf.get("fail"):
            raise ValueError("source unavailable")
        return 1

    @task
    def load(value):
        return value

    load(extract())


alerting()
"""

AIRFLOW_TIMEOUT_CALLBACK = """
import time
from datetime import datetime, timedelta

from airflow.sdk import DAG
from airflow.providers.standard.operators.python import PythonOperator


def sleep_long():
    time.sleep(600)


def on_timeout(context):
    print(f"DAG FAILURE reason={context['reason']} state={context['dag_run'].state}", flush=True)


with DAG(
    "slow",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    dagrun_timeout=timedelta(hours=1),
    on_failure_callback=on_timeout,
):
    PythonOperator(task_id="sleeper", python_callable=sleep_long)
"""

NATIVE_CALLBACKS = """
import os

from pinflow.sdk import RunEnd, dag, task


def notify(end: RunEnd) -> None:
    last = (end.last_task or {}).get("task_id")
    print(f"RUN ENDED {end.dag_id} {end.run_id} {end.state} {end.reason} "
          f"failed={list(end.failed_tasks)} last={last}", flush=True)
    print(f"ENV {sorted(k for k in os.environ if k.startswith('PINFLOW_'))}", flush=True)


@task
def work() -> int:
    raise ValueError("no")


@dag(on_failure_callback=notify, on_success_callback=[notify])
def native_alerts():
    work()


native_alerts()
"""
