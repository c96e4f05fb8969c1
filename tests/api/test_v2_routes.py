"""Airflow's /api/v2 at the HTTP level: every new route x every kind of caller, the shapes the
official client parses, and the refusals (404/409/422/400) in Airflow's ``{"detail": …}``.

The world is the authorization matrix's (DAG ``etl`` in project alpha, ``other`` in beta)
plus a finished run ``r1`` of ``etl``: ``extract`` succeeded with an XCom, ``load`` failed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from airflow_client.client import models
from fastapi.routing import APIRoute
from tests.api.helpers import (
    ACTORS,
    ADMIN,
    ANON,
    EDITOR,
    OUTSIDER,
    VIEWER,
    World,
    build_world,
    fresh_worlds,
    make_spec,
    publish,
    world_on,
)
from tests.api.matrix import MANAGE, READ, RUN, WRITE, on_alpha, signed_in, superuser

from pinflow.api.routes import (
    v2_assets,
    v2_backfills,
    v2_charts,
    v2_dag_tasks,
    v2_dags,
    v2_misc,
    v2_resources,
    v2_runs,
    v2_tasks,
)
from pinflow.services.commands import _dags as dags
from pinflow.services.commands import _runs as runs
from pinflow.services.reads import _audit_log as audit_log
from pinflow.spec.assets import AssetCondition, AssetSpec
from pinflow.spec.models import DagSpec, TaskSpec, TriggerSpec
from pinflow.store.db import Database
from pinflow.testing import TaskOutcome, run_until_idle, scripted

V2_ROUTERS = (
    v2_dags,
    v2_dag_tasks,
    v2_runs,
    v2_tasks,
    v2_misc,
    v2_resources,
    v2_charts,
    v2_assets,
    v2_backfills,
)
RUN_URL = "/api/v2/dags/etl/dagRuns/r1"
TI = f"{RUN_URL}/taskInstances"
BROKEN_FILE = {
    "project": "alpha",
    "filename": "dags/x.py",
    "message": "dags/x.py:3: invalid syntax",
}
CLEAR_BROKEN = "/api/import-errors?project=alpha&filename=dags/x.py"


def hidden_from_members(ok: int = 200) -> dict[str, int]:
    """An instance-wide secret: superusers only, a 404 to everyone else (no existence leak)."""
    return {who: {ANON: 401, ADMIN: ok}.get(who, 404) for who in ACTORS}


def v2_world(db: Database, home: Path) -> World:
    world = build_world(db, home)
    runs.trigger_run(db, dag_id="etl", run_id="r1", actor="editor")
    outcome = TaskOutcome(success=True, value={"rows": 3})
    run_until_idle(db, scripted({"extract": [outcome], "load": [False]}))
    return world


def _deregister(world: World) -> None:
    dags.deregister(world.db, "etl", actor="test")


def _resources(world: World) -> None:
    """Alpha's pool p1, variable v1 and connection c1; an instance-wide variable iv."""
    for path, body in (
        ("/api/v2/pools", {"name": "p1", "slots": 2, "project": "alpha"}),
        ("/api/v2/variables", {"key": "v1", "value": "x", "project": "alpha"}),
        ("/api/v2/variables", {"key": "iv", "value": "x"}),
        (
            "/api/v2/connections",
            {"connection_id": "c1", "conn_type": "http", "password": "pw", "project": "alpha"},
        ),
    ):
        assert world.call(ADMIN, "POST", path, body).status_code == 201


def _import_error(world: World) -> None:
    assert world.call(ADMIN, "PUT", "/api/import-errors", BROKEN_FILE).status_code == 200


_r = _resources
_DAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
BACKFILL = {
    "dag_id": "etl",
    "from_date": (_DAY - timedelta(days=2)).isoformat(),
    "to_date": (_DAY - timedelta(days=1)).isoformat(),
}


def _scheduled(world: World) -> None:
    """A daily current version of ``etl``: the backfill routes need a schedule."""
    trigger = TriggerSpec(schedule="@daily", start_date=_DAY - timedelta(days=10))
    publish(world.db, make_spec().model_copy(update={"trigger": trigger}))


