"""Per-project pools, variables and connections, and per-project import errors (ADR 0017).

The matrix (``test_authz_matrix``, ``test_v2_routes``) checks who gets which status; these
check what each caller then sees and what the store holds, on both databases.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.api.helpers import (
    ADMIN,
    EDITOR,
    OUTSIDER,
    PROJECT_ADMIN,
    VIEWER,
    World,
    bearer,
    build_world,
    make_spec,
    world_on,
)
from tests.api.test_execution_api import Worker, claim, publish_and_trigger

from pinflow.lifecycle.permissions import Role
from pinflow.services.commands import _users as users
from pinflow.store.db import Database
from pinflow.store.tables import Pool, Project, Variable
from pinflow.testing import make_spec as bash_spec
from pinflow.ui.session import COOKIE

POOLS, VARIABLES, CONNECTIONS = "/api/v2/pools", "/api/v2/variables", "/api/v2/connections"


@pytest.fixture
def world(request: pytest.FixtureRequest, db: Database, tmp_path: Path) -> World:
    return world_on(request, db, tmp_path, build_world)


def _created(world: World, who: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = world.call(who, "POST", path, body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _names(world: World, who: str, path: str, key: str, field: str) -> set[str]:
    response = world.call(who, "GET", path)
    assert response.status_code == 200, response.text
    return {item[field] for item in response.json()[key]}


def test_a_project_admin_manages_its_projects_resources(world: World) -> None:
    pool = _created(
        world, PROJECT_ADMIN, POOLS, {"name": "etl_pool", "slots": 2, "project": "alpha"}
    )
    assert (pool["name"], pool["project"], pool["slots"]) == ("etl_pool", "alpha", 2)
    variable = {"key": "bucket", "value": "s3://a", "project": "alpha"}
    assert _created(world, PROJECT_ADMIN, VARIABLES, variable)["project"] == "alpha"
    connection = {
        "connection_id": "wh",
        "conn_type": "postgres",
        "password": "pw",
        "project": "alpha",
    }
    made = _created(world, PROJECT_ADMIN, CONNECTIONS, connection)
    assert (made["project"], made["password"], made["has_password"]) == ("alpha", None, True)

    patched = world.call(PROJECT_ADMIN, "PATCH", "/api/v2/pools/etl_pool", {"slots": 5})
    assert patched.json()["slots"] == 5
    with world.db.read() as s:
        row = s.query(Pool, Project.name).join(Project, Project.id == Pool.project_id).one()
        assert (row[0].name, row[0].slots, row[1]) == ("etl_pool", 5, "alpha")
    # Its members read them (the values as the API masks them); they may not change them.
    assert world.call(VIEWER, "GET", "/api/v2/variables/bucket").json()["value"] == "s3://a"
    refused = world.call(EDITOR, "PATCH", "/api/v2/pools/etl_pool", {"slots": 9})
    assert refused.status_code == 403
    assert "alpha" in refused.json()["detail"]
    assert world.call(PROJECT_ADMIN, "DELETE", "/api/v2/variables/bucket").status_code == 204
    with world.db.read() as s:
        assert s.query(Variable).count() == 0


def test_lists_show_only_what_the_caller_may_see(world: World) -> None:
    _created(world, ADMIN, VARIABLES, {"key": "instance_wide", "value": "x"})
    _created(world, PROJECT_ADMIN, VARIABLES, {"key": "alphas", "value": "a", "project": "alpha"})
    _created(world, OUTSIDER, VARIABLES, {"key": "betas", "value": "b", "project": "beta"})
    _created(world, ADMIN, POOLS, {"name": "shared", "slots": 1})
    _created(world, OUTSIDER, POOLS, {"name": "beta_pool", "slots": 1, "project": "beta"})

    def keys(who: str) -> set[str]:
        return _names(world, who, VARIABLES, "variables", "key")

    assert keys(ADMIN) == {"instance_wide", "alphas", "betas"}
    assert keys(VIEWER) == {"alphas"}
    assert keys(OUTSIDER) == {"betas"}
    total = world.call(VIEWER, "GET", VARIABLES).json()["total_entries"]
    assert total == 1, "the total counts what the caller sees, not what exists"
    pools = _names(world, VIEWER, POOLS, "pools", "name")
    assert pools == {"default_pool", "shared"}
    assert _names(world, OUTSIDER, POOLS, "pools", "name") == {
        "default_pool",
        "shared",
        "beta_pool",
    }
    hidden = world.call(VIEWER, "GET", "/api/v2/pools/beta_pool")
    missing = world.call(VIEWER, "GET", "/api/v2/pools/nope")
    assert hidden.status_code == missing.status_code == 404
    assert hidden.json()["detail"] == missing.json()["detail"].replace("nope", "beta_pool")


def test_creating_needs_admin_rights_where_it_goes(world: World) -> None:
    instance_wide = world.call(PROJECT_ADMIN, "POST", VARIABLES, {"key": "k", "value": "v"})
    assert instance_wide.status_code == 403
    assert "project" in instance_wide.json()["detail"]
    into_beta = {"key": "k", "value": "v", "project": "beta"}
    assert world.call(PROJECT_ADMIN, "POST", VARIABLES, into_beta).status_code == 403
    with world.db.read() as s:
        assert s.query(Variable).count() == 0


def test_a_resource_cannot_move_between_projects(world: World) -> None:
    _created(world, PROJECT_ADMIN, VARIABLES, {"key": "k", "value": "v", "project": "alpha"})
    moved = world.call(
        ADMIN, "PATCH", "/api/v2/variables/k", {"key": "k", "value": "v", "project": "beta"}
    )
    assert moved.status_code == 400, moved.text
    assert "cannot be changed" in moved.json()["detail"]
    assert world.call(ADMIN, "GET", "/api/v2/variables/k").json()["project"] == "alpha"


def test_a_dag_may_not_use_another_projects_pool(world: World) -> None:
    _created(world, OUTSIDER, POOLS, {"name": "beta_pool", "slots": 1, "project": "beta"})
    _created(world, ADMIN, POOLS, {"name": "shared", "slots": 1})
    _created(world, PROJECT_ADMIN, POOLS, {"name": "alpha_pool", "slots": 1, "project": "alpha"})
    spec = make_spec(dag_id="pooled").model_dump(mode="json")

    def push(pool: str) -> Any:
        spec["default_args"] = {"pool": pool}
        return world.call(EDITOR, "POST", "/api/snapshots", {"spec": spec, "mode": "draft"})

    refused = push("beta_pool")
    assert refused.status_code == 400, refused.text
    assert "another project" in refused.json()["message"]
    assert world.call(EDITOR, "GET", "/api/v2/dags/pooled").status_code == 404, "nothing written"
    assert push("shared").status_code == 201
    assert push("alpha_pool").status_code == 201


def test_the_import_error_page_lists_the_viewers_projects_only(world: World) -> None:
    for who, project in ((EDITOR, "alpha"), (OUTSIDER, "beta")):
        body = {"project": project, "filename": f"dags/{project}.py", "message": "SyntaxError"}
        assert world.call(who, "PUT", "/api/import-errors", body).status_code == 200

    def page_of(who: str) -> str:
        token = bearer(world.app, who)["Authorization"].removeprefix("Bearer ")
        response = world.client.get("/ui/workflows", headers={"Cookie": f"{COOKIE}={token}"})
        assert response.status_code == 200, response.text
        return response.text

    viewer = page_of(VIEWER)
    assert "dags/alpha.py" in viewer
    assert "dags/beta.py" not in viewer
    outsider = page_of(OUTSIDER)
    assert "dags/beta.py" in outsider
    assert "dags/alpha.py" not in outsider
    both = page_of(ADMIN)
    assert "dags/alpha.py" in both
    assert "dags/beta.py" in both


@pytest.fixture
def worker(db: Database, tmp_path: Path) -> Worker:
    return Worker(db, tmp_path)


def _set(worker: Worker, path: str, body: dict[str, Any]) -> None:
    response = worker.client.post(path, json=body, headers=bearer(worker.app, "admin"))
    assert response.status_code == 201, response.text


def test_a_try_reads_instance_wide_and_its_own_projects_resources_only(worker: Worker) -> None:
    users.grant_role(worker.db, "admin", "alpha", Role.ADMIN, actor="test")
    _set(worker, VARIABLES, {"key": "shared", "value": "s"})
    _set(worker, VARIABLES, {"key": "mine", "value": "m", "project": "alpha"})
    _set(worker, VARIABLES, {"key": "theirs", "value": "t", "project": "beta"})
    _set(worker, CONNECTIONS, {"connection_id": "their_db", "conn_type": "pg", "project": "beta"})
    _set(worker, CONNECTIONS, {"connection_id": "my_db", "conn_type": "pg", "project": "alpha"})
    run = publish_and_trigger(worker.db, bash_spec("etl", {"extract": []}, project="alpha"))
    token = worker.token(claim(worker.db, run))

    def got(path: str) -> tuple[int, Any]:
        response = worker.call(token, "GET", path)
        return response.status_code, response.json()

    assert got("/variables/shared") == (200, {"key": "shared", "value": "s"})
    assert got("/variables/mine") == (200, {"key": "mine", "value": "m"})
    assert got("/connections/my_db")[0] == 200
    theirs, missing = got("/variables/theirs"), got("/variables/nope")
    assert theirs[0] == missing[0] == 404
    assert str(theirs[1]).replace("theirs", "nope") == str(missing[1])
    assert got("/connections/their_db")[0] == 404


@pytest.mark.parametrize("project", ["", "a b", "../x", "x" * 251])
def test_a_bad_project_name_is_a_422_and_creates_nothing(world: World, project: str) -> None:
    body = {"key": "k", "value": "v", "project": project}
    response = world.call(ADMIN, "POST", VARIABLES, body)
    assert response.status_code == 422, response.text
    assert "project" in str(response.json()["detail"])
    with world.db.read() as s:
        assert s.query(Variable).count() == 0
        assert s.query(Project).filter(Project.name == project).count() == 0
