"""Issue #13 point 6: a real multi-host run. The API server and the scheduler on one simulated
host, two Celery workers on two others (network namespaces on a bridge, each worker with its
own hostname and a private tmpfs over the test's directory, so no local directory is shared
with the control host). The metadata database, the broker (a Redis server of the test's own)
and an S3-compatible server (moto: the shared store of artifacts and staging) are reached
through relays on the bridge's gateway.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.engine import make_url
from tests.api.helpers import make_user
from tests.scaleout.cluster import SECRET, RedisBroker, base_env, free_port, need, until
from tests.scheduler.helpers import push_dag
from tests.support.netns import Host, Network, require_netns

from pinflow.api.auth import AuthConfig, issue_access_token
from pinflow.sdk.compiler import compile_path
from pinflow.services.commands import _runs as runs
from pinflow.services.commands import _users as users
from pinflow.services.commands._push import register_snapshot
from pinflow.services.xcom_values import value_of
from pinflow.store.db import Database
from pinflow.store.tables import DagRun, TaskInstance, TaskInstanceTry

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "pinflow" / "example_dags"
PINFLOW = [sys.executable, "-m", "pinflow.cli"]
BUCKET = "pinflow-shared"

FAN = """
    import socket
    from pinflow.sdk import dag, task

    @task
    def numbers():
        return list(range(100))

    @task
    def square(n):
        return {"value": n * n, "host": socket.gethostname()}

    @task
    def total(rows):
        return {"sum": sum(r["value"] for r in rows), "hosts": sorted({r["host"] for r in rows})}

    @dag(dag_id="fan_hosts", max_active_tasks=128)
    def fan_hosts():
        total(square.expand(n=numbers()))

    fan_hosts()