def _backfill(world: World) -> None:
    """Backfill 1 of ``etl``."""
    _scheduled(world)
    assert world.call(ADMIN, "POST", "/api/v2/backfills", BACKFILL).status_code == 200


def _assets(world: World) -> None:
    """Alpha's DAG ``on_x``, scheduled on asset 1 (``s3://lake/x``), which ``etl`` updates."""
    x = AssetSpec(uri="s3://lake/x")
    publish(
        world.db,
        DagSpec(
            dag_id="on_x",
            project="alpha",
            trigger=TriggerSpec(assets=AssetCondition(asset=x)),
            tasks=[TaskSpec(task_id="t", kind="bash", bash_command="true", outlets=[x])],
        ),
    )


@dataclass(frozen=True)
class Case:
    method: str
    route: str
    url: str
    expected: dict[str, int]
    body: Any = None
    prepare: Callable[[World], None] | None = field(default=None, compare=False)

    @property
    def id(self) -> str:
        return f"{self.method} {self.url}"


D, R, T = "/api/v2/dags/{dag_id}", "/api/v2/dags/{dag_id}/dagRuns", "/api/v2/dags/{dag_id}"
TR = f"{T}/dagRuns/{{dag_run_id}}/taskInstances"
XR = f"{R}/{{dag_run_id}}/taskInstances/{{task_id}}/xcomEntries"
IE = "/api/v2/importErrors/{import_error_id}"
P, V, C = (
    "/api/v2/pools/{pool_name}",
    "/api/v2/variables/{variable_key}",
    "/api/v2/connections/{connection_id}",
)
B, BI = "/api/v2/backfills", "/api/v2/backfills/{backfill_id}"
ALPHA_POOL = {"name": "p2", "slots": 1, "project": "alpha"}
ALPHA_CONN = {"connection_id": "c2", "conn_type": "http", "project": "alpha"}
CASES = [
    Case("GET", "/api/v2/dags", "/api/v2/dags", signed_in()),
    Case("GET", D, "/api/v2/dags/etl", on_alpha(READ)),
    Case("GET", f"{D}/details", "/api/v2/dags/etl/details", on_alpha(READ)),
    Case("PATCH", D, "/api/v2/dags/etl", on_alpha(RUN), {"is_paused": True}),
    Case("DELETE", D, "/api/v2/dags/etl", on_alpha(WRITE, 204)),
    Case("DELETE", D, "/api/v2/dags/etl?deregister=true", on_alpha(WRITE, 204)),
    Case("GET", f"{D}/impact", "/api/v2/dags/etl/impact", on_alpha(READ)),
    Case("POST", f"{D}/restore", "/api/v2/dags/etl/restore", on_alpha(WRITE), None, _deregister),
    Case("GET", f"{D}/dagVersions", "/api/v2/dags/etl/dagVersions", on_alpha(READ)),
    Case(
        "GET",
        f"{D}/dagVersions/{{version_number}}",
        "/api/v2/dags/etl/dagVersions/1",
        on_alpha(READ),
    ),
    Case("GET", f"{D}/tasks", "/api/v2/dags/etl/tasks", on_alpha(READ)),
    Case("GET", f"{D}/tasks/{{task_id}}", "/api/v2/dags/etl/tasks/load?version=1", on_alpha(READ)),
    Case("GET", R, "/api/v2/dags/etl/dagRuns", on_alpha(READ)),
    Case("GET", R, "/api/v2/dags/~/dagRuns", signed_in()),
    Case("POST", R, "/api/v2/dags/etl/dagRuns", on_alpha(RUN), {"conf": {}}),
    Case("GET", f"{R}/{{dag_run_id}}", RUN_URL, on_alpha(READ)),
    Case("PATCH", f"{R}/{{dag_run_id}}", RUN_URL, on_alpha(RUN), {"note": "checked"}),
    Case("DELETE", f"{R}/{{dag_run_id}}", RUN_URL, on_alpha(WRITE, 204)),
    Case("POST", f"{R}/{{dag_run_id}}/clear", f"{RUN_URL}/clear", on_alpha(RUN), {}),
    Case("GET", XR, f"{TI}/extract/xcomEntries", on_alpha(READ)),
    Case("GET", f"{XR}/{{xcom_key}}", f"{TI}/extract/xcomEntries/return_value", on_alpha(READ)),
    Case(
        "POST", f"{T}/clearTaskInstances", "/api/v2/dags/etl/clearTaskInstances", on_alpha(RUN), {}
    ),
    Case("GET", TR, TI, on_alpha(READ)),
    Case("GET", TR, "/api/v2/dags/~/dagRuns/~/taskInstances", signed_in()),
    Case("GET", f"{TR}/{{task_id}}", f"{TI}/load", on_alpha(READ)),
    Case("PATCH", f"{TR}/{{task_id}}", f"{TI}/load", on_alpha(RUN), {"note": "flaky"}),
    Case(
        "PATCH",
        f"{TR}/{{task_id}}/dry_run",
        f"{TI}/load/dry_run",
        on_alpha(RUN),
        {"new_state": "success"},
    ),
    Case("GET", f"{TR}/{{task_id}}/tries", f"{TI}/load/tries", on_alpha(READ)),
    Case(
        "GET", f"{TR}/{{task_id}}/tries/{{task_try_number}}", f"{TI}/load/tries/1", on_alpha(READ)
    ),
    Case("GET", f"{TR}/{{task_id}}/logs/{{try_number}}", f"{TI}/load/logs/1", on_alpha(READ)),
    Case("GET", f"{R}/{{dag_run_id}}/gantt", f"{RUN_URL}/gantt", on_alpha(READ)),
    Case("GET", f"{R}/{{dag_run_id}}/callbacks", f"{RUN_URL}/callbacks", on_alpha(READ)),
    Case("GET", f"{D}/durations", "/api/v2/dags/etl/durations", on_alpha(READ)),
    Case("GET", "/api/v2/importErrors", "/api/v2/importErrors", signed_in()),
    Case("GET", IE, "/api/v2/importErrors/1", on_alpha(READ), None, _import_error),
    # Reporting is pushing: the outsider may push to beta only.
    Case(
        "PUT",
        "/api/import-errors",
        "/api/import-errors",
        on_alpha(WRITE, outsider=403),
        BROKEN_FILE,
    ),
    Case("DELETE", "/api/import-errors", CLEAR_BROKEN, on_alpha(WRITE, 204, outsider=403)),
    Case("GET", "/api/v2/eventLogs", "/api/v2/eventLogs", signed_in()),
    Case("GET", "/api/v2/eventLogs/{event_log_id}", "/api/v2/eventLogs/{event}", on_alpha(READ)),
    Case("GET", "/api/v2/pools", "/api/v2/pools", signed_in()),
    Case("GET", P, "/api/v2/pools/default_pool", signed_in()),
    Case("GET", P, "/api/v2/pools/p1", on_alpha(READ), None, _r),
    Case("POST", "/api/v2/pools", "/api/v2/pools", superuser(201), {"name": "p2", "slots": 1}),
    Case("POST", "/api/v2/pools", "/api/v2/pools", on_alpha(MANAGE, 201, outsider=403), ALPHA_POOL),
    Case("PATCH", P, "/api/v2/pools/p1", on_alpha(MANAGE), {"slots": 3}, _r),
    Case("DELETE", P, "/api/v2/pools/p1", on_alpha(MANAGE, 204), None, _r),
    Case("GET", "/api/v2/variables", "/api/v2/variables", signed_in()),
    Case("GET", V, "/api/v2/variables/v1", on_alpha(READ), None, _r),
    Case("GET", V, "/api/v2/variables/iv", hidden_from_members(), None, _r),
    Case(
        "POST", "/api/v2/variables", "/api/v2/variables", superuser(201), {"key": "v", "value": 1}
    ),
    Case(
        "POST",
        "/api/v2/variables",
        "/api/v2/variables",
        on_alpha(MANAGE, 201, outsider=403),
        {"key": "v", "value": 1, "project": "alpha"},
    ),
    Case("PATCH", V, "/api/v2/variables/v1", on_alpha(MANAGE), {"key": "v1", "value": "y"}, _r),
    Case("DELETE", V, "/api/v2/variables/v1", on_alpha(MANAGE, 204), None, _r),
    Case("GET", "/api/v2/connections", "/api/v2/connections", signed_in()),
    Case("GET", C, "/api/v2/connections/c1", on_alpha(READ), None, _r),
    Case(
        "POST",
        "/api/v2/connections",
        "/api/v2/connections",
        superuser(201),
        {"connection_id": "c2", "conn_type": "http"},
    ),
    Case(
        "POST",
        "/api/v2/connections",
        "/api/v2/connections",
        on_alpha(MANAGE, 201, outsider=403),
        ALPHA_CONN,
    ),
    Case(
        "PATCH",
        C,
        "/api/v2/connections/c1",
        on_alpha(MANAGE),
        {"connection_id": "c1", "conn_type": "postgres"},
        _r,
    ),
    Case("DELETE", C, "/api/v2/connections/c1", on_alpha(MANAGE, 204), None, _r),
    Case("GET", "/api/v2/assets", "/api/v2/assets", signed_in(), None, _assets),
    Case("GET", "/api/v2/assets/{asset_id}", "/api/v2/assets/1", on_alpha(READ), None, _assets),
    Case("GET", "/api/v2/assets/events", "/api/v2/assets/events", signed_in(), None, _assets),
    # A manual event makes runs of the DAGs scheduled on the asset: run:create in theirs.
    Case(
        "POST",
        "/api/v2/assets/events",
        "/api/v2/assets/events",
        on_alpha(RUN),
        {"asset_id": 1},
        _assets,
    ),
    Case(
        "GET",
        f"{D}/assets/queuedEvents",
        "/api/v2/dags/on_x/assets/queuedEvents",
        on_alpha(READ),
        None,
        _assets,
    ),
    Case("POST", B, B, on_alpha(RUN), BACKFILL, _scheduled),
    Case("POST", f"{B}/dry_run", f"{B}/dry_run", on_alpha(RUN), BACKFILL, _scheduled),
    Case("GET", B, f"{B}?dag_id=etl", on_alpha(READ), None, _backfill),
    Case("GET", BI, f"{B}/1", on_alpha(READ), None, _backfill),
    Case("PUT", f"{BI}/pause", f"{B}/1/pause", on_alpha(RUN), None, _backfill),
    Case("PUT", f"{BI}/unpause", f"{B}/1/unpause", on_alpha(RUN), None, _backfill),
    Case("PUT", f"{BI}/cancel", f"{B}/1/cancel", on_alpha(RUN), None, _backfill),
]


