"""``/api/workflows/{id}/canary`` (issue #18, point 2): plan, start and compare a canary over
HTTP; starting is for those who may run the version, reading for its readers (ADR 0030)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.api.helpers import OPERATOR, OUTSIDER, VIEWER, World, build_world, make_spec

from pinflow.services.commands import runs, versions
from pinflow.spec.models import ParamSpec, ParamType
from pinflow.store.db import Database
from pinflow.testing import TaskOutcome, run_until_idle


def fail_load(ctx: object) -> TaskOutcome:
    ok = getattr(ctx, "task_id", "") != "load" or getattr(ctx, "run_id", "").startswith("canary")
    return TaskOutcome(success=ok, error=None if ok else "load failed")


@pytest.fixture
def world(db: Database, tmp_path: Path) -> World:
    world = build_world(db, tmp_path)
    for _ in range(2):
        runs.trigger_run(db, version_id=world.active, actor="operator")
    run_until_idle(db, fail_load)
    return world


def test_dry_run_then_start_then_compare(world: World) -> None:
    url = f"/api/workflows/{world.draft}/canary"
    dry = world.call(OPERATOR, "POST", url, {"dryRun": True, "failedOnly": True, "last": 1})
    assert dry.status_code == 200, dry.text
    plan = dry.json()
    assert (plan["dryRun"], plan["batchId"], plan["sourceLabel"]) == (True, None, "v1")
    assert plan["targetWorkflowId"] == world.draft
    (only,) = plan["runs"]
    assert only["canaryRunId"] == f"canary__{only['sourceRunId']}__1"
    assert {t["taskId"]: t["action"] for t in only["tasks"]} == {
        "extract": "reused",
        "load": "rerun",
    }
    assert world.call(VIEWER, "GET", url).status_code == 404  # nothing started by a dry run

    started = world.call(OPERATOR, "POST", url, {"failedOnly": True})
    assert started.status_code == 201, started.text
    batch = started.json()["batchId"]
    assert len(started.json()["runs"]) == 2
    run_until_idle(world.db, fail_load)
    report = world.call(VIEWER, "GET", url)
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["batchId"] == batch
    assert body["summary"] == "draft of v1 vs v1 on 2 runs: 2 fixed, 0 still failing, 0 regressed"
    assert {r["outcome"] for r in body["runs"]} == {"fixed"}
    load = next(t for t in body["runs"][0]["tasks"] if t["taskId"] == "load")
    assert (load["change"], load["source"]["state"], load["canary"]["state"]) == (
        "state",
        "failed",
        "success",
    )
    assert world.call(VIEWER, "GET", f"{url}?batchId={batch}").json()["batchId"] == batch
    log = world.call("admin", "GET", "/api/v2/eventLogs?event=workflow.canary_started")
    assert log.status_code == 200, log.text
    assert [e["owner"] for e in log.json()["event_logs"]] == [OPERATOR]


def test_refusals_are_clear_4xx(world: World) -> None:
    url = f"/api/workflows/{world.draft}/canary"
    assert world.call(VIEWER, "POST", url, {"dryRun": True}).status_code == 403
    assert world.call(OUTSIDER, "POST", url, {"dryRun": True}).status_code == 404
    too_many = world.call(OPERATOR, "POST", url, {"last": 500})
    assert too_many.status_code == 422
    unknown = world.call(OPERATOR, "POST", url, {"fromVersionId": "nope"})
    assert unknown.status_code == 404
    assert "fromVersionId" in unknown.json()["message"]
    other = world.call("admin", "GET", "/api/workflows?dagId=other").json()["workflows"][0]["id"]
    unseen = world.call(OPERATOR, "POST", url, {"fromVersionId": other})
    assert unseen.status_code == 404
    assert unseen.json()["message"] == unknown.json()["message"].replace("nope", other)
    cross = world.call("admin", "POST", url, {"fromVersionId": other})
    assert cross.status_code == 404  # a version of another DAG
    strict = make_spec().model_copy(
        update={"params": {"day": ParamSpec(type=ParamType.INTEGER, required=True)}}
    )
    versions.edit_draft(world.db, world.draft, strict, actor="editor")
    refused = world.call(OPERATOR, "POST", url, {})
    assert refused.status_code == 400
    assert "cannot be replayed" in refused.json()["message"]
