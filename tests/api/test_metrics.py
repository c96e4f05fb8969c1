"""``GET /metrics`` (the ``metrics`` extra): the installation's figures from the database, each
scheduler's loop time from its heartbeat row, this server's request latency; access by token
or from the allowed networks."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from tests.api.helpers import bearer, client_for, make_app, make_user
from tests.scheduler.helpers import make_settings, push_dag, running_scheduler

from pinflow.errors import InvalidInputError
from pinflow.services.commands._push import register_snapshot
from pinflow.services.commands._runs import trigger_run
from pinflow.store.db import Database
from pinflow.testing import make_spec, run_until_idle, scripted

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scrape(client: httpx.Client, headers: dict[str, str] | None = None) -> Samples:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return samples(response.text)


@pytest.fixture
def app_and_token(db: Database, tmp_path: Path) -> tuple[httpx.Client, dict[str, str]]:
    app = make_app(db, tmp_path / "home")
    make_user(db, "prometheus")
    return client_for(app), bearer(app, "prometheus")


def test_a_scrape_needs_a_token(app_and_token: tuple[httpx.Client, dict[str, str]]) -> None:
    client, token = app_and_token
    anonymous = client.get("/metrics")
    assert anonymous.status_code == 401
    assert "Bearer" in anonymous.text
    assert client.get("/metrics", headers={"Authorization": "Bearer nonsense"}).status_code == 401
    assert scrape(client, token)[("pinflow_metadatabase_up", ())] == 1


def test_runs_tasks_tries_and_queue_depth_by_state(
    db: Database, app_and_token: tuple[httpx.Client, dict[str, str]]
) -> None:
    client, token = app_and_token
    register_snapshot(db, make_spec("etl", {"a": [], "b": ["a"]}), b"", actor="alice")
    trigger_run(db, dag_id="etl", actor="alice", run_id="done")
    run_until_idle(db, scripted({"b": [False]}))
    trigger_run(db, dag_id="etl", actor="alice", run_id="waiting")

    before = scrape(client, token)
    assert before[("pinflow_dag_runs", (("state", "failed"),))] == 1
    assert before[("pinflow_dag_runs", (("state", "queued"),))] == 1
    assert before[("pinflow_task_tries", (("state", "success"),))] == 1
    assert before[("pinflow_task_tries", (("state", "failed"),))] == 1
    assert ("pinflow_queue_depth", (("queue", "default"), ("state", "scheduled"))) not in before

    from pinflow.services.engine._new_runs import start_queued_runs
    from pinflow.services.engine._sweep import schedule_pass

    start_queued_runs(db)
    schedule_pass(db)
    after = scrape(client, token)
    assert after[("pinflow_queue_depth", (("queue", "default"), ("state", "scheduled")))] == 1
    assert after[("pinflow_task_instances", (("state", "scheduled"),))] == 1


def test_api_latency_is_by_route_template_and_status(
    db: Database, app_and_token: tuple[httpx.Client, dict[str, str]]
) -> None:
    client, token = app_and_token
    for dag_id in ("one", "two"):
        assert client.get(f"/api/v2/dags/{dag_id}", headers=token).status_code == 404
    assert client.get("/api/v2/monitor/health").status_code == 200
    seen = scrape(client, token)
    name = "pinflow_api_request_duration_seconds_count"
    dags = (("method", "GET"), ("route", "/api/v2/dags/{dag_id}"), ("status", "404"))
    health = (("method", "GET"), ("route", "/api/v2/monitor/health"), ("status", "200"))
    assert seen[(name, dags)] == 2
    assert seen[(name, health)] == 1
    assert not any("one" in dict(labels).get("route", "") for _, labels in seen)


def test_allowed_networks_scrape_without_a_token(db: Database, tmp_path: Path) -> None:
    inside = client_for(make_app(db, tmp_path / "a", metrics_allow_from="10.0.0.0/8, 127.0.0.1"))
    assert inside.get("/metrics").status_code == 200
    outside = client_for(make_app(db, tmp_path / "b", metrics_allow_from="10.0.0.0/8"))
    assert outside.get("/metrics").status_code == 401
    with pytest.raises(InvalidInputError, match="not an address or network"):
        make_app(db, tmp_path / "c", metrics_allow_from="10.0.0.0/8, intranet")


def test_a_schedulers_loop_time_reaches_any_api_server_through_its_heartbeat(
    db: Database, tmp_path: Path, app_and_token: tuple[httpx.Client, dict[str, str]]
) -> None:
    client, token = app_and_token
    settings = make_settings(db, tmp_path / "sched")
    push_dag(
        db,
        tmp_path / "dags",
        "quick",
        """
        from pinflow import dag, task

        @task
        def hello() -> int:
            return 1

        @dag(dag_id="quick")
        def quick() -> None:
            hello()

        quick()
        """,
    )
    trigger_run(db, dag_id="quick", actor="alice", run_id="r1")
    with running_scheduler(db, settings) as scheduler:
        assert scheduler.drain(60.0)
        scheduler._safety.beat_scheduler()
        stats = scheduler._safety.loop
        sid = scheduler._safety.component_id
        seen = scrape(client, token)  # while it runs: a stopped scheduler is not reported
    key = (("scheduler", sid),)
    assert stats.count > 0
    assert seen[("pinflow_scheduler_loop_seconds_count", key)] == stats.count
    assert seen[("pinflow_scheduler_loop_seconds_sum", key)] == pytest.approx(stats.total)
    assert 0 < seen[("pinflow_scheduler_loop_max_seconds", key)] == pytest.approx(stats.slowest)