@pytest.fixture
def world(request: pytest.FixtureRequest, db: Database, tmp_path: Path) -> World:
    return world_on(request, db, tmp_path, v2_world)


def _event_of_etl(world: World) -> int:
    events, _ = audit_log.query_audit(world.db, dag_id="etl", action="run.triggered")
    return events[0].id


@pytest.fixture
def worlds(
    request: pytest.FixtureRequest, db_url: str, tmp_path: Path
) -> Iterator[Callable[[], World]]:
    """Fresh worlds on the test's backend: the matrix needs a new one after each change."""
    with fresh_worlds(request, db_url, tmp_path, v2_world) as make:
        yield make


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_authorization_matrix(worlds: Callable[[], World], case: Case) -> None:
    """Each kind of caller in turn; a change that succeeded gets the next one a fresh world."""
    world, fresh, got = worlds(), True, {}
    for who in ACTORS:
        if fresh and case.prepare is not None:
            case.prepare(world)
        url = case.url.replace("{event}", str(_event_of_etl(world)))
        response = world.call(who, case.method, url, case.body)
        got[who] = response.status_code
        fresh = case.method != "GET" and response.status_code < 400
        if fresh:
            world = worlds()
    assert got == case.expected


def test_every_v2_route_is_covered() -> None:
    routes = {
        (method, route.path)
        for module in V2_ROUTERS
        for route in module.router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    assert routes == {(c.method, c.route) for c in CASES if c.route.startswith("/api/v2/")}


SHAPES = [
    ("/api/v2/dags", models.DAGCollectionResponse),
    ("/api/v2/dags/etl", models.DAGResponse),
    ("/api/v2/dags/etl/details", models.DAGDetailsResponse),
    ("/api/v2/dags/etl/dagVersions?include_drafts=true", models.DAGVersionCollectionResponse),
    ("/api/v2/dags/etl/dagVersions/1", models.DagVersionResponse),
    ("/api/v2/dags/etl/tasks", models.TaskCollectionResponse),
    ("/api/v2/dags/etl/tasks/load", models.TaskResponse),
    ("/api/v2/dags/~/dagRuns", models.DAGRunCollectionResponse),
    (RUN_URL, models.DAGRunResponse),
    ("/api/v2/dags/~/dagRuns/~/taskInstances", models.TaskInstanceCollectionResponse),
    (f"{TI}/load", models.TaskInstanceResponse),
    (f"{TI}/load/tries", models.TaskInstanceHistoryCollectionResponse),
    (f"{TI}/load/tries/1", models.TaskInstanceHistoryResponse),
    (f"{TI}/load/logs/1", models.TaskInstancesLogResponse),
    (f"{TI}/~/xcomEntries", models.XComCollectionResponse),
    (f"{TI}/extract/xcomEntries/return_value", models.ResponseGetXcomEntry),
    ("/api/v2/eventLogs", models.EventLogCollectionResponse),
    ("/api/v2/importErrors", models.ImportErrorCollectionResponse),
    ("/api/v2/pools", models.PoolCollectionResponse),
    ("/api/v2/variables", models.VariableCollectionResponse),
    ("/api/v2/connections", models.ConnectionCollectionResponse),
]


@pytest.mark.parametrize(("url", "model"), SHAPES, ids=[u for u, _ in SHAPES])
def test_the_official_client_models_parse_every_shape(world: World, url: str, model: Any) -> None:
    _resources(world)
    response = world.call(ADMIN, "GET", url)
    assert response.status_code == 200, response.text
    assert model.from_json(response.text) is not None


def test_the_official_client_models_parse_the_asset_shapes(world: World) -> None:
    _assets(world)
    created = world.call(ADMIN, "POST", "/api/v2/assets/events", {"asset_id": 1, "extra": {"n": 1}})
    assert created.status_code == 200, created.text
    event = models.AssetEventResponse.from_json(created.text)
    assert event is not None
    assert (event.uri, event.extra) == ("s3://lake/x", {"from_rest_api": True, "n": 1})
    for url, model in (
        ("/api/v2/assets", models.AssetCollectionResponse),
        ("/api/v2/assets/1", models.AssetResponse),
        ("/api/v2/assets/events?asset_id=1", models.AssetEventCollectionResponse),
        ("/api/v2/dags/on_x/assets/queuedEvents", models.QueuedEventCollectionResponse),
    ):
        response = world.call(ADMIN, "GET", url)
        assert response.status_code == 200, response.text
        assert model.from_json(response.text) is not None, url
    asset = models.AssetResponse.from_json(world.call(ADMIN, "GET", "/api/v2/assets/1").text)
    assert asset is not None
    assert [d.dag_id for d in asset.scheduled_dags] == ["on_x"]
    assert [(t.dag_id, t.task_id) for t in asset.producing_tasks] == [("on_x", "t")]
    assert asset.last_asset_event is not None
    assert asset.last_asset_event.id == event.id
    audited, _ = audit_log.query_audit(world.db, action="asset.event_created")
    assert [e.actor for e in audited] == [ADMIN]


def test_asset_requests_that_cannot_be_served_are_4xx(world: World) -> None:
    _assets(world)
    assert world.call(ADMIN, "GET", "/api/v2/assets/99").status_code == 404
    assert world.call(ADMIN, "POST", "/api/v2/assets/events", {"asset_id": 99}).status_code == 404
    assert world.call(ADMIN, "POST", "/api/v2/assets/events", {"uri": "x"}).status_code == 422
    assert world.call(ADMIN, "GET", "/api/v2/assets?order_by=size").status_code == 400
    naive = "/api/v2/assets/events?timestamp_gte=2026-01-01T00:00:00"
    assert world.call(ADMIN, "GET", naive).status_code == 422
    assert world.call(OUTSIDER, "GET", "/api/v2/assets").json()["total_entries"] == 0


def test_lists_page_order_and_filter(world: World) -> None:
    def dag_ids(query: str) -> tuple[list[str], int]:
        body = world.call(ADMIN, "GET", f"/api/v2/dags?{query}").json()
        return [d["dag_id"] for d in body["dags"]], body["total_entries"]

    assert dag_ids("order_by=-dag_id") == (["other", "etl"], 2)
    assert dag_ids("limit=1&offset=1") == (["other"], 2)
    assert dag_ids("limit=0") == ([], 2)
    assert dag_ids("dag_id_pattern=ET") == (["etl"], 1)
    assert dag_ids("paused=true") == ([], 0)
    assert dag_ids("tags=nightly") == ([], 0)
    refused = world.call(ADMIN, "GET", "/api/v2/dags?order_by=fileloc")
    assert refused.status_code == 400
    assert "order_by" in refused.json()["detail"]
    runs_failed = world.call(ADMIN, "GET", "/api/v2/dags/etl/dagRuns?state=failed").json()
    assert [r["dag_run_id"] for r in runs_failed["dag_runs"]] == ["r1"]
    bad_state = world.call(ADMIN, "GET", "/api/v2/dags/etl/dagRuns?state=exploded")
    assert bad_state.status_code == 422
    failed_tis = world.call(ADMIN, "GET", f"{TI}?state=failed").json()["task_instances"]
    assert [t["task_id"] for t in failed_tis] == ["load"]


def test_outsiders_see_nothing_of_other_projects_in_lists(world: World) -> None:
    for url, key in (
        ("/api/v2/dags", "dags"),
        ("/api/v2/dags/~/dagRuns", "dag_runs"),
        ("/api/v2/dags/~/dagRuns/~/taskInstances", "task_instances"),
        ("/api/v2/dags/~/dagRuns/~/taskInstances/~/xcomEntries", "xcom_entries"),
        ("/api/v2/eventLogs", "event_logs"),
    ):
        listed = world.call(OUTSIDER, "GET", url).json()[key]
        assert all(item.get("dag_id") != "etl" for item in listed), url
    events = world.call(OUTSIDER, "GET", "/api/v2/eventLogs").json()["event_logs"]
    assert events
    assert all(e["dag_id"] == "other" for e in events)


@pytest.mark.parametrize(
    "url",
    [
        "/api/v2/dags/nope",
        "/api/v2/dags/etl/dagRuns/nope",
        f"{TI}/nope",
        f"{TI}/load/tries/9",
        f"{TI}/load/logs/9",
        f"{TI}/extract/xcomEntries/nope",
        "/api/v2/dags/etl/dagVersions/7",
        "/api/v2/pools/nope",
        "/api/v2/variables/nope",
        "/api/v2/connections/nope",
        "/api/v2/eventLogs/999999",
    ],
)
def test_unknown_things_are_404_with_detail(world: World, url: str) -> None:
    _resources(world)
    response = world.call(ADMIN, "GET", url)
    assert response.status_code == 404, response.text
    assert isinstance(response.json()["detail"], str)


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("POST", "/api/v2/dags/etl/dagRuns", {"logical_date": "2026-01-01T00:00:00"}),
        ("POST", "/api/v2/dags/etl/dagRuns", {"surprise": 1}),
        ("POST", "/api/v2/dags/etl/dagRuns", {"conf": [1, 2]}),
        ("PATCH", RUN_URL, {"state": "running"}),
        ("PATCH", f"{TI}/load", {"new_state": "queued"}),
        ("PATCH", "/api/v2/dags/etl", {}),
        ("POST", "/api/v2/pools", {"name": "p", "slots": -2}),
        ("POST", "/api/v2/connections", {"connection_id": "a b", "conn_type": "http"}),
        ("GET", "/api/v2/dags?limit=-1", None),
        ("GET", f"{TI}/load/tries/-1", None),
    ],
)
def test_invalid_input_is_422_with_field_locations(
    world: World, method: str, url: str, body: Any
) -> None:
    response = world.call(ADMIN, method, url, body)
    assert response.status_code == 422, response.text
    assert all("loc" in problem for problem in response.json()["detail"])


