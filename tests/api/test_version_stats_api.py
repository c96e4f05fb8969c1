"""``GET /api/workflows/{id}/stats`` (issue #18, point 1): a version's run statistics over
HTTP, with ``compareTo``, authorized with workflow:read in each version's project."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.api.helpers import OUTSIDER, VIEWER, World, build_world
from tests.support.history import PastRun, Try, seed

from pinflow.services.reads import queries
from pinflow.store.db import Database


@pytest.fixture
def world(db: Database, tmp_path: Path) -> World:
    world = build_world(db, tmp_path)
    active = queries.get_version(db, world.active)
    history = [
        PastRun("success", 2.0, {"load": [Try("failed", 1.0), Try("success", 4.0)]}),
        PastRun("failed", 4.0, {"load": [Try("failed", 2.0)]}),
        PastRun("success", 6.0, {"load": [Try("success", 1.0)]}),
    ]
    seed(db, active, history)
    return world


def _other_version(world: World) -> str:
    listed = world.call("admin", "GET", "/api/workflows?dagId=other").json()["workflows"]
    return str(listed[0]["id"])


def test_stats_of_a_version(world: World) -> None:
    response = world.call(VIEWER, "GET", f"/api/workflows/{world.active}/stats")
    assert response.status_code == 200, response.text
    body = response.json()
    stats = body["stats"]
    assert stats["workflow"]["id"] == world.active
    assert (stats["runs"], stats["finishedRuns"], stats["succeededRuns"]) == (3, 3, 2)
    assert stats["successRate"] == pytest.approx(2 / 3)
    assert (stats["p50Seconds"], stats["p95Seconds"]) == (4.0, 5.8)
    assert stats["firstRunAt"].startswith("2030-01-01T09:00:00")
    assert stats["lastRunAt"].startswith("2030-01-01T11:00:00")
    assert stats["tasks"] == [
        {
            "taskId": "load",
            "tries": 4,
            "retries": 1,
            "failures": 2,
            "failureRate": 0.5,
            "p50Seconds": 1.5,
            "p95Seconds": 3.7,
        }
    ]
    assert body["compareTo"] is None
    assert body["changes"] == []


def test_compare_to_another_version(world: World) -> None:
    url = f"/api/workflows/{world.draft}/stats?compareTo={world.active}"
    body = world.call(VIEWER, "GET", url).json()
    assert body["stats"]["runs"] == 0
    assert body["compareTo"]["runs"] == 3
    p95 = next(c for c in body["changes"] if (c["subject"], c["figure"]) == ("runs", "p95"))
    assert (p95["old"], p95["new"], p95["delta"]) == (5.8, None, None)
    assert p95["text"] == "runs p95 5.8 s → n/a"
    assert p95["changed"] is True
    assert body["summary"].startswith("v1 vs v1: runs p50 4.0 s → n/a")


def test_a_version_the_caller_cannot_see_is_not_found(world: World) -> None:
    hidden = world.call(OUTSIDER, "GET", f"/api/workflows/{world.active}/stats")
    assert hidden.status_code == 404
    assert world.active in hidden.json()["message"]
    other = _other_version(world)
    unseen = world.call(VIEWER, "GET", f"/api/workflows/{world.active}/stats?compareTo={other}")
    missing = world.call(VIEWER, "GET", f"/api/workflows/{world.active}/stats?compareTo=nope")
    assert (unseen.status_code, missing.status_code) == (404, 404)
    assert unseen.json()["message"] == missing.json()["message"].replace("nope", other)
    assert "compareTo" in missing.json()["message"]


def test_stats_are_in_the_openapi_document(world: World) -> None:
    paths = world.call(VIEWER, "GET", "/openapi.json").json()["paths"]
    operation = paths["/api/workflows/{workflow_id}/stats"]["get"]
    assert [p["name"] for p in operation["parameters"]] == ["workflow_id", "compareTo"]