"""


@pytest.fixture
def s3(tmp_path: Path) -> Iterator[dict[str, str]]:
    """An S3-compatible server on 127.0.0.1 with one bucket; the AWS settings to reach it."""
    pytest.importorskip("moto")
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        httpx.post(f"http://{host}:{port}/moto-api/reset").raise_for_status()
        httpx.put(f"http://{host}:{port}/{BUCKET}").raise_for_status()
        yield {"port": str(port)}
    finally:
        server.stop()


def _aws(endpoint: str, tmp_path: Path) -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": "test-key",
        "AWS_SECRET_ACCESS_KEY": "test-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }


def _spawn(host: Host, name: str, argv: list[str], env: dict[str, str], root: Path, **kw: Any):
    log = root / f"{name}.log"
    with log.open("ab") as handle:
        return host.spawn([*PINFLOW, *argv], env=env, stdout=handle, stderr=handle, **kw), log


def test_api_and_scheduler_on_one_host_two_workers_on_two_others(
    pg_db: Database, tmp_path: Path, s3: dict[str, str]
) -> None:
    require_netns()
    need(os.geteuid() == 0, "network namespaces need root")
    logs = tmp_path / "logs"  # outside every private dir: the test reads them
    logs.mkdir()
    broker = RedisBroker(tmp_path / "redis")
    broker.start()
    try:
        with Network() as net:
            _run_cluster(net, pg_db, broker, s3, tmp_path, logs)
    finally:
        broker.stop()


def _run_cluster(  # noqa: PLR0917 - the test's parts, handed down once
    net: Network,
    pg_db: Database,
    broker: RedisBroker,
    s3: dict[str, str],
    tmp_path: Path,
    logs: Path,
) -> None:
    control = net.add_host("control")
    workers = [net.add_host("worker-1"), net.add_host("worker-2")]
    gateway, pg_port = net.forward(5432)
    _, redis_port = net.forward(broker.port)
    _, s3_port = net.forward(int(s3["port"]))
    db_url = make_url(pg_db.url).set(host=gateway, port=pg_port)
    broker_url = f"redis://{gateway}:{redis_port}/0"
    aws = _aws(f"http://{gateway}:{s3_port}", tmp_path)
    api_port = free_port()
    api_url = f"http://{control.address}:{api_port}"
    control_env = base_env(
        tmp_path / "control",
        PINFLOW_DATABASE_URL=db_url.render_as_string(hide_password=False),
        PINFLOW_JWT_SECRET=SECRET,
        PINFLOW_EXECUTOR="celery",
        PINFLOW_BROKER_URL=broker_url,
        PINFLOW_EXECUTION_API_URL=api_url,
        PINFLOW_SHARED_STORE_URL=f"s3://{BUCKET}/pinflow",
        PINFLOW_HEARTBEAT_INTERVAL="0.5",
        **aws,
    )
    argv = ["api-server", "--host", control.address, "--port", str(api_port)]
    _spawn(control, "api", argv, control_env, logs)
    until("the API server", lambda: _answers(f"{api_url}/api/v2/monitor/health"), timeout=60)
    _spawn(control, "scheduler", ["scheduler"], control_env, logs)
    worker_procs: list[Any] = []
    for host in workers:
        # Each worker's home is under tmp_path, which its private tmpfs hides from the others
        # and from the control host: it starts empty and nothing it writes is seen elsewhere.
        env = base_env(
            tmp_path / "home" / host.name,
            PINFLOW_BROKER_URL=broker_url,
            PINFLOW_HEARTBEAT_INTERVAL="0.5",
            HOME=str(tmp_path / "home" / host.name),
            **aws,
        )
        argv = ["celery", "worker", "--concurrency", "2", "--hostname", host.hostname]
        proc, log = _spawn(host, host.name, argv, env, logs, private_dirs=[tmp_path])
        worker_procs.append(proc)
        until(f"{host.name} ready", lambda log=log: "ready." in log.read_text(), timeout=60)

    for compiled in compile_path(EXAMPLES):
        register_snapshot(pg_db, compiled.spec, compiled.bundle, actor="tester")
    push_dag(pg_db, tmp_path / "dags", "fan_hosts", FAN)
    dag_ids = ["example_etl", "example_bash", "example_fan_out", "fan_hosts"]
    run_ids = {d: runs.trigger_run(pg_db, dag_id=d, actor="tester").run_id for d in dag_ids}
    started = time.monotonic()
    for dag_id, run_id in run_ids.items():
        state = until(f"{dag_id} to finish", lambda d=dag_id, r=run_id: _finished(pg_db, d, r), 120)
        assert state == "success", f"{dag_id}: {state}\n{_tails(logs)}"
    print(f"4 runs on two namespaced workers in {time.monotonic() - started:.1f}s")

    with pg_db.read() as s:
        run_pk = s.scalars(select(DagRun.id).filter_by(dag_id="fan_hosts")).one()
        hosts = set(
            s.scalars(
                select(TaskInstanceTry.hostname)
                .join(TaskInstance, TaskInstance.id == TaskInstanceTry.ti_id)
                .where(TaskInstance.dag_id.in_(dag_ids))
            )
        )
    result = value_of(pg_db, run_pk, "total", "return_value", -1)
    assert result["sum"] == sum(n * n for n in range(100))
    assert set(result["hosts"]) == {"worker-1", "worker-2"}, "both workers ran mapped tasks"
    assert hosts == {"worker-1", "worker-2"}, "every try ran on a worker host"
    # The workers' files stayed on the workers: nothing of theirs under the test's directory.
    assert not (tmp_path / "home").exists()
    # The worker hosts go away; the tries' logs are still served, whole, by the API.
    for proc in worker_procs:
        proc.kill()
        proc.wait(timeout=30)
    _logs_outlive_the_workers(pg_db, api_url, run_ids["fan_hosts"])


def _logs_outlive_the_workers(db: Database, api_url: str, run_id: str) -> None:
    make_user(db, "reader", superuser=True)
    token = issue_access_token(AuthConfig(jwt_secret=SECRET), users.principal_of_user(db, "reader"))
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/plain"}
    base = f"{api_url}/api/v2/dags/fan_hosts/dagRuns/{run_id}/taskInstances"
    for task_id, map_index in (("total", -1), ("square", 7)):
        url = f"{base}/{task_id}/logs/1"
        got = httpx.get(url, params={"map_index": map_index}, headers=headers, timeout=10)
        assert got.status_code == 200, got.text
        assert f"running fan_hosts/{run_id}/{task_id}" in got.text, got.text
        assert "on worker-" in got.text, got.text
        assert "succeeded" in got.text, got.text


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _finished(db: Database, dag_id: str, run_id: str) -> str | None:
    with db.read() as s:
        state = s.scalars(select(DagRun.state).filter_by(dag_id=dag_id, run_id=run_id)).one()
    return state if state in ("success", "failed") else None


def _tails(logs: Path) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text()[-2000:]}" for p in sorted(logs.glob("*.log")))
