"""``/api/v2/monitor/health`` with the fleet: Airflow's shape, the schedulers and workers on
record with their status, the broker's last check, and no secret in a public answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from sqlalchemy import update
from tests.api.helpers import client_for, make_app

from pinflow.executors.base import Executor
from pinflow.executors.local import LocalExecutor
from pinflow.runtime.contract import TaskKey
from pinflow.scheduler.safety import SafetyNet
from pinflow.services.engine import fleet, scheduler_id, worker_id
from pinflow.settings import Settings
from pinflow.store.db import Database
from pinflow.store.tables import Component


@pytest.fixture
def client(db: Database, tmp_path: Path) -> httpx.Client:
    return client_for(make_app(db, tmp_path / "home"))


def health(client: httpx.Client) -> dict[str, Any]:
    response = client.get("/api/v2/monitor/health")  # no credentials: it is public
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def age(db: Database, component_id: str, seconds: float) -> datetime:
    """Set the row's last heartbeat ``seconds`` ago (instead of waiting that long)."""
    at = datetime.now(UTC) - timedelta(seconds=seconds)
    with db.transaction() as s:
        s.execute(update(Component).where(Component.id == component_id).values(heartbeat_at=at))
    return at


def test_no_scheduler_ever_seen_keeps_airflows_none(client: httpx.Client) -> None:
    body = health(client)
    assert body["metadatabase"] == {"status": "healthy"}
    assert body["scheduler"] == {"status": None, "latest_scheduler_heartbeat": None}
    assert body["triggerer"] == {"status": None, "latest_triggerer_heartbeat": None}
    assert body["dag_processor"] is None
    assert (body["schedulers"], body["workers"], body["broker"]) == ([], [], None)


def test_a_scheduler_is_healthy_then_unhealthy_as_its_heartbeat_ages(
    db: Database, client: httpx.Client, tmp_path: Path
) -> None:
    settings = Settings(home=tmp_path / "home", database_url=db.url)
    executor = LocalExecutor.from_settings(settings)  # not started: it runs nothing here
    safety = SafetyNet(
        db, executor, settings, hostname="sched-1", pid=4242, note_retry=lambda: None
    )
    safety.beat_scheduler()
    sid = scheduler_id("sched-1", 4242)

    body = health(client)
    assert body["scheduler"]["status"] == "healthy"
    (seen,) = body["schedulers"]
    assert (seen["id"], seen["hostname"], seen["pid"], seen["status"]) == (
        sid,
        "sched-1",
        4242,
        "healthy",
    )
    assert seen["info"]["executor"] == "LocalExecutor"
    assert seen["info"]["live_tries"] == 0
    assert body["scheduler"]["latest_scheduler_heartbeat"] == seen["latest_heartbeat"]

    at = age(db, sid, settings.scheduler_health_threshold + 1)
    body = health(client)
    assert body["scheduler"]["status"] == "unhealthy"
    assert body["schedulers"][0]["status"] == "unhealthy"
    assert datetime.fromisoformat(body["scheduler"]["latest_scheduler_heartbeat"]) == at

    safety.beat_scheduler()  # it came back
    assert health(client)["scheduler"]["status"] == "healthy"
    safety.scheduler_stopped()
    body = health(client)
    assert body["schedulers"][0]["status"] == "stopped"
    assert body["schedulers"][0]["stopped_at"] is not None
    assert body["scheduler"]["status"] == "unhealthy"  # none is running


def test_one_healthy_scheduler_of_two_is_enough(db: Database, client: httpx.Client) -> None:
    for pid in (1, 2):
        fleet.beat(db, scheduler_id("h", pid), kind="scheduler", hostname="h", pid=pid)
    age(db, scheduler_id("h", 1), 300)
    body = health(client)
    assert body["scheduler"]["status"] == "healthy"
    assert [s["status"] for s in body["schedulers"]] == ["healthy", "unhealthy"]


@dataclass(frozen=True)
class BrokerSeen:
    status: str
    error: str | None
    checked_at: datetime | None


@dataclass
class RemoteExecutor:
    """What the safety net asks of a remote executor (Celery's): its live tries (none: the
    workers run them) and ``fleet()``, the broker's state and the workers it last saw."""

    broker: BrokerSeen
    workers: list[dict[str, Any]] = field(default_factory=list)

    def live(self) -> list[TaskKey]:
        return []

    def fleet(self) -> tuple[BrokerSeen, list[dict[str, Any]]]:
        return self.broker, self.workers


def test_the_scheduler_records_what_its_remote_executor_sees(
    db: Database, client: httpx.Client, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    remote = RemoteExecutor(
        BrokerSeen("unreachable", "OperationalError: redis://:***@r:6379/0 refused", now),
        [
            {
                "name": "celery@w1",
                "hostname": "w1",
                "queues": ["default"],
                "concurrency": 2,
                "pid": 11,
                "seen_at": now,
            },
            {
                "name": "celery@w2",
                "hostname": "w2",
                "queues": ["special", "default"],
                "concurrency": 4,
                "pid": 12,
                "seen_at": now,
            },
        ],
    )
    settings = Settings(home=tmp_path / "home", database_url=db.url)
    executor = cast(Executor, remote)
    safety = SafetyNet(db, executor, settings, hostname="s", pid=1, note_retry=lambda: None)
    safety.beat_scheduler()

    body = health(client)
    seen = {w["hostname"]: (w["queues"], w["info"], w["status"]) for w in body["workers"]}
    assert seen == {
        "w1": (["default"], {"concurrency": 2, "celery_name": "celery@w1"}, "healthy"),
        "w2": (["default", "special"], {"concurrency": 4, "celery_name": "celery@w2"}, "healthy"),
    }
    assert body["broker"]["status"] == "unreachable"
    assert body["broker"]["error"] == "OperationalError: redis://***@r:6379/0 refused"
    assert body["schedulers"][0]["info"]["executor"] == "RemoteExecutor"

    remote.broker = BrokerSeen("healthy", None, datetime.now(UTC))
    safety.beat_scheduler()
    broker = health(client)["broker"]
    assert (broker["status"], broker["error"]) == ("healthy", None)


def test_workers_and_the_broker_are_shown_without_their_secrets(
    db: Database, client: httpx.Client
) -> None:
    wid = worker_id("celery@w1")
    info = {"concurrency": 4, "broker": "amqp://pinflow:hunter2@rabbit.internal:5672//"}
    fleet.beat(db, wid, kind="worker", hostname="w1", pid=77, queues=["gpu", "default"], info=info)
    error = "[Errno 111] Connection refused: redis://:hunter2@redis.internal:6379/0"
    fleet.broker_checked(db, error=error, hostname="redis.internal")

    response = client.get("/api/v2/monitor/health")
    assert "hunter2" not in response.text  # nowhere in the answer, whatever its field
    body = response.json()
    (worker,) = body["workers"]
    assert (worker["hostname"], worker["queues"], worker["status"]) == (
        "w1",
        ["default", "gpu"],
        "healthy",
    )
    assert worker["info"] == {"concurrency": 4, "broker": "amqp://***@rabbit.internal:5672//"}
    assert worker["latest_heartbeat"]
    assert body["broker"]["status"] == "unreachable"
    assert body["broker"]["error"] == (
        "[Errno 111] Connection refused: redis://***@redis.internal:6379/0"
    )
    assert body["broker"]["checked_at"]

    fleet.broker_checked(db)  # it answers again
    assert health(client)["broker"]["status"] == "healthy"
    assert health(client)["broker"]["error"] is None
    age(db, wid, 120)
    assert health(client)["workers"][0]["status"] == "unhealthy"