def test_import_errors_are_reported_listed_and_cleared(world: World) -> None:
    body = {**BROKEN_FILE, "bundle_name": "dags"}
    reported = world.call(EDITOR, "PUT", "/api/import-errors", body)
    assert reported.status_code == 200, reported.text
    again = world.call(EDITOR, "PUT", "/api/import-errors", {**body, "message": "line 4"})
    assert again.json()["import_error_id"] == reported.json()["import_error_id"], "upserted"

    listed = world.call(VIEWER, "GET", "/api/v2/importErrors")
    assert models.ImportErrorCollectionResponse.from_json(listed.text) is not None
    assert listed.json()["total_entries"] == 1
    (error,) = listed.json()["import_errors"]
    assert set(error) == {
        "import_error_id",
        "project",
        "timestamp",
        "filename",
        "bundle_name",
        "stack_trace",
    }
    assert (error["project"], error["filename"], error["bundle_name"], error["stack_trace"]) == (
        "alpha",
        "dags/x.py",
        "dags",
        "line 4",
    )
    one = world.call(VIEWER, "GET", f"/api/v2/importErrors/{error['import_error_id']}")
    assert one.json() == error
    events, _ = audit_log.query_audit(world.db, action="dag.import_error")
    assert [(e.actor, e.target_id) for e in events] == [("editor", "dags/x.py")] * 2

    cleared = world.call(EDITOR, "DELETE", CLEAR_BROKEN)
    assert cleared.status_code == 204
    assert world.call(VIEWER, "GET", "/api/v2/importErrors").json() == {
        "import_errors": [],
        "total_entries": 0,
    }
    gone = world.call(VIEWER, "GET", f"/api/v2/importErrors/{error['import_error_id']}")
    assert gone.status_code == 404
    assert world.call(EDITOR, "DELETE", CLEAR_BROKEN).status_code == 204
    no_project = world.call(
        EDITOR, "PUT", "/api/import-errors", {"filename": "a.py", "message": "m"}
    )
    assert no_project.status_code == 422
    assert "project" in str(no_project.json()["detail"])


