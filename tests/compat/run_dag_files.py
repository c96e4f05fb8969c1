"""Airflow 3 DAG files that use the run-level options (ADR 0038), shared by the run tests.

``TIMEOUT``: a run with ``dagrun_timeout`` whose first task sleeps (writing its pid to the
run's staging dir first) and whose second task waits for it. ``PAST``: ``depends_on_past``
from ``default_args``; its task fails until a file named in ``{flag}`` exists, and each try
appends the run's id to ``{order}``.
"""

TIMEOUT = """
import os
import time
from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import DAG, task


@task
def sleeper():
    staging = Path(os.environ["PINFLOW_STAGING_DIR"])
    (staging / "sleeper.pid").write_text(str(os.getpid()))
    time.sleep(60)


@task
def after():
    return "never"


with DAG(
    "timeout",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    dagrun_timeout=timedelta(hours=1),
):
    sleeper() >> after()
"""

PAST = """
from datetime import datetime
from pathlib import Path

from airflow.sdk import DAG, task


@task
def load(dag_run=None):
    with open({order!r}, "a") as order:
        order.write(dag_run.run_id + "\\n")
    if not Path({flag!r}).exists():
        raise RuntimeError("the source is not ready")


with DAG(
    "past",
    schedule=None,
    start_date=datetime(2024, 1, 1),
    default_args={{"depends_on_past": True, "retries": 0}},
):
    load()
"""
