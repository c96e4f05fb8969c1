"""``/api/dags/{dag_id}/retirement-policy`` (+ ``/preview``) and ``/api/dags/{dag_id}/lineage``
over HTTP (ADR 0031): shapes, bad input as a 4xx that says what to send, and who may do what
(the whole matrix is ``test_authz_matrix``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from tests.api.helpers import (
    EDITOR,
    OPERATOR,
    OUTSIDER,
    VIEWER,
    World,
    build_world,
    make_spec,
    publish,
)

from pinflow.services.commands import retirement, versions
from pinflow.services.commands._runs import trigger_run
from pinflow.store.db import Database
from pinflow.testing import run_until_idle, scripted

POLICY = "/api/dags/etl/retirement-policy"


@pytest.fixture
def world(db: Database, tmp_path: Path) -> World:
    return build_world(db, tmp_path)


def test_a_dag_without_a_policy_says_so(world: World) -> None:
    response = world.call(VIEWER, "GET", POLICY)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "keepActive": None,
        "deprecatePreviousOnPublish": False,
        "purgeDeprecatedAfter": None,
        "dagId": "etl",
        "isSet": False,
        "deprecatePreviousSince": None,
        "updatedAt": None,
        "updatedBy": None,
    }


def test_an_editor_sets_it_and_a_viewer_reads_it(world: World) -> None:
    body = {"keepActive": 1, "deprecatePreviousOnPublish": True, "purgeDeprecatedAfter": "30d"}
    assert world.call(VIEWER, "PUT", POLICY, body).status_code == 403
    assert world.call(OPERATOR, "PUT", POLICY, body).status_code == 403
    response = world.call(EDITOR, "PUT", POLICY, body)
    assert response.status_code == 200, response.text
    got = world.call(VIEWER, "GET", POLICY).json()
    assert {k: got[k] for k in body} == body
    assert (got["isSet"], got["updatedBy"]) == (True, EDITOR)
    assert got["deprecatePreviousSince"] is not None
    assert world.call(OUTSIDER, "GET", POLICY).status_code == 404


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"keepActive": 0}, "keepActive: Input should be greater than or equal to 1"),
        ({"purgeDeprecatedAfter": "30 days"}, "write a whole number and a unit"),
        ({"purgeDeprecatedAfter": "9999d"}, "longer than ten years"),
        ({"keepActive": "many"}, "keepActive: Input should be a valid integer"),
    ],
)
def test_bad_policies_are_422_saying_what_to_send(world: World, body: Any, says: str) -> None:
    response = world.call(EDITOR, "PUT", POLICY, body)
    assert response.status_code == 422, response.text
    assert says in response.json()["message"]


def test_unknown_dag_is_404(world: World) -> None:
    response = world.call("admin", "GET", "/api/dags/nope/retirement-policy")
    assert response.status_code == 404
    assert response.json()["message"] == "DAG 'nope' was not found."


def test_preview_lists_what_is_next_and_changes_nothing(world: World) -> None:
    v2 = publish(world.db, make_spec(name="Nightly ETL v2"))
    world.call(EDITOR, "PUT", POLICY, {"keepActive": 1, "purgeDeprecatedAfter": "7d"})
    response = world.call(VIEWER, "GET", POLICY + "/preview")
    assert response.status_code == 200, response.text
    body = response.json()
    (action,) = body["actions"]
    assert action["kind"] == "deprecate"
    assert action["workflowId"] == world.active
    assert action["status"] == "due"
    assert action["rule"] == "KeepActive"
    assert "v2" in action["reason"]
    assert body["policy"]["keepActive"] == 1
    status = world.call(VIEWER, "GET", f"/api/workflows/{world.active}").json()
    assert status["status"] == "active"
    assert len(retirement.apply_due(world.db)) == 1
    after = world.call(VIEWER, "GET", POLICY + "/preview").json()["actions"]
    assert [(a["kind"], a["workflowId"], a["status"]) for a in after] == [
        ("purge", world.active, "scheduled")
    ]
    assert world.call(VIEWER, "GET", f"/api/workflows/{v2}").json()["status"] == "active"


def test_lineage_is_the_chain_with_events_and_runs(world: World) -> None:
    trigger_run(world.db, version_id=world.active, run_id="r1", actor="operator")
    run_until_idle(world.db, scripted({}))
    versions.publish(world.db, world.draft, actor="editor")
    versions.deprecate(world.db, world.active, actor="editor")
    response = world.call(VIEWER, "GET", "/api/dags/etl/lineage")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["currentVersionId"] == world.draft
    first, second = body["versions"]
    assert (first["id"], first["status"], first["version"]) == (world.active, "deprecated", 1)
    assert (second["sourceWorkflowId"], second["status"], second["isCurrent"]) == (
        world.active,
        "active",
        True,
    )
    assert first["runs"]["total"] == first["runs"]["succeeded"] == 1
    assert first["runs"]["successRate"] == 1.0
    assert second["runs"]["total"] == 0
    assert [(e["action"], e["actor"]) for e in first["events"]] == [
        ("workflow.version_created", "ci"),
        ("workflow.published", "ci"),
        ("workflow.deprecated", "editor"),
    ]
    assert [e["action"] for e in second["events"]] == [
        "workflow.version_created",
        "workflow.published",
    ]
    assert world.call(OUTSIDER, "GET", "/api/dags/etl/lineage").status_code == 404


def test_lineage_costs_the_same_queries_for_two_or_ten_versions(world: World) -> None:
    """Built with SQL over versions, runs and the audit log: no query per version."""

    def statements() -> int:
        seen: list[str] = []
        listener = lambda *args: seen.append(args[2])  # noqa: E731
        event.listen(world.db.engine, "before_cursor_execute", listener)
        try:
            assert world.call(VIEWER, "GET", "/api/dags/etl/lineage").status_code == 200
        finally:
            event.remove(world.db.engine, "before_cursor_execute", listener)
        return len(seen)

    few = statements()
    for i in range(8):
        v = publish(world.db, make_spec(name=f"Nightly ETL {i}"))
        trigger_run(world.db, version_id=v, run_id=f"r{i}", actor="operator")
    run_until_idle(world.db, scripted({}))
    body = world.call(VIEWER, "GET", "/api/dags/etl/lineage").json()
    assert len(body["versions"]) == 10
    assert statements() == few