def test_import_errors_are_their_projects(world: World) -> None:
    """Listed to the project's members only; one project's file does not clash with another's;
    reporting into a DAG needs the push right in that DAG's project too."""
    assert world.call(EDITOR, "PUT", "/api/import-errors", BROKEN_FILE).status_code == 200
    beta = {**BROKEN_FILE, "project": "beta", "message": "beta's own"}
    assert world.call(OUTSIDER, "PUT", "/api/import-errors", beta).status_code == 200

    def seen(who: str) -> list[tuple[str, str]]:
        listed = world.call(who, "GET", "/api/v2/importErrors").json()["import_errors"]
        return [(e["project"], e["stack_trace"]) for e in listed]

    assert seen(VIEWER) == [("alpha", BROKEN_FILE["message"])]
    assert seen(OUTSIDER) == [("beta", "beta's own")]
    assert len(seen(ADMIN)) == 2
    alphas = world.call(ADMIN, "GET", "/api/v2/importErrors").json()["import_errors"][0]
    hidden = world.call(OUTSIDER, "GET", f"/api/v2/importErrors/{alphas['import_error_id']}")
    assert hidden.status_code == 404
    into_etl = {**beta, "dag_id": "etl"}  # beta's admin naming alpha's DAG
    refused = world.call(OUTSIDER, "PUT", "/api/import-errors", into_etl)
    assert refused.status_code == 403
    assert "alpha" in refused.json()["message"]
    # The outsider's clear of alpha's file is refused and deletes nothing.
    assert world.call(OUTSIDER, "DELETE", CLEAR_BROKEN).status_code == 403
    assert seen(VIEWER) == [("alpha", BROKEN_FILE["message"])]
