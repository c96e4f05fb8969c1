"""Airflow's own Python client (``apache-airflow-client`` 3.3) against a real Pinflow server.

A uvicorn server runs in a background thread on a free port over the test database (SQLite or
PostgreSQL); the client logs in through ``POST /auth/token`` like any Airflow user and sees
Pinflow as an Airflow 3 API server. Runs are drained in-process with ``run_until_idle``.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from airflow_client import client as af
from airflow_client.client.rest import ApiException
from tests.api.helpers import PASSWORD, make_app, make_spec, make_user, publish

from pinflow.store.db import Database
from pinflow.testing import TaskOutcome, run_until_idle, scripted

# The database plays no part: the official client's view of the shapes; the services under them
# are tested on both backends.
pytestmark = pytest.mark.sqlite_enough

_START_TIMEOUT = 10.0


class LiveServer:
    """``app`` served by uvicorn in a thread, on a port the OS picked."""

    def __init__(self, app: Any) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        config = uvicorn.Config(
            app, lifespan="off", log_level="warning", ws="none", http="h11", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, daemon=True
        )

    def __enter__(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + _START_TIMEOUT
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *_: object) -> None:
        self._server.should_exit = True
        self._thread.join(_START_TIMEOUT)
        self._socket.close()


def serve(db: Database, home: Path) -> LiveServer:
    """A live server over ``db`` with DAG ``etl`` (alpha) and ``other`` (beta), and an admin."""
    make_user(db, "admin", superuser=True, password=PASSWORD)
    publish(db, make_spec())
    publish(db, make_spec("other", project="beta", name="Other"))
    return LiveServer(make_app(db, home))


def login(url: str) -> str:
    response = httpx.post(f"{url}/auth/token", json={"username": "admin", "password": PASSWORD})
    assert response.status_code == 201, response.text
    token: str = response.json()["access_token"]
    return token


@pytest.fixture
def airflow(db: Database, tmp_path: Path) -> Iterator[af.ApiClient]:
    with serve(db, tmp_path) as server:
        config = af.Configuration(host=server.url, access_token=login(server.url))
        with af.ApiClient(config) as api:
            yield api


def deregister(api: af.ApiClient, dag_id: str) -> int:
    """``DELETE /api/v2/dags/{dag_id}?deregister=true`` through the client's own machinery
    (its ``delete_dag`` has no such parameter: deregistering is Pinflow's)."""
    request = api.param_serialize(
        method="DELETE",
        resource_path="/api/v2/dags/{dag_id}",
        path_params={"dag_id": dag_id},
        query_params=[("deregister", "true")],
        auth_settings=["HTTPBearer"],
    )
    response = api.call_api(*request)
    response.read()
    return int(response.status)


def dag_ids(api: af.ApiClient) -> list[str]:
    return [d.dag_id for d in af.DAGApi(api).get_dags().dags]


def test_dags_versions_runs_and_task_instances(db: Database, airflow: af.ApiClient) -> None:
    dags = af.DAGApi(airflow)
    assert dag_ids(airflow) == ["etl", "other"]
    assert dags.get_dag("etl").dag_display_name == "Nightly ETL"
    assert dags.get_dag_details("etl").latest_dag_version.version_number == 1
    assert dags.patch_dag("etl", af.DAGPatchBody(is_paused=True)).is_paused is True
    dags.patch_dag("etl", af.DAGPatchBody(is_paused=False), update_mask=["is_paused"])
    versions = af.DagVersionApi(airflow).get_dag_versions("etl")
    assert [v.version_number for v in versions.dag_versions] == [1]
    assert af.DagVersionApi(airflow).get_dag_version("etl", 1).dag_id == "etl"

    body = af.TriggerDAGRunPostBody(dag_run_id="c1", conf={}, logical_date=None)
    triggered = af.DagRunApi(airflow).trigger_dag_run("etl", body)
    assert (triggered.dag_run_id, triggered.state) == ("c1", af.DagRunState.QUEUED)
    run_until_idle(db, scripted({"extract": [TaskOutcome(True, value=[1, 2])], "load": [False]}))
    listed = af.DagRunApi(airflow).get_dag_runs("etl")
    assert [(r.dag_run_id, r.state) for r in listed.dag_runs] == [("c1", af.DagRunState.FAILED)]

    tis = af.TaskInstanceApi(airflow)
    states = {t.task_id: t.state for t in tis.get_task_instances("etl", "c1").task_instances}
    assert states == {"extract": af.TaskInstanceState.SUCCESS, "load": af.TaskInstanceState.FAILED}
    assert len(tis.get_task_instance_tries("etl", "c1", "load").task_instances) == 1
    assert tis.get_log("etl", "c1", "load", 1).content is not None
    xcom = af.XComApi(airflow).get_xcom_entry("etl", "extract", "c1", "return_value")
    assert xcom.actual_instance.value == [1, 2]


def test_clear_with_dry_run_then_for_real(db: Database, airflow: af.ApiClient) -> None:
    af.DagRunApi(airflow).trigger_dag_run("etl", af.TriggerDAGRunPostBody(dag_run_id="c1"))
    run_until_idle(db, scripted({"load": [False]}))
    tis = af.TaskInstanceApi(airflow)

    def snapshot() -> list[tuple[str, Any, int]]:
        found = tis.get_task_instances("etl", "c1").task_instances
        return [(t.task_id, t.state, t.try_number) for t in found]

    before = snapshot()
    dry = af.ClearTaskInstancesBody(dry_run=True, dag_run_id="c1", only_failed=True)
    planned = tis.post_clear_task_instances("etl", dry)
    assert [t.task_id for t in planned.task_instances] == ["load"]
    assert snapshot() == before
    assert af.DagRunApi(airflow).get_dag_run("etl", "c1").state == af.DagRunState.FAILED

    load = af.ClearTaskInstancesBodyTaskIdsInner("load")
    real = af.ClearTaskInstancesBody(dry_run=False, dag_run_id="c1", task_ids=[load])
    cleared = tis.post_clear_task_instances("etl", real)
    assert [(t.task_id, t.state) for t in cleared.task_instances] == [("load", None)]
    run_until_idle(db, scripted({}))
    assert af.DagRunApi(airflow).get_dag_run("etl", "c1").state == af.DagRunState.SUCCESS
    assert len(tis.get_task_instance_tries("etl", "c1", "load").task_instances) == 2


def test_mark_dry_run_then_mark(db: Database, airflow: af.ApiClient) -> None:
    af.DagRunApi(airflow).trigger_dag_run("etl", af.TriggerDAGRunPostBody(dag_run_id="m1"))
    run_until_idle(db, scripted({"load": [False]}))
    tis = af.TaskInstanceApi(airflow)
    body = af.PatchTaskInstanceBody(new_state=af.TaskInstanceState.SUCCESS, include_upstream=True)
    planned = tis.patch_task_instance_dry_run("etl", "m1", "load", body)
    assert [(t.task_id, t.state) for t in planned.task_instances] == [
        ("load", af.TaskInstanceState.FAILED)
    ]  # extract is success already
    assert af.DagRunApi(airflow).get_dag_run("etl", "m1").state == af.DagRunState.FAILED
    marked = tis.patch_task_instance("etl", "m1", "load", body)
    assert [t.state for t in marked.task_instances] == [af.TaskInstanceState.SUCCESS]
    assert af.DagRunApi(airflow).get_dag_run("etl", "m1").state == af.DagRunState.SUCCESS


def test_delete_clears_history_and_deregister_removes(db: Database, airflow: af.ApiClient) -> None:
    af.DagRunApi(airflow).trigger_dag_run("etl", af.TriggerDAGRunPostBody())
    run_until_idle(db, scripted({}))
    assert af.DagRunApi(airflow).get_dag_runs("etl").total_entries == 1

    af.DAGApi(airflow).delete_dag("etl")
    assert dag_ids(airflow) == ["etl", "other"]
    assert af.DagRunApi(airflow).get_dag_runs("etl").total_entries == 0
    assert af.DagVersionApi(airflow).get_dag_versions("etl").total_entries == 1

    assert deregister(airflow, "etl") == 204
    assert dag_ids(airflow) == ["other"]
    with pytest.raises(ApiException) as refused:
        af.DagRunApi(airflow).trigger_dag_run("etl", af.TriggerDAGRunPostBody())
    assert refused.value.status == 404


def test_pools_variables_connections_and_event_logs(airflow: af.ApiClient) -> None:
    pools = af.PoolApi(airflow)
    pools.post_pool(af.PoolBody(name="etl", slots=4))
    assert {p.name for p in pools.get_pools().pools} == {"default_pool", "etl"}
    assert pools.patch_pool("etl", af.PoolPatchBody(slots=8)).slots == 8
    variables = af.VariableApi(airflow)
    variables.post_variable(af.VariableBody(key="region", value="eu"))
    assert variables.get_variable("region").value == "eu"
    connections = af.ConnectionApi(airflow)
    body = af.ConnectionBody(connection_id="wh", conn_type="postgres", password="s3cret")
    connections.post_connection(body)
    fetched = connections.get_connection("wh")
    assert (fetched.conn_type, fetched.password) == ("postgres", None)
    connections.delete_connection("wh")
    events = af.EventLogApi(airflow).get_event_logs(event="connection.deleted")
    assert [(e.event, e.owner) for e in events.event_logs] == [("connection.deleted", "admin")]
    assert af.ImportErrorApi(airflow).get_import_errors().total_entries == 0
