"""Every OpenAPI operation x the seven kinds of caller (``helpers.ACTORS``), on both databases.

The world: DAG ``etl`` in project alpha (an active version and a draft cloned from it), DAG
``other`` in beta; a viewer, an operator, an editor and an admin of alpha; an admin of beta
only (the outsider: other project's user); an instance superuser; and no one. The users' API
is here, ``/api/v2`` in ``test_v2_routes.CASES``, the execution API (try tokens only) below:
an operation of ``app.openapi()`` without an expectation fails
``test_every_operation_has_an_expectation``, and the IDOR sweep
(``test_the_other_projects_user_gets_404_on_every_id_bearing_route``) fails when a route that
names one of alpha's objects would tell the outsider anything but "not found".
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import tests.api.test_execution_api
import tests.api.test_v2_routes
from tests.api.helpers import (
    ACTORS,
    ANON,
    OUTSIDER,
    World,
    build_world,
    fresh_worlds,
    make_app,
    make_spec,
    make_user,
    world_on,
)
from tests.api.matrix import (
    MANAGE,
    READ,
    RUN,
    WRITE,
    admins_anywhere,
    everyone,
    on_alpha,
    signed_in,
    superuser,
)

from pinflow.services.commands import _version_deletes as version_deletes
from pinflow.store.db import Database


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
D = "/api/dags/{dag_id}"
PUSH = {"spec": make_spec(name="Pushed").model_dump(mode="json"), "mode": "publish"}
ROLE = {"project": "alpha", "role": "operator"}
CASES = [
    Case("GET", "/api/workflows", "/api/workflows", signed_in()),
    Case("GET", W, "/api/workflows/{active}", on_alpha(READ)),
    Case("GET", f"{W}/stats", "/api/workflows/{active}/stats", on_alpha(READ)),
    Case(
        "GET",
        f"{W}/stats",
        "/api/workflows/{active}/stats?compareTo={draft}",
        on_alpha(READ),
    ),
    Case("PATCH", W, "/api/workflows/{draft}", on_alpha(WRITE), {"description": "x"}),
    Case("GET", f"{D}/retirement-policy", "/api/dags/etl/retirement-policy", on_alpha(READ)),
    Case(
        "PUT",
        f"{D}/retirement-policy",
        "/api/dags/etl/retirement-policy",
        on_alpha(WRITE),
        {"keepActive": 2, "purgeDeprecatedAfter": "30d"},
    ),
    Case(
        "GET",
        f"{D}/retirement-policy/preview",
        "/api/dags/etl/retirement-policy/preview",
        on_alpha(READ),
    ),
    Case("GET", f"{D}/lineage", "/api/dags/etl/lineage", on_alpha(READ)),
    Case(
        "POST",
        f"{W}/create-version",
        "/api/workflows/{active}/create-version",
        on_alpha(WRITE, 201),
    ),
    Case("POST", f"{W}/publish", "/api/workflows/{draft}/publish", on_alpha(WRITE)),
    Case("POST", f"{W}/deprecate", "/api/workflows/{active}/deprecate", on_alpha(WRITE)),
    Case(
        "POST",
        f"{W}/revert-to-draft",
        "/api/workflows/{active}/revert-to-draft",
        on_alpha(WRITE),
        {"confirmationName": "Nightly ETL"},
    ),
    Case(
        "POST",
        f"{W}/restore",
        "/api/workflows/{draft}/restore",
        on_alpha(WRITE),
        None,
        _delete_draft,
    ),
    Case("DELETE", W, "/api/workflows/{draft}", on_alpha(WRITE)),
    Case("DELETE", W, "/api/workflows/{draft}?permanent=true", on_alpha(WRITE)),
    Case("POST", f"{W}/runs", "/api/workflows/{active}/runs", on_alpha(RUN, 201), {"conf": {}}),
    Case(
        "POST",
        f"{W}/canary",
        "/api/workflows/{draft}/canary",
        on_alpha(RUN),
        {"dryRun": True},
    ),
    # No canary yet: readers are told so (404), the others are refused first.
    Case("GET", f"{W}/canary", "/api/workflows/{draft}/canary", on_alpha(READ, 404)),
    Case("POST", f"{W}/set-current", "/api/workflows/{active}/set-current", on_alpha(WRITE)),
    # Not an id-bearing route: pushing into alpha is refused (403) to the outsider.
    Case("POST", "/api/snapshots", "/api/snapshots", on_alpha(WRITE, 201, outsider=403), PUSH),
    Case("GET", "/api/users", "/api/users", admins_anywhere()),
    Case("POST", "/api/users", "/api/users", superuser(201), {"username": "new-user"}),
    Case(
        "POST",
        "/api/users/{username}/roles",
        "/api/users/viewer/roles",
        on_alpha(MANAGE, outsider=403),
        ROLE,
    ),
    Case(
        "DELETE",
        "/api/users/{username}/roles/{project}",
        "/api/users/viewer/roles/alpha",
        on_alpha(MANAGE, outsider=403),
    ),
    Case(
        "DELETE",
        "/api/users/{username}",
        "/api/users/doomed",
        superuser(204),
        None,
        lambda world: make_user(world.db, "doomed"),
    ),
    Case("GET", "/api/tokens", "/api/tokens", signed_in()),
    Case("POST", "/api/tokens", "/api/tokens", signed_in(201), {"name": "ci"}),
    Case("DELETE", "/api/tokens/{token_id}", "/api/tokens/999", signed_in(404)),
    Case("GET", "/api/v2/monitor/health", "/api/v2/monitor/health", everyone()),
    Case("GET", "/api/v2/version", "/api/v2/version", everyone()),
    Case("POST", "/auth/token", "/auth/token", everyone(401), {"username": "x", "password": "y"}),
    Case("POST", "/auth/logout", "/auth/logout", signed_in(204)),
]
# The execution API is not the users' API: no user credential gets in, whatever the role
# (test_execution_api checks each route against every other kind of bad token too).
_NAMES = {"ti_id": 1, "digest": "0" * 64, "dag_id": "etl", "run_id": "r1", "task_id": "load"}
_NAMES |= {"key": "v1", "conn_id": "c1"}
EXECUTION = [
    Case(method, route.split("?")[0], route.format(**_NAMES), everyone(401), body)
    for method, route, body in tests.api.test_execution_api.CALLS
]

# Routes with a path parameter where the outsider may get something else than a 404, and why.
NOT_OBJECTS_OF_ALPHA = {
    ("DELETE", "/api/tokens/{token_id}"): "the caller's own tokens: another's is a 404 anyway",
    ("POST", "/api/users/{username}/roles"): "user management: the project is in the body",
    ("DELETE", "/api/users/{username}/roles/{project}"): "user management, by project name",
    ("DELETE", "/api/users/{username}"): "user management: users belong to no project",
    ("GET", "/api/v2/dags/{dag_id}/dagRuns"): "`~` lists across the caller's projects",
    ("GET", "/api/v2/dags/{dag_id}/dagRuns/{dag_run_id}/taskInstances"): "`~` as above",
}


@pytest.fixture
def world(request: pytest.FixtureRequest, db: Database, tmp_path: Path) -> World:
    return world_on(request, db, tmp_path, build_world)


@pytest.fixture
def worlds(
    request: pytest.FixtureRequest, db_url: str, tmp_path: Path
) -> Iterator[Callable[[], World]]:
    with fresh_worlds(request, db_url, tmp_path, build_world) as make:
        yield make


def _changed(case: Case, status: int) -> bool:
    """Whether the call may have changed the world: a write that succeeded, or any call to
    ``/auth`` (a failed login is counted: the next callers would be throttled)."""
    return case.method != "GET" and (status < 400 or case.route.startswith("/auth/"))


@pytest.mark.parametrize("case", CASES + EXECUTION, ids=[c.id for c in CASES + EXECUTION])
def test_authorization_matrix(worlds: Callable[[], World], case: Case) -> None:
    """Each kind of caller in turn, each on a world as the case prepares it: a call that
    changed something gets the next caller a fresh world."""
    world, fresh, got, texts = worlds(), True, {}, {}
    for who in ACTORS:
        if fresh and case.prepare is not None:
            case.prepare(world)
        url = case.url.format(active=world.active, draft=world.draft)
        response = world.call(who, case.method, url, case.body)
        got[who], texts[who] = response.status_code, response.text[:300]
        fresh = _changed(case, response.status_code)
        if fresh:
            world = worlds()
    wrong = {who: (got[who], texts[who]) for who in ACTORS if got[who] != case.expected[who]}
    assert got == case.expected, f"unexpected answers: {wrong}"


def _all_cases() -> list[Any]:
    return [*CASES, *EXECUTION, *tests.api.test_v2_routes.CASES]


@pytest.mark.sqlite_enough
def test_every_operation_has_an_expectation(db: Database, tmp_path: Path) -> None:
    """100% of the OpenAPI operations, each with an expected status for all seven callers."""
    paths = make_app(db, tmp_path).openapi()["paths"]
    operations = {(method.upper(), path) for path, item in paths.items() for method in item}
    covered = {(c.method, c.route) for c in _all_cases()}
    assert operations - covered == set(), "operations without an expectation"
    assert covered - operations == set(), "expectations for operations that do not exist"
    for case in _all_cases():
        assert set(case.expected) == set(ACTORS), case.id


@pytest.mark.sqlite_enough
def test_the_other_projects_user_gets_404_on_every_id_bearing_route() -> None:
    """The IDOR sweep: on each route whose path names an object (alpha's, in the matrix's
    world), the other project's user is told "not found", as for a missing one. The matrix
    test then checks that the route answers so."""
    checked = 0
    for case in [*CASES, *tests.api.test_v2_routes.CASES]:
        key = (case.method, case.route)
        if "{" not in case.route or key in NOT_OBJECTS_OF_ALPHA:
            continue
        if case.url.startswith("/api/v2/pools/default_pool") or "/variables/iv" in case.url:
            continue  # instance-wide, not alpha's
        if case.expected[ANON] == 401:
            assert case.expected[OUTSIDER] == 404, case.id
            checked += 1
    assert checked >= 40


def test_outsider_cannot_see_that_alpha_workflows_exist_in_lists(world: World) -> None:
    listed = world.call(OUTSIDER, "GET", "/api/workflows").json()["workflows"]
    assert {w["project"] for w in listed} == {"beta"}


def test_the_outsiders_404_says_what_a_missing_objects_does(world: World) -> None:
    def said(url: str, key: str) -> str:
        response = world.call(OUTSIDER, "GET", url)
        assert response.status_code == 404
        return str(response.json()[key])

    hidden = said(f"/api/workflows/{world.active}", "message")
    assert hidden == said("/api/workflows/nope", "message").replace("nope", world.active)
    dag = said("/api/v2/dags/etl", "detail")
    assert dag == said("/api/v2/dags/nope", "detail").replace("nope", "etl")


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
