"""schemathesis against ``/openapi.json``: no operation answers a 5xx, whatever it is sent.

Every operation of the schema gets a bounded, derandomized set of examples (valid ones,
invalid ones, and valid ones whose path names things that exist, so that requests reach past
the 404s), sent as the admin to a live server over the test database.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from tests.api.helpers import bearer, make_app
from tests.api.test_airflow_client import LiveServer
from tests.api.test_v2_routes import v2_world

from pinflow.store.db import Database

# The database plays no part: fuzzes the HTTP layer's validation; the services under it are tested
# on both backends.
pytestmark = pytest.mark.sqlite_enough

EXAMPLES = 5
EXISTING = {
    "dag_id": "etl",
    "dag_run_id": "r1",
    "task_id": "load",
    "try_number": 1,
    "task_try_number": 1,
    "version_number": 1,
    "xcom_key": "return_value",
    "pool_name": "default_pool",
    "username": "viewer",
    "project": "alpha",
    "event_log_id": 1,
}


def _destroys_last(operation: Any) -> tuple[int, int]:
    """Reads first, deletes last and the deepest first: the named things live long enough."""
    order = {"GET": 0, "POST": 1, "PATCH": 1, "DELETE": 2}.get(operation.method.upper(), 1)
    depth = operation.path.count("/")
    return order, -depth if order == 2 else depth


def _strategy(operation: Any, known: dict[str, Any]) -> Any:
    names = {p.name for p in operation.path_parameters}
    pinned = {k: v for k, v in known.items() if k in names}
    options = [
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),
    ]
    if pinned:
        options.append(operation.as_strategy(GenerationMode.POSITIVE, path_parameters=pinned))
    return st.one_of(options)


def _check(operation: Any, strategy: Any, server: LiveServer, headers: dict[str, str]) -> int:
    """Send the examples; returns how many were sent."""
    sent = []

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        response = case.call(base_url=server.url, headers=headers, timeout=10)
        sent.append(response.status_code)
        case.validate_response(response, checks=[not_a_server_error])

    try:
        run()
    except Exception as exc:  # name the operation in the failure
        raise AssertionError(f"{operation.label}: {exc}") from exc
    return len(sent)


# Bounded by examples, not time (~25 s of CPU): on a loaded machine its wall time went past the
# suite's 120 s default (131 s in a run beside another suite), as the stateful one's does.
@pytest.mark.timeout(600)
def test_no_operation_answers_a_server_error(db: Database, tmp_path: Path) -> None:
    world = v2_world(db, tmp_path)
    app = make_app(db, tmp_path)
    schema = schemathesis.openapi.from_dict(app.openapi())
    known = {**EXISTING, "workflow_id": world.active}
    headers = bearer(app, "admin")
    with LiveServer(app) as server:
        operations = sorted((r.ok() for r in schema.get_all_operations()), key=_destroys_last)
        assert len(operations) > 50
        sent = sum(_check(op, _strategy(op, known), server, headers) for op in operations)
    assert sent >= len(operations) * 2


def test_the_schema_is_valid_openapi(db: Database, tmp_path: Path) -> None:
    schema = schemathesis.openapi.from_dict(make_app(db, tmp_path).openapi())
    errors = [r.err() for r in schema.get_all_operations() if isinstance(r, Err)]
    assert errors == []
