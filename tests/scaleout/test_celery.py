"""Tasks on Celery workers: real brokers (Redis and RabbitMQ), a real API server, scheduler
and workers as processes, on PostgreSQL. Workers get no database URL and no secret.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from tests.api.helpers import make_user
from tests.scaleout.cluster import (
    SECRET,
    Cluster,
    RedisBroker,
    amqp_broker,
    cluster,
    free_port,
    redis_broker,
    until,
)
from tests.scheduler.helpers import push_dag

from pinflow.api.auth import AuthConfig, issue_access_token
from pinflow.lifecycle.permissions import Principal
from pinflow.sdk.compiler import compile_path
from pinflow.services.commands import _resource_pools as pools
from pinflow.services.commands import _users as users
from pinflow.services.commands._push import register_snapshot
from pinflow.services.xcom_values import value_of
from pinflow.store.db import Database
from pinflow.store.tables import DagRun, RunCallback, TaskInstance

EXAMPLES = Path(__file__).resolve().parents[2] / "src" / "pinflow" / "example_dags"

ROUTED = """
    from pinflow.sdk import dag, task

    @task
    def numbers():
        return list(range(6))

    @task
    def double(n):
        return n * 2

    @task(queue="special")
    def special(values):
        return sum(values)

    def finished(end):
        print("ROUTED DONE", end.state, end.reason)

    @dag(dag_id="routed", on_success_callback=finished)
    def routed():
        special(double.expand(n=numbers()))

    routed()
"""


@contextlib.contextmanager
def on_redis(db: Database, root: Path) -> Iterator[tuple[RedisBroker, Cluster]]:
    """A Redis of the test's own, an API server and a scheduler (workers: the test's)."""
    with redis_broker(root / "redis") as broker, cluster(db, broker.url, root / "cluster") as made:
        made.start_api()
        made.start_scheduler()
        yield broker, made


@pytest.fixture(params=["redis", "amqp"])
def broker_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "redis":
        with redis_broker(tmp_path / "redis") as broker:
            yield broker.url
    else:
        with amqp_broker() as broker:
            yield broker.url


@pytest.fixture
def two_workers(pg_db: Database, broker_url: str, tmp_path: Path) -> Iterator[Cluster]:
    with cluster(pg_db, broker_url, tmp_path / "cluster") as made:
        made.start_api()
        made.start_scheduler()
        made.start_worker("w1", queues="default")
        made.start_worker("w2", queues="default,special")
        yield made


def test_example_dags_and_a_routed_fan_out_run_on_two_workers(
    pg_db: Database, two_workers: Cluster, tmp_path: Path
) -> None:
    for compiled in compile_path(EXAMPLES):
        register_snapshot(pg_db, compiled.spec, compiled.bundle, actor="tester")
    push_dag(pg_db, tmp_path / "dags", "routed", ROUTED)
    runs = {
        dag_id: two_workers.trigger(dag_id)
        for dag_id in ("example_etl", "example_fan_out", "example_bash", "routed")
    }
    for dag_id, run_id in runs.items():
        assert two_workers.wait_finished(dag_id, [run_id]) == {run_id: "success"}, dag_id
    with pg_db.read() as s:
        run_pk = s.scalars(select(DagRun.id).filter_by(dag_id="routed")).one()
    assert value_of(pg_db, run_pk, "special", "return_value", -1) == 30
    tries = two_workers.tries("routed")
    hosts = {t.hostname for t in tries}
    assert hosts <= {"w1", "w2"}
    assert len(tries) == 8
    special = [t for t in tries if _task_of(pg_db, t.ti_id) == "special"]
    assert [t.hostname for t in special] == ["w2"], "queue='special' routes to w2 only"
    every = {t.hostname for dag in runs for t in two_workers.tries(dag)}
    assert every == {"w1", "w2"}, "both workers did work"
    _health_lists_the_workers(two_workers)
    _workers_hold_no_database_credentials(two_workers)
    _the_scheduler_called_the_dag_callback(pg_db, run_pk)


def _the_scheduler_called_the_dag_callback(db: Database, run_pk: int) -> None:
    """The workers reported the run's end over the execution API; the scheduler, woken by
    the commit, called the DAG's on_success_callback on its own host (ADR 0044)."""

    def called() -> RunCallback | None:
        with db.read() as s:
            found = s.scalars(select(RunCallback).filter_by(run_pk=run_pk)).one_or_none()
        return found if found is not None and found.state == "success" else None

    callback = until("the DAG's on_success_callback", called, timeout=60)
    assert callback.output is not None
    assert "ROUTED DONE success success" in callback.output


