"""``/api/v2/backfills`` (ADR 0040) over HTTP on both databases: a daily DAG backfilled over 3
days gets exactly 3 runs with the schedule's logical dates and data intervals, and they
succeed; the dry run; ``reprocess_behavior``; the backfill's own ``max_active_runs``; pause;
cancel; refusals; two schedulers starting runs at once on PostgreSQL; the official client's
models parse the answers."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from airflow_client.client import models
from sqlalchemy import select
from tests.api.helpers import bearer, client_for, make_app, make_user

from pinflow.services.commands import push, runs
from pinflow.services.engine._new_runs import start_queued_runs
from pinflow.spec.models import DagSpec
from pinflow.store.db import Database
from pinflow.store.tables import AuditEvent, DagRun
from pinflow.testing import make_spec, run_until_idle, scripted

TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
DAYS = [TODAY - timedelta(days=n) for n in (4, 3, 2)]


def daily_spec() -> DagSpec:
    return make_spec(
        "daily",
        {"extract": [], "load": ["extract"]},
        project="alpha",
        trigger={"schedule": "@daily", "start_date": (TODAY - timedelta(days=30)).isoformat()},
    )


@pytest.fixture
def api(db: Database, tmp_path: Path) -> httpx.Client:
    app = make_app(db, tmp_path / "home")
    make_user(db, "admin", superuser=True)
    push.register_snapshot(db, daily_spec(), actor="ci")
    client = client_for(app)
    client.headers.update(bearer(app, "admin"))
    return client


def body(**extra: Any) -> dict[str, Any]:
    return {
        "dag_id": "daily",
        "from_date": DAYS[0].isoformat(),
        "to_date": DAYS[-1].isoformat(),
        **extra,
    }


def create(api: httpx.Client, **extra: Any) -> dict[str, Any]:
    answer = api.post("/api/v2/backfills", json=body(**extra))
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def backfill_runs(db: Database, backfill_id: int) -> list[DagRun]:
    with db.read() as s:
        return list(
            s.scalars(select(DagRun).where(DagRun.backfill_id == backfill_id).order_by(DagRun.id))
        )


def test_three_days_make_three_runs_that_succeed(api: httpx.Client, db: Database) -> None:
    made = create(api, dag_run_conf={"x": 1})
    models.BackfillResponse.from_dict(made)
    found = backfill_runs(db, made["id"])
    assert [r.logical_date for r in found] == DAYS
    assert [(r.data_interval_start, r.data_interval_end) for r in found] == [
        (day, day + timedelta(days=1)) for day in DAYS
    ]
    assert {r.run_type for r in found} == {"backfill"}
    assert {r.version_id for r in found} == {made["version_id"]}
    assert found[0].run_id == f"backfill__{DAYS[0].isoformat()}"
    assert found[0].conf == {"x": 1}
    assert made["completed_at"] is None
    run_until_idle(db, scripted({}))
    assert {r.state for r in backfill_runs(db, made["id"])} == {"success"}
    shown = api.get(f"/api/v2/backfills/{made['id']}").json()
    assert shown["completed_at"] is not None
    listed = api.get("/api/v2/backfills", params={"dag_id": "daily"}).json()
    models.BackfillCollectionResponse.from_dict(listed)
    assert [b["id"] for b in listed["backfills"]] == [made["id"]]
    with db.read() as s:
        actions = s.scalars(select(AuditEvent.action).where(AuditEvent.target_type == "backfill"))
        assert list(actions) == ["backfill.created"]


def test_dry_run_lists_the_dates_and_changes_nothing(api: httpx.Client, db: Database) -> None:
    answer = api.post("/api/v2/backfills/dry_run", json=body(run_backwards=True))
    assert answer.status_code == 200, answer.text
    models.DryRunBackfillCollectionResponse.from_dict(answer.json())
    dates = [datetime.fromisoformat(b["logical_date"]) for b in answer.json()["backfills"]]
    assert dates == DAYS[::-1]
    with db.read() as s:
        assert s.scalars(select(DagRun)).first() is None


@pytest.mark.parametrize(
    ("behavior", "rerun"),
    [("none", set()), ("failed", {"failed"}), ("completed", {"failed", "success"})],
)
def test_reprocess_behavior_keeps_or_reruns_existing_runs(
    api: httpx.Client, db: Database, behavior: str, rerun: set[str]
) -> None:
    for day, ok in ((DAYS[0], True), (DAYS[1], False)):
        runs.trigger_run(db, dag_id="daily", run_id=f"old_{ok}", logical_date=day, actor="t")
        run_until_idle(db, scripted({"load": [ok]}))
    dry = api.post("/api/v2/backfills/dry_run", json=body(reprocess_behavior=behavior)).json()
    made = create(api, reprocess_behavior=behavior)
    joined = {r.run_id: r for r in backfill_runs(db, made["id"])}
    expected_old = {f"old_{state == 'success'}" for state in rerun}
    assert set(joined) == {f"backfill__{DAYS[2].isoformat()}", *expected_old}
    assert len(dry["backfills"]) == len(joined)
    assert all(r.state == "queued" for r in joined.values())
    run_until_idle(db, scripted({}))
    with db.read() as s:
        states = dict(s.execute(select(DagRun.run_id, DagRun.state)).all())
    assert states["old_True"] == "success"
    assert states["old_False"] == ("success" if "failed" in rerun else "failed")


def test_max_active_runs_pause_and_unpause(api: httpx.Client, db: Database) -> None:
    made = create(api, max_active_runs=2)
    assert start_queued_runs(db) == 2
    assert start_queued_runs(db) == 0  # the third waits for a slot of the backfill
    paused = api.put(f"/api/v2/backfills/{made['id']}/pause")
    assert paused.status_code == 200
    assert paused.json()["is_paused"] is True
    run_until_idle(db, scripted({}))
    states = [r.state for r in backfill_runs(db, made["id"])]
    assert states == ["success", "success", "queued"]  # paused: the third never started
    assert api.put(f"/api/v2/backfills/{made['id']}/unpause").json()["is_paused"] is False
    run_until_idle(db, scripted({}))
    assert [r.state for r in backfill_runs(db, made["id"])] == ["success"] * 3


def test_cancel_fails_the_queued_runs_and_completes(api: httpx.Client, db: Database) -> None:
    made = create(api, max_active_runs=1)
    assert start_queued_runs(db) == 1
    cancelled = api.put(f"/api/v2/backfills/{made['id']}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["completed_at"] is not None
    run_until_idle(db, scripted({}))
    assert [r.state for r in backfill_runs(db, made["id"])] == ["success", "failed", "failed"]
    again = api.put(f"/api/v2/backfills/{made['id']}/pause")
    assert again.status_code == 409
    assert "completed" in again.json()["detail"]


def test_refusals_say_what_to_do(api: httpx.Client, db: Database) -> None:
    create(api)
    second = api.post("/api/v2/backfills", json=body())
    assert second.status_code == 409
    assert "cancel it" in second.json()["detail"]
    backwards = api.post(
        "/api/v2/backfills", json=body(from_date=DAYS[-1].isoformat(), to_date=DAYS[0].isoformat())
    )
    assert backwards.status_code == 400
    assert "from_date" in backwards.json()["detail"]
    push.register_snapshot(db, make_spec("manual", {"a": []}, project="alpha"), actor="ci")
    manual = api.post("/api/v2/backfills/dry_run", json=body(dag_id="manual"))
    assert manual.status_code == 400
    assert "schedule" in manual.json()["detail"]
    assert api.post("/api/v2/backfills", json=body(dag_id="nope")).status_code == 404
    assert api.get("/api/v2/backfills/999").status_code == 404
    bad_conf = api.post("/api/v2/backfills/dry_run", json=body(reprocess_behavior="all"))
    assert bad_conf.status_code == 422


@pytest.mark.postgresql_only
def test_two_schedulers_start_within_the_backfills_limit(api: httpx.Client, db: Database) -> None:
    made = create(api, max_active_runs=2)
    barrier = threading.Barrier(2)
    started: list[int] = []

    def scheduler() -> None:
        barrier.wait()
        started.append(start_queued_runs(db))

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(started) == 2
    assert [r.state for r in backfill_runs(db, made["id"])].count("running") == 2


def test_a_paused_backfill_never_holds_back_a_manual_run(api: httpx.Client, db: Database) -> None:
    made = create(api, max_active_runs=1)
    assert api.put(f"/api/v2/backfills/{made['id']}/pause").status_code == 200
    runs.trigger_run(db, dag_id="daily", run_id="manual1", actor="t")
    assert start_queued_runs(db) == 1
    with db.read() as s:
        assert s.scalars(select(DagRun.state).where(DagRun.run_id == "manual1")).one() == "running"
