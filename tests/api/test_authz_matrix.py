"""Every route x {anonymous, viewer, editor of another project, editor, admin}.

The world: DAG ``etl`` in project alpha (an active version and a draft cloned from it); the
viewer and the editor hold roles in alpha, the outsider is an editor of beta only, the admin
is an instance superuser. A new route without a row here fails ``test_every_route_is_covered``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import tests.api.test_execution_api
import tests.api.test_v2_routes
from tests.api.helpers import ACTORS, World, build_world, make_app, make_spec, make_user

from pinflow.services.commands import _version_deletes as version_deletes
from pinflow.store.db import Database

ANON, VIEWER, OUTSIDER, EDITOR, ADMIN = ACTORS


# The database plays no part: who may call which route is decided in the API's own code; the
# services under it are tested on both backends.
pytestmark = pytest.mark.sqlite_enough


def reads(ok: int = 200) -> dict[str, int]:
    return {ANON: 401, VIEWER: ok, OUTSIDER: 403, EDITOR: ok, ADMIN: ok}


def writes(ok: int) -> dict[str, int]:
    return {ANON: 401, VIEWER: 403, OUTSIDER: 403, EDITOR: ok, ADMIN: ok}


def superuser_only(ok: int = 200) -> dict[str, int]:
    return {ANON: 401, VIEWER: 403, OUTSIDER: 403, EDITOR: 403, ADMIN: ok}


def anyone_signed_in(ok: int = 200) -> dict[str, int]:
    return {ANON: 401, VIEWER: ok, OUTSIDER: ok, EDITOR: ok, ADMIN: ok}


def everyone(status: int = 200) -> dict[str, int]:
    return dict.fromkeys(ACTORS, status)


def _delete_draft(world: World) -> None:
    version_deletes.soft_delete(world.db, world.draft, actor="test")


@dataclass(frozen=True)
class Case:
    method: str
    route: str  # the route's template, as FastAPI knows it
    url: str  # with {active} / {draft} filled in from the world
    expected: dict[str, int]
    body: Any = None
    prepare: Callable[[World], None] | None = field(default=None, compare=False)

    @property
    def id(self) -> str:
        return f"{self.method} {self.url}"


W = "/api/workflows/{workflow_id}"
PUSH = {"spec": make_spec(name="Pushed").model_dump(mode="json"), "mode": "publish"}
CASES = [
    Case("GET", "/api/workflows", "/api/workflows", anyone_signed_in()),
    Case("GET", W, "/api/workflows/{active}", reads()),
    Case("PATCH", W, "/api/workflows/{draft}", writes(200), {"description": "x"}),
    Case("POST", f"{W}/create-version", "/api/workflows/{active}/create-version", writes(201)),
    Case("POST", f"{W}/publish", "/api/workflows/{draft}/publish", writes(200)),
    Case("POST", f"{W}/deprecate", "/api/workflows/{active}/deprecate", writes(200)),
    Case(
        "POST",
        f"{W}/revert-to-draft",
        "/api/workflows/{active}/revert-to-draft",
        writes(200),
        {"confirmationName": "Nightly ETL"},
    ),
    Case(
        "POST", f"{W}/restore", "/api/workflows/{draft}/restore", writes(200), None, _delete_draft
    ),
    Case("DELETE", W, "/api/workflows/{draft}", writes(200)),
    Case("DELETE", W, "/api/workflows/{draft}?permanent=true", writes(200)),
    Case("POST", f"{W}/runs", "/api/workflows/{active}/runs", writes(201), {"conf": {}}),
    Case("POST", f"{W}/set-current", "/api/workflows/{active}/set-current", writes(200)),
    Case("POST", "/api/snapshots", "/api/snapshots", writes(201), PUSH),
    Case("GET", "/api/users", "/api/users", superuser_only()),
    Case("POST", "/api/users", "/api/users", superuser_only(201), {"username": "new-user"}),
    Case(
        "POST",
        "/api/users/{username}/roles",
        "/api/users/viewer/roles",
        superuser_only(),
        {"project": "alpha", "role": "operator"},
    ),
    Case(
        "DELETE",
        "/api/users/{username}/roles/{project}",
        "/api/users/viewer/roles/alpha",
        superuser_only(),
    ),
    Case(
        "DELETE",
        "/api/users/{username}",
        "/api/users/doomed",
        superuser_only(204),
        None,
        lambda world: make_user(world.db, "doomed"),
    ),
    Case("GET", "/api/tokens", "/api/tokens", anyone_signed_in()),
    Case("POST", "/api/tokens", "/api/tokens", anyone_signed_in(201), {"name": "ci"}),
    Case("DELETE", "/api/tokens/{token_id}", "/api/tokens/999", anyone_signed_in(404)),
    Case("GET", "/api/v2/monitor/health", "/api/v2/monitor/health", everyone()),
    Case("GET", "/api/v2/version", "/api/v2/version", everyone()),
    Case("POST", "/auth/token", "/auth/token", everyone(401), {"username": "x", "password": "y"}),
    Case("POST", "/auth/logout", "/auth/logout", anyone_signed_in(204)),
]


@pytest.fixture
def world(db: Database, tmp_path: Path) -> World:
    return build_world(db, tmp_path)


@pytest.mark.parametrize("who", ACTORS)
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_authorization_matrix(world: World, case: Case, who: str) -> None:
    if case.prepare is not None:
        case.prepare(world)
    url = case.url.format(active=world.active, draft=world.draft)
    response = world.call(who, case.method, url, case.body)
    assert response.status_code == case.expected[who], response.text


def test_every_route_is_covered(db: Database, tmp_path: Path) -> None:
    paths = make_app(db, tmp_path).openapi()["paths"]
    routes = {(method.upper(), path) for path, item in paths.items() for method in item}
    v2 = {(c.method, c.route) for c in tests.api.test_v2_routes.CASES}
    # The execution API is not the users' API: its routes take a try token only, and each is
    # checked to refuse every other credential in test_execution_api (no role gets in).
    execution = tests.api.test_execution_api.ROUTES
    assert all(path.startswith("/execution/") for _, path in execution)
    assert routes == {(c.method, c.route) for c in CASES} | v2 | execution


def test_outsider_cannot_see_that_alpha_workflows_exist_in_lists(world: World) -> None:
    listed = world.call(OUTSIDER, "GET", "/api/workflows").json()["workflows"]
    assert {w["project"] for w in listed} == {"beta"}


def test_openapi_and_docs_are_served(world: World) -> None:
    schema = world.client.get("/openapi.json").json()
    for path in ("/api/workflows", "/api/workflows/{workflow_id}/publish", "/api/snapshots"):
        assert path in schema["paths"]
    assert world.client.get("/docs").status_code == 200


def test_health_and_version_are_public(world: World) -> None:
    health = world.client.get("/api/v2/monitor/health")
    assert health.status_code == 200
    assert health.json()["metadatabase"] == {"status": "healthy"}
    assert world.client.get("/api/v2/version").json()["version"]