def _health_lists_the_workers(made: Cluster) -> None:
    """/api/v2/monitor/health: the workers seen, with their queues; no credential in it."""

    def workers() -> dict[str, list[str]] | None:
        body = httpx.get(f"{made.api_url}/api/v2/monitor/health", timeout=5).json()
        seen = {w["hostname"]: w["queues"] for w in body.get("workers") or [] if w["queues"]}
        return seen if {"w1", "w2"} <= set(seen) else None

    seen = until("health to list both workers", workers, timeout=30)
    assert seen["w1"] == ["default"]
    assert seen["w2"] == ["default", "special"]
    text = httpx.get(f"{made.api_url}/api/v2/monitor/health").text
    assert "guest:guest" not in text
    assert SECRET not in text


def _workers_hold_no_database_credentials(made: Cluster) -> None:
    for proc in made.procs:
        if proc.name.startswith("w"):
            environ = Path(f"/proc/{proc.proc.pid}/environ").read_bytes().split(b"\0")
            names = {item.partition(b"=")[0].decode() for item in environ if item}
            assert not {"PINFLOW_DATABASE_URL", "PINFLOW_JWT_SECRET"} & names


def _task_of(db: Database, ti_id: int) -> str:
    with db.read() as s:
        return s.scalars(select(TaskInstance.task_id).filter_by(id=ti_id)).one()


def test_a_pool_holds_across_workers(pg_db: Database, tmp_path: Path) -> None:
    """Four tasks in a one-slot pool on two workers: their tries never overlap."""
    pools.create_pool(
        pg_db, Principal("tester", is_superuser=True), {"name": "one_slot", "slots": 1}
    )
    source = """
        import time
        from pinflow.sdk import dag, task

        @task(pool="one_slot")
        def slow():
            time.sleep(0.3)

        @dag(dag_id="pooled")
        def pooled():
            for i in range(4):
                slow.override(task_id=f"t{i}")()

        pooled()
    """
    push_dag(pg_db, tmp_path / "dags", "pooled", source)
    with on_redis(pg_db, tmp_path) as (_broker, made):
        made.start_worker("w1")
        made.start_worker("w2")
        run_id = made.trigger("pooled")
        assert made.wait_finished("pooled", [run_id]) == {run_id: "success"}
        tries = sorted(made.tries("pooled"), key=lambda t: t.start_date)
    assert len(tries) == 4
    for earlier, later in itertools.pairwise(tries):
        assert earlier.end_date <= later.start_date, "two tries held the one slot at once"


KILLABLE = """
    import os, time
    from pinflow.sdk import dag, task

    @task(retries=1, retry_delay=0)
    def long_first_try():
        if int(os.environ["PINFLOW_TRY_NUMBER"]) == 1:
            time.sleep(60)
        return os.environ["PINFLOW_TRY_NUMBER"]

    @dag(dag_id="killable")
    def killable():
        long_first_try()

    killable()
"""


