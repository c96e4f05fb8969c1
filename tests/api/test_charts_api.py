"""The charts' data over HTTP (issue #16 point 4): one run's Gantt chart and a DAG's recent
durations, on both databases, from real runs with retries and a mapped task
(``tests.support.charted``). Who may read them is in ``test_v2_routes.CASES``."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.api.helpers import OUTSIDER, VIEWER, World, build_world
from tests.support.charted import T0, publish_charted, run_charted

from pinflow.services.commands import _runs as runs
from pinflow.services.engine import claim_scheduled, schedule_pass, start_task
from pinflow.services.reads import RunView
from pinflow.store.db import Database


@pytest.fixture
def world(db: Database, tmp_path: Path) -> World:
    return build_world(db, tmp_path)


def _two_runs(world: World) -> tuple[RunView, RunView]:
    version = publish_charted(world.db)
    first = run_charted(world.db, version)
    return first, run_charted(world.db, version, start=T0 + timedelta(hours=1), slow=4)


def _gantt(world: World, run_id: str, who: str = VIEWER) -> Any:
    return world.call(who, "GET", f"/api/v2/dags/charted/dagRuns/{run_id}/gantt")


def test_the_gantt_data_lists_every_try_of_every_task_instance(world: World) -> None:
    run, _ = _two_runs(world)
    response = _gantt(world, run.run_id)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["dag_id"], body["dag_run_id"], body["state"]) == ("charted", run.run_id, "success")
    assert (body["start_date"], body["end_date"]) == (
        "2030-01-01T09:00:00Z",
        "2030-01-01T09:00:20Z",
    )
    rows = body["task_instances"]
    assert [(t["task_id"], t["map_index"]) for t in rows] == [
        ("extract", -1),
        ("square", 0),
        ("square", 1),
        ("square", 2),
        ("report", -1),
    ]
    extract = rows[0]
    assert [(t["try_number"], t["state"], t["duration"]) for t in extract["tries"]] == [
        (1, "up_for_retry", 1.0),
        (2, "success", 1.0),
    ]
    assert extract["tries"][0]["start_date"] == "2030-01-01T09:00:01Z"
    assert extract["queued_dttm"] == "2030-01-01T09:00:04Z"
    assert [len(t["tries"]) for t in rows] == [2, 1, 2, 1, 1]
    assert not any(t["interrupted"] for row in rows for t in row["tries"])


def test_the_durations_give_each_run_and_task_and_their_p50(world: World) -> None:
    first, second = _two_runs(world)
    response = world.call(VIEWER, "GET", "/api/v2/dags/charted/durations")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["dag_id"], body["total_entries"]) == ("charted", 2)
    assert [(r["dag_run_id"], r["duration"]) for r in body["runs"]] == [
        (first.run_id, 20.0),
        (second.run_id, 24.0),
    ]
    assert body["run_p50"] == 22.0
    tasks = {t["task_id"]: t for t in body["tasks"]}
    assert list(tasks) == ["extract", "square", "report"]
    assert [p["duration"] for p in tasks["report"]["points"]] == [1.0, 5.0]
    assert tasks["report"]["p50"] == 3.0
    # A mapped task lasts from its first element's start to its last one's end.
    assert [p["duration"] for p in tasks["square"]["points"]] == [9.0, 9.0]
    assert {p["state"] for t in body["tasks"] for p in t["points"]} == {"success"}


def test_durations_page_like_the_grid(world: World) -> None:
    _, second = _two_runs(world)
    newest = world.call(VIEWER, "GET", "/api/v2/dags/charted/durations?limit=1").json()
    assert [r["dag_run_id"] for r in newest["runs"]] == [second.run_id]
    older = world.call(VIEWER, "GET", "/api/v2/dags/charted/durations?limit=1&offset=1").json()
    assert [r["duration"] for r in older["runs"]] == [20.0]
    capped = world.call(VIEWER, "GET", "/api/v2/dags/charted/durations?limit=100000")
    assert capped.status_code == 200
    assert len(capped.json()["runs"]) == 2


def test_a_dag_without_runs_has_empty_durations(world: World) -> None:
    body = world.call(VIEWER, "GET", "/api/v2/dags/etl/durations").json()
    assert (body["runs"], body["run_p50"], body["total_entries"]) == ([], None, 0)
    assert [t["task_id"] for t in body["tasks"]] == []


def test_a_running_run_has_open_tries_and_no_durations_yet(world: World) -> None:
    version = publish_charted(world.db)
    run = runs.trigger_run(world.db, version_id=version, actor="admin")
    schedule_pass(world.db)
    [claimed] = claim_scheduled(world.db, limit=10)
    start_task(world.db, claimed.ti_id, try_number=claimed.try_number, hostname="h", pid=1)
    [extract, *_] = _gantt(world, run.run_id).json()["task_instances"]
    assert extract["state"] == "running"
    assert [(t["state"], t["end_date"], t["duration"]) for t in extract["tries"]] == [
        ("running", None, None)
    ]
    body = world.call(VIEWER, "GET", "/api/v2/dags/charted/durations").json()
    assert [r["duration"] for r in body["runs"]] == [None]
    assert body["run_p50"] is None


def test_bad_input_is_a_clear_4xx(world: World) -> None:
    missing = world.call(VIEWER, "GET", "/api/v2/dags/etl/dagRuns/nope/gantt")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "DAG run 'nope' of DAG 'etl' was not found."
    assert world.call(VIEWER, "GET", "/api/v2/dags/nope/durations").status_code == 404
    for query in ("limit=0", "limit=x", "offset=-1"):
        bad = world.call(VIEWER, "GET", f"/api/v2/dags/etl/durations?{query}")
        assert bad.status_code == 422, query


def test_another_projects_user_is_told_not_found(world: World) -> None:
    run, _ = _two_runs(world)
    hidden = _gantt(world, run.run_id, OUTSIDER)
    missing = world.call(OUTSIDER, "GET", f"/api/v2/dags/nope/dagRuns/{run.run_id}/gantt")
    assert (hidden.status_code, missing.status_code) == (404, 404)
    assert hidden.json()["detail"] == missing.json()["detail"].replace("nope", "charted")


def test_the_routes_are_in_the_openapi_document(world: World) -> None:
    paths = world.client.get("/openapi.json").json()["paths"]
    gantt = paths["/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/gantt"]["get"]
    durations = paths["/api/v2/dags/{dag_id}/durations"]["get"]
    assert gantt["tags"] == durations["tags"] == ["Charts"]
    assert {p["name"] for p in durations["parameters"]} == {"dag_id", "limit", "offset"}
