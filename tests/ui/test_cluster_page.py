"""The cluster page in the browser: the schedulers and workers on record with their status,
queues and last heartbeat, the broker's last check, and no secret shown.

Real uvicorn, real Chromium, one SQLite file per module (UI tests run on SQLite only).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from playwright.sync_api import Page, expect
from sqlalchemy import delete
from tests.ui.conftest import Server

from pinflow.services.engine import fleet, scheduler_id, worker_id
from pinflow.store.tables import Component


def test_the_cluster_page_lists_schedulers_workers_and_the_broker(
    page: Page, server: Server
) -> None:
    db = server.db
    with db.transaction() as s:
        s.execute(delete(Component))
    now = datetime.now(UTC)
    fresh, stale = scheduler_id("sched-a", 101), scheduler_id("sched-b", 202)
    info = {"executor": "LocalExecutor", "live_tries": 3}
    fleet.beat(db, fresh, kind="scheduler", hostname="sched-a", pid=101, info=info, now=now)
    old = now - timedelta(minutes=5)
    fleet.beat(db, stale, kind="scheduler", hostname="sched-b", pid=202, now=old)
    wid = worker_id("celery@gpu-1")
    queues = ["gpu", "default"]
    fleet.beat(db, wid, kind="worker", hostname="gpu-1", pid=7, queues=queues, now=now)
    fleet.broker_checked(db, error="cannot reach amqp://pinflow:hunter2@rabbit:5672//", now=now)

    page.goto(f"{server.url}/ui/workflows")
    page.get_by_role("link", name="Cluster").click()
    expect(page).to_have_url(f"{server.url}/ui/cluster")
    expect(page.locator("#scheduler-status")).to_have_text("healthy")
    rows = page.locator("#schedulers [data-testid=scheduler-row]")
    expect(rows).to_have_count(2)
    first = page.locator(f"#schedulers tr[data-id='{fresh}']")
    expect(first.locator(".component-status")).to_have_text("healthy")
    expect(first).to_contain_text("LocalExecutor")
    expect(first).to_contain_text("sched-a")
    second = page.locator(f"#schedulers tr[data-id='{stale}']")
    expect(second.locator(".component-status")).to_have_text("unhealthy")
    expect(second).to_contain_text("5m ago")
    worker = page.locator(f"#workers tr[data-id='{wid}']")
    expect(worker.locator(".worker-queue")).to_have_text(["default", "gpu"])
    expect(worker.locator(".component-status")).to_have_text("healthy")
    expect(page.locator("#broker-status")).to_have_text("unreachable")
    expect(page.locator("#broker-error")).to_have_text("cannot reach amqp://***@rabbit:5672//")
    assert "hunter2" not in page.content()


def test_an_empty_cluster_says_so(page: Page, server: Server) -> None:
    with server.db.transaction() as s:
        s.execute(delete(Component))
    page.goto(f"{server.url}/ui/cluster")
    expect(page.locator("#scheduler-status")).to_have_text("none seen")
    expect(page.locator("#schedulers")).to_contain_text("No scheduler has reported yet.")
    expect(page.locator("#workers")).to_contain_text("No Celery worker seen")
    expect(page.locator("#broker")).to_have_text("No broker checked (no Celery executor).")