def test_a_worker_killed_mid_task_is_retried_on_another_within_the_heartbeat_timeout(
    pg_db: Database, tmp_path: Path
) -> None:
    push_dag(pg_db, tmp_path / "dags", "killable", KILLABLE)
    with on_redis(pg_db, tmp_path) as (_broker, made):
        w1 = made.start_worker("w1", concurrency=1)
        run_id = made.trigger("killable")

        def running_on() -> str | None:
            with pg_db.read() as s:
                ti = s.scalars(select(TaskInstance).filter_by(dag_id="killable")).one()
                return ti.hostname if ti.state == "running" else None

        assert until("the first try to run", running_on, timeout=30) == "w1"
        made.start_worker("w2", concurrency=1)
        w1.kill9()
        killed = time.monotonic()
        assert made.wait_finished("killable", [run_id], timeout=40) == {run_id: "success"}
        recovered_in = time.monotonic() - killed
        tries = sorted(made.tries("killable"), key=lambda t: t.try_number)
    print(f"worker kill -9 -> run success in {recovered_in:.1f}s (zombie threshold 4s)")
    assert [(t.try_number, t.state, t.hostname) for t in tries] == [
        (1, "up_for_retry", "w1"),
        (2, "success", "w2"),
    ]
    assert "no heartbeat" in (tries[0].error or "")


def test_a_broker_restart_keeps_queued_tries_and_health_reports_the_outage(
    pg_db: Database, tmp_path: Path
) -> None:
    push_dag(pg_db, tmp_path / "dags", "routed", ROUTED)
    with on_redis(pg_db, tmp_path) as (broker, made):
        made.start_worker("w1", queues="default,special")
        broker.stop()
        run_id = made.trigger("routed")

        def broker_status() -> str | None:
            body = httpx.get(f"{made.api_url}/api/v2/monitor/health", timeout=5).json()
            status = (body.get("broker") or {}).get("status")
            return status if status == "unreachable" else None

        until("health to report the broker's outage", broker_status, timeout=30)
        with pg_db.read() as s:
            states = set(s.scalars(select(TaskInstance.state).filter_by(dag_id="routed")))
        assert "success" not in states
        broker.start()
        assert made.wait_finished("routed", [run_id], timeout=60) == {run_id: "success"}

        def healthy() -> bool:
            body = httpx.get(f"{made.api_url}/api/v2/monitor/health", timeout=5).json()
            return (body.get("broker") or {}).get("status") == "healthy"

        until("health to report the broker back", healthy, timeout=30)
        tries = made.tries("routed")
    assert all(t.state == "success" for t in tries)
    assert len(tries) == 8


def test_api_servers_are_interchangeable_and_a_log_outlives_the_one_that_took_it(
    pg_db: Database, tmp_path: Path
) -> None:
    """Two API servers (their own homes, no shared disk; in production a load balancer is in
    front of them): the workers report to the first; once it is gone, the second serves the
    run's task logs whole, from the database."""
    with (
        redis_broker(tmp_path / "redis") as broker,
        cluster(pg_db, broker.url, tmp_path / "cluster") as made,
    ):
        first = made.start_api("api-1")
        second_port = free_port()
        made.start_api("api-2", port=second_port)
        made.start_scheduler()
        made.start_worker("w1")
        for compiled in compile_path(EXAMPLES):
            if compiled.spec.dag_id == "example_etl":
                register_snapshot(pg_db, compiled.spec, compiled.bundle, actor="tester")
        run_id = made.trigger("example_etl")
        assert made.wait_finished("example_etl", [run_id]) == {run_id: "success"}
        first.stop()

        make_user(pg_db, "reader", superuser=True)
        token = issue_access_token(
            AuthConfig(jwt_secret=SECRET), users.principal_of_user(pg_db, "reader")
        )
        second = f"http://127.0.0.1:{second_port}"
        url = f"{second}/api/v2/dags/example_etl/dagRuns/{run_id}/taskInstances/extract/logs/1"
        headers = {"Authorization": f"Bearer {token}", "Accept": "text/plain"}
        log = httpx.get(url, headers=headers, timeout=10)
        assert log.status_code == 200, log.text
        assert f"running example_etl/{run_id}/extract" in log.text
        assert "succeeded" in log.text
        assert {t.hostname for t in made.tries("example_etl")} == {"w1"}
