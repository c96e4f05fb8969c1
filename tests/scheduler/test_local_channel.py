"""The local executor's task channel: a task reads variables and connections and pushes and
pulls XComs over its try's own socket, scoped to its DAG's project, with no credential and no
database URL of its own (issue #14, point 2)."""

from __future__ import annotations

import pwd
from pathlib import Path

from tests.scheduler.helpers import (
    DRAIN_TIMEOUT,
    make_settings,
    push_dag,
    run_state,
    running_scheduler,
    task_instances,
)

from pinflow.lifecycle.permissions import Principal
from pinflow.services.commands import Cipher, resources
from pinflow.services.commands._runs import trigger_run
from pinflow.services.xcom_values import value_of
from pinflow.store.db import Database

READER = """
    import os

    from pinflow import dag, task
    from pinflow.sdk import Connection, Variable, xcom_pull, xcom_push


    @task
    def produce():
        xcom_push("rows", 42)
        return "produced"


    @task
    def consume(upstream):
        warehouse = Connection.get("warehouse")
        try:
            Variable.get("elsewhere")
            other = "visible"
        except KeyError:  # as Airflow: a variable this try may not read does not exist
            other = "hidden"
        secretless = [name for name in os.environ if name.startswith("PINFLOW_")]
        return {
            "bucket": Variable.get("bucket"),
            "missing": Variable.get("nope", default="fallback"),
            "password": warehouse.password,
            "host": warehouse.host,
            "rows": xcom_pull("produce", key="rows"),
            "upstream": upstream,
            "other_project": other,
            "database_url_seen": "PINFLOW_DATABASE_URL" in secretless,
        }


    @dag(dag_id="reader")
    def reader():
        consume(produce())


    reader()
"""


def test_a_local_task_reads_its_variables_connections_and_xcoms_over_its_channel(
    db: Database, tmp_path: Path
) -> None:
    settings = make_settings(db, tmp_path / "home")
    cipher = Cipher(resources.load_or_create_key(settings.home))
    admin = Principal("admin", is_superuser=True)
    resources.set_variable(db, cipher, admin, "bucket", {"value": "s3://b"}, create=True)
    resources.set_variable(
        db, cipher, admin, "elsewhere", {"value": "x"}, create=True, project="beta"
    )
    connection = {"conn_type": "postgres", "host": "db.internal", "password": "pw"}
    resources.set_connection(db, cipher, admin, "warehouse", connection, create=True)
    push_dag(db, tmp_path / "dags", "reader", READER)
    trigger_run(db, dag_id="reader", run_id="r1", actor="tester")
    with running_scheduler(db, settings) as scheduler:
        assert scheduler.drain(DRAIN_TIMEOUT)
    assert run_state(db, "reader", "r1") == "success"
    consume = task_instances(db, "reader", "r1")["consume"]
    assert value_of(db, consume.run_pk, "consume") == {
        "bucket": "s3://b",
        "missing": "fallback",
        "password": "pw",
        "host": "db.internal",
        "rows": 42,
        "upstream": "produced",
        "other_project": "hidden",  # project beta's variable: not this DAG's project
        "database_url_seen": False,
    }


RUN_AS_READER = """
    import os

    from pinflow import dag, task
    from pinflow.sdk import Variable, xcom_push


    @task
    def read():
        xcom_push("uid", os.getuid())
        return Variable.get("bucket")


    @dag(dag_id="run_as_reader")
    def run_as_reader():
        read()


    run_as_reader()
"""


def test_a_task_run_as_another_user_still_reaches_its_channel(
    db: Database, tmp_path: Path, task_user: str
) -> None:
    """``PINFLOW_RUN_TASKS_AS_USER``: the socket is the task user's, in a folder it may pass
    through (ADR 0047)."""
    settings = make_settings(db, tmp_path / "home", run_tasks_as_user=task_user)
    cipher = Cipher(resources.load_or_create_key(settings.home))
    admin = Principal("admin", is_superuser=True)
    resources.set_variable(db, cipher, admin, "bucket", {"value": "s3://b"}, create=True)
    push_dag(db, tmp_path / "dags", "run_as_reader", RUN_AS_READER)
    trigger_run(db, dag_id="run_as_reader", run_id="r1", actor="tester")
    with running_scheduler(db, settings) as scheduler:
        assert scheduler.drain(timeout=DRAIN_TIMEOUT)

    assert run_state(db, "run_as_reader", "r1") == "success"
    read = task_instances(db, "run_as_reader", "r1")["read"]
    assert value_of(db, read.run_pk, "read") == "s3://b"
    assert value_of(db, read.run_pk, "read", key="uid") == pwd.getpwnam(task_user).pw_uid
