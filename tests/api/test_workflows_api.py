"""Seed 001's lifecycle endpoints over HTTP: exact paths, bodies, status codes and messages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.api.helpers import World, build_world, make_spec, world_on, zip_b64

from pinflow.services.commands import _runs as runs
from pinflow.services.reads import _audit_log as audit_log
from pinflow.store.db import Database

DEPRECATED_BODY = {
    "statusCode": 400,
    "message": "Deprecated workflows cannot start new runs. Create a new version instead.",
}
MISMATCH_BODY = {"message": "Confirmation name does not match the workflow name"}


@pytest.fixture
def world(request: pytest.FixtureRequest, db: Database, tmp_path: Path) -> World:
    return world_on(request, db, tmp_path, build_world)


def _get(world: World, version_id: str) -> Any:
    response = world.call("editor", "GET", f"/api/workflows/{version_id}")
    assert response.status_code == 200, response.text
    return response.json()


# --- reading -----------------------------------------------------------------------------------


def test_list_is_camel_case_with_status_filter_search_and_paging(world: World) -> None:
    response = world.call("admin", "GET", "/api/workflows")
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 3
    assert body["limit"] == 100
    assert body["offset"] == 0
    first = body["workflows"][0]
    for key in ("id", "version", "status", "sourceWorkflowId", "name", "description"):
        assert key in first
    for key in ("errorStrategy", "projectId", "project", "workflowSet", "dagId", "isCurrent"):
        assert key in first
    for key in ("createdAt", "publishedAt", "deprecatedAt", "deletedAt"):
        assert key in first
    drafts = world.call("admin", "GET", "/api/workflows?status=draft").json()["workflows"]
    assert [w["id"] for w in drafts] == [world.draft]
    found = world.call("admin", "GET", "/api/workflows?search=other").json()["workflows"]
    assert [w["dagId"] for w in found] == ["other"]
    page = world.call("admin", "GET", "/api/workflows?limit=1&offset=1").json()
    assert len(page["workflows"]) == 1
    assert page["total"] == 3


def test_list_filters_deprecated_and_shows_deleted_only_on_request(world: World) -> None:
    world.call("editor", "POST", f"/api/workflows/{world.active}/deprecate")
    deprecated = world.call("editor", "GET", "/api/workflows?status=deprecated").json()
    assert [w["id"] for w in deprecated["workflows"]] == [world.active]
    assert world.call("editor", "DELETE", f"/api/workflows/{world.draft}").status_code == 200
    default = world.call("editor", "GET", "/api/workflows").json()["workflows"]
    assert world.draft not in [w["id"] for w in default]
    everything = world.call("editor", "GET", "/api/workflows?includeDeleted=true").json()
    deleted = [w for w in everything["workflows"] if w["id"] == world.draft]
    assert deleted
    assert deleted[0]["deletedAt"] is not None


def test_list_shows_only_the_projects_the_caller_may_read(world: World) -> None:
    mine = world.call("editor", "GET", "/api/workflows").json()
    assert {w["project"] for w in mine["workflows"]} == {"alpha"}
    assert mine["total"] == 2


def test_list_rejects_bad_query_with_locations(world: World) -> None:
    response = world.call("admin", "GET", "/api/workflows?status=bogus&limit=0")
    assert response.status_code == 422
    locations = [e["loc"] for e in response.json()["detail"]]
    assert ["query", "status"] in locations
    assert ["query", "limit"] in locations


def test_get_includes_the_spec_as_trigger_variables_steps_transitions(world: World) -> None:
    body = _get(world, world.active)
    assert body["id"] == world.active
    assert body["status"] == "active"
    assert body["version"] == 1
    assert body["isCurrent"] is True
    assert body["name"] == "Nightly ETL"
    assert body["trigger"]["schedule"] is None
    assert body["variables"] == {}
    assert [s["task_id"] for s in body["steps"]] == ["extract", "load"]
    assert body["transitions"] == [{"from": "extract", "to": "load"}]
    assert body["spec"]["dag_id"] == "etl"


def test_get_unknown_is_404_with_a_message(world: World) -> None:
    response = world.call("admin", "GET", "/api/workflows/nope")
    assert response.status_code == 404
    assert response.json() == {"message": "Workflow version 'nope' was not found."}


# --- editing -----------------------------------------------------------------------------------


def test_patch_edits_a_draft_and_returns_warnings(world: World) -> None:
    tasks = [{"task_id": "extract", "kind": "bash", "bash_command": "echo", "depends_on": ["x"]}]
    response = world.call(
        "editor", "PATCH", f"/api/workflows/{world.draft}", {"description": "v2", "tasks": tasks}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["message"] == "Workflow updated"
    assert body["snapshotCreated"] is True
    assert body["workflow"]["description"] == "v2"
    assert body["warnings"] == [
        {"location": "tasks[0].depends_on[0]", "message": body["warnings"][0]["message"]}
    ]
    assert "x" in body["warnings"][0]["message"]


def test_patch_refuses_a_published_version(world: World) -> None:
    response = world.call("editor", "PATCH", f"/api/workflows/{world.active}", {"name": "New"})
    assert response.status_code == 409
    assert response.json() == {
        "message": "Only draft versions can be edited; this one is active. "
        "Create a new version instead."
    }


def test_patch_with_wrong_types_is_400_with_problem_locations(world: World) -> None:
    response = world.call("editor", "PATCH", f"/api/workflows/{world.draft}", {"tasks": 3})
    assert response.status_code == 400
    assert response.json()["problems"][0]["location"] == "tasks"


def test_patch_body_must_be_an_object(world: World) -> None:
    response = world.call("editor", "PATCH", f"/api/workflows/{world.draft}", [1, 2])
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body"]


# --- the lifecycle -----------------------------------------------------------------------------


def test_create_version_201_with_the_seed_body(world: World) -> None:
    response = world.call("editor", "POST", f"/api/workflows/{world.active}/create-version")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"message", "newWorkflow", "sourceWorkflowId"}
    assert body["message"] == "New draft version created"
    assert body["sourceWorkflowId"] == world.active
    new = body["newWorkflow"]
    assert new["status"] == "draft"
    assert new["sourceWorkflowId"] == world.active
    assert new["version"] == 1
    assert new["id"] not in (world.active, world.draft)
    assert new["name"] == "Nightly ETL"
    assert new["project"] == "alpha"


def test_create_version_of_a_draft_is_refused(world: World) -> None:
    response = world.call("editor", "POST", f"/api/workflows/{world.draft}/create-version")
    assert response.status_code == 409
    assert "edit this draft directly" in response.json()["message"]


def test_publish_says_whether_the_source_is_still_active(world: World) -> None:
    response = world.call("editor", "POST", f"/api/workflows/{world.draft}/publish")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["message"] == "Workflow published"
    assert body["workflow"]["status"] == "active"
    assert body["workflow"]["version"] == 2
    assert body["sourceWorkflowId"] == world.active
    assert body["sourceStillActive"] is True
    assert body["deprecatedPreviousVersionId"] is None


def test_publish_deprecates_the_previous_version_atomically(world: World) -> None:
    response = world.call(
        "editor",
        "POST",
        f"/api/workflows/{world.draft}/publish",
        {"deprecatePreviousVersionId": world.active},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["deprecatedPreviousVersionId"] == world.active
    assert body["sourceStillActive"] is False
    assert _get(world, world.active)["status"] == "deprecated"


def test_publish_with_an_invalid_graph_lists_problems(world: World) -> None:
    bad = [{"task_id": "a", "kind": "bash", "bash_command": "x", "depends_on": ["ghost"]}]
    world.call("editor", "PATCH", f"/api/workflows/{world.draft}", {"tasks": bad})
    response = world.call("editor", "POST", f"/api/workflows/{world.draft}/publish")
    assert response.status_code == 400
    body = response.json()
    assert body["message"].startswith("The DAG cannot be published: 1 problem(s)")
    assert body["problems"][0]["location"] == "tasks[0].depends_on[0]"


def test_deprecate_200_with_the_seed_body(world: World) -> None:
    response = world.call("editor", "POST", f"/api/workflows/{world.active}/deprecate")
    assert response.status_code == 200
    assert response.json() == {"message": "Workflow deprecated", "id": world.active}


def test_deprecate_only_active(world: World) -> None:
    response = world.call("editor", "POST", f"/api/workflows/{world.draft}/deprecate")
    assert response.status_code == 409
    assert response.json() == {
        "message": "Only active workflows can be deprecated; this one is draft."
    }


@pytest.mark.parametrize("body", [None, {}, {"confirmationName": "nightly etl"}])
def test_revert_to_draft_needs_the_exact_name(world: World, body: object) -> None:
    response = world.call("editor", "POST", f"/api/workflows/{world.active}/revert-to-draft", body)
    assert response.status_code == 400
    assert response.json() == MISMATCH_BODY
    assert _get(world, world.active)["status"] == "active"


def test_revert_to_draft_with_the_name(world: World) -> None:
    response = world.call(
        "editor",
        "POST",
        f"/api/workflows/{world.active}/revert-to-draft",
        {"confirmationName": "Nightly ETL"},
    )
    assert response.status_code == 200
    assert response.json()["workflow"]["status"] == "draft"


def test_revert_to_draft_with_a_wrong_type_is_422(world: World) -> None:
    path = f"/api/workflows/{world.active}/revert-to-draft"
    response = world.call("editor", "POST", path, {"confirmationName": 7})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "confirmationName"]


def test_soft_delete_restore_and_purge(world: World) -> None:
    path = f"/api/workflows/{world.draft}"
    assert world.call("editor", "DELETE", path).json() == {
        "message": "Workflow deleted",
        "id": world.draft,
    }
    assert world.call("editor", "DELETE", path).status_code == 409
    restored = world.call("editor", "POST", f"{path}/restore")
    assert restored.status_code == 200
    assert restored.json()["message"] == "Workflow restored"
    assert restored.json()["workflow"]["deletedAt"] is None
    assert world.call("editor", "POST", f"{path}/restore").status_code == 409
    purged = world.call("editor", "DELETE", f"{path}?permanent=true")
    assert purged.status_code == 200
    assert purged.json() == {"message": "Workflow permanently deleted", "id": world.draft}
    assert world.call("editor", "GET", path).status_code == 404


def test_permanent_delete_refused_while_runs_are_queued(world: World) -> None:
    runs.trigger_run(world.db, version_id=world.active, actor="editor")
    response = world.call("editor", "DELETE", f"/api/workflows/{world.active}?permanent=true")
    assert response.status_code == 409
    assert "queued or running run(s)" in response.json()["message"]
    soft = world.call("editor", "DELETE", f"/api/workflows/{world.active}")
    assert soft.status_code == 200


# --- runs and current --------------------------------------------------------------------------


def test_start_run_of_an_active_version(world: World) -> None:
    response = world.call(
        "editor", "POST", f"/api/workflows/{world.active}/runs", {"conf": {"day": "mon"}}
    )
    assert response.status_code == 201, response.text
    run = response.json()["run"]
    assert run["workflowId"] == world.active
    assert run["runType"] == "manual"
    assert run["isTestRun"] is False
    assert run["state"] == "queued"
    assert run["conf"] == {"day": "mon"}
    assert run["triggeredBy"] == "editor"


def test_start_run_of_a_draft_is_a_test_run(world: World) -> None:
    response = world.call("editor", "POST", f"/api/workflows/{world.draft}/runs")
    assert response.status_code == 201
    assert response.json()["run"]["runType"] == "test"
    assert response.json()["run"]["isTestRun"] is True


def test_start_run_of_a_deprecated_version_is_the_seed_400(world: World) -> None:
    world.call("editor", "POST", f"/api/workflows/{world.active}/deprecate")
    response = world.call("editor", "POST", f"/api/workflows/{world.active}/runs")
    assert response.status_code == 400
    assert response.json() == DEPRECATED_BODY


def test_start_run_with_bad_conf_type_is_422(world: World) -> None:
    response = world.call("editor", "POST", f"/api/workflows/{world.active}/runs", {"conf": 3})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "conf"]


def test_set_current_rolls_back(world: World) -> None:
    world.call("editor", "POST", f"/api/workflows/{world.draft}/publish")
    assert _get(world, world.draft)["isCurrent"] is True
    response = world.call("editor", "POST", f"/api/workflows/{world.active}/set-current")
    assert response.status_code == 200
    assert response.json()["message"] == "Current version set"
    assert response.json()["workflow"]["isCurrent"] is True
    refused = world.call("editor", "POST", f"/api/workflows/{world.draft}/deprecate")
    assert refused.status_code == 200
    draft_current = world.call("editor", "POST", f"/api/workflows/{world.draft}/set-current")
    assert draft_current.status_code == 409


def test_lifecycle_actions_are_audited_with_the_caller(world: World) -> None:
    world.call("editor", "POST", f"/api/workflows/{world.active}/create-version")
    world.call("editor", "POST", f"/api/workflows/{world.active}/deprecate")
    events, _ = audit_log.query_audit(world.db, actor="editor")
    actions = {e.action for e in events}
    assert {"workflow.version_created", "workflow.deprecated"} <= actions
    created = next(e for e in events if e.action == "workflow.version_created")
    assert created.meta["sourceWorkflowId"] == world.active


# --- push --------------------------------------------------------------------------------------


def test_push_is_201_then_200_by_digest(world: World) -> None:
    spec = make_spec("fresh").model_dump(mode="json")
    body = {"spec": spec, "bundle": zip_b64(), "mode": "publish"}
    first = world.call("editor", "POST", "/api/snapshots", body)
    assert first.status_code == 201, first.text
    created = first.json()
    assert created["noop"] is False
    assert created["version"] == 1
    assert len(created["digest"]) == 64
    assert created["workflow"]["status"] == "active"
    again = world.call("editor", "POST", "/api/snapshots", body)
    assert again.status_code == 200
    assert again.json()["noop"] is True
    assert again.json()["digest"] == created["digest"]
    assert again.json()["versionId"] == created["versionId"]


def test_push_says_what_changed_since_the_current_version(world: World) -> None:
    spec = make_spec("fresh").model_dump(mode="json")
    files = {"fresh.py": "x = 1\n", "helpers.py": "y = 1\n"}
    first = world.call("editor", "POST", "/api/snapshots", {"spec": spec, "bundle": zip_b64(files)})
    assert first.json()["changed"] == []  # a first version
    files = {"fresh.py": "x = 1\n", "helpers.py": "y = 2\n", "data/new.csv": "a\n"}
    body = {"spec": spec, "bundle": zip_b64(files)}
    second = world.call("editor", "POST", "/api/snapshots", body)
    assert (second.status_code, second.json()["version"]) == (201, 2)
    assert second.json()["changed"] == ["data/new.csv added", "helpers.py changed"]
    again = world.call("editor", "POST", "/api/snapshots", body)
    assert (again.json()["noop"], again.json()["changed"]) == (True, [])


def test_push_draft_and_deprecate_previous(world: World) -> None:
    spec = make_spec(name="Nightly ETL v2").model_dump(mode="json")
    drafted = world.call("editor", "POST", "/api/snapshots", {"spec": spec, "mode": "draft"})
    assert drafted.status_code == 201
    assert drafted.json()["workflow"]["status"] == "draft"
    spec["description"] = "third"
    body = {"spec": spec, "mode": "publish", "deprecatePrevious": True}
    published = world.call("editor", "POST", "/api/snapshots", body)
    assert published.status_code == 201
    assert published.json()["deprecatedPreviousVersionId"] == world.active
    assert published.json()["version"] == 2


@pytest.mark.parametrize(
    ("bundle", "loc"),
    [("***", ["body", "bundle"]), ("aGVsbG8=", ["body", "bundle"]), (5, ["body", "bundle"])],
)
def test_push_rejects_bad_bundles(world: World, bundle: object, loc: list[str]) -> None:
    body = {"spec": make_spec("x").model_dump(mode="json"), "bundle": bundle}
    response = world.call("editor", "POST", "/api/snapshots", body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc


def test_push_rejects_a_bad_spec_with_locations(world: World) -> None:
    body = {"spec": {"dag_id": "x", "tasks": [{"task_id": "a", "retries": "many"}]}}
    response = world.call("editor", "POST", "/api/snapshots", body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "spec", "tasks", 0, "retries"]


def test_push_publish_of_an_invalid_graph_is_400(world: World) -> None:
    spec = make_spec("cyclic").model_dump(mode="json")
    spec["tasks"][0]["depends_on"] = ["load"]
    response = world.call("editor", "POST", "/api/snapshots", {"spec": spec})
    assert response.status_code == 400
    assert "cycle" in response.json()["message"]


def test_push_into_another_projects_dag_is_403(world: World) -> None:
    spec = make_spec("other", project="alpha").model_dump(mode="json")
    response = world.call("editor", "POST", "/api/snapshots", {"spec": spec})
    assert response.status_code == 403
    assert "beta" in response.json()["message"]
