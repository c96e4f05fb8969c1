"""``GET /api/v2/dags/{dag_id}/tasks`` and ``…/tasks/{task_id}`` (issue #15 point 7): the
tasks of the current (or a published) version in Airflow 3's shape, defaults applied."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from airflow_client.client import models
from tests.api.helpers import bearer, client_for, make_app, make_user

from pinflow.services.commands._push import register_snapshot
from pinflow.spec.models import DagSpec
from pinflow.store.db import Database

V1 = {
    "dag_id": "etl",
    "owner": "data-team",
    "trigger": {"schedule": "@daily", "start_date": "2026-01-01T00:00:00+00:00"},
    "params": {"region": {"type": "integer", "default": 3}},
    "default_args": {"retries": 2, "retry_delay": 90061.5, "pool": "warehouse"},
    "tasks": [
        {"task_id": "extract", "kind": "python", "callable": "dags.etl:extract", "doc": "Pull"},
        {
            "task_id": "square",
            "kind": "python",
            "callable": "dags.etl:square",
            "expand": {"x": {"task_id": "extract"}},
            "retries": 0,
            "retry_exponential_backoff": True,
            "execution_timeout": 60,
        },
        {
            "task_id": "load",
            "kind": "bash",
            "bash_command": "echo load",
            "depends_on": ["extract", "square"],
            "trigger_rule": "all_done",
            "queue": "loaders",
        },
        {"task_id": "audit", "kind": "bash", "bash_command": "true", "depends_on": ["extract"]},
    ],
}


@pytest.fixture
def api(db: Database, tmp_path: Path) -> Any:
    make_user(db, "admin", superuser=True)
    register_snapshot(db, DagSpec.model_validate(V1), actor="ci")
    app = make_app(db, tmp_path)
    client, headers = client_for(app), bearer(app, "admin")

    def get(url: str, status: int = 200) -> Any:
        response = client.get(url, headers=headers)
        assert response.status_code == status, response.text
        return response.json()

    return get


def test_the_list_has_every_task_with_the_dags_defaults_applied(api: Any) -> None:
    body = api("/api/v2/dags/etl/tasks")
    assert body["total_entries"] == 4
    assert [t["task_id"] for t in body["tasks"]] == ["audit", "extract", "load", "square"]
    by_id = {t["task_id"]: t for t in body["tasks"]}
    extract = by_id["extract"]
    assert extract["downstream_task_ids"] == ["audit", "load", "square"]
    assert (extract["retries"], extract["pool"], extract["owner"]) == (2, "warehouse", "data-team")
    assert extract["retry_delay"] == {
        "__type": "TimeDelta",
        "days": 1,
        "seconds": 3661,
        "microseconds": 500000,
    }
    assert extract["operator_name"] == "@task"
    assert extract["doc_md"] == "Pull"
    assert extract["is_mapped"] is False
    assert extract["start_date"].startswith("2026-01-01T00:00:00")
    assert extract["params"] == {
        "region": {
            "type": "integer",
            "default": 3,
            "required": False,
            "description": None,
            "enum": None,
            "minimum": None,
            "maximum": None,
        }
    }
    square = by_id["square"]
    assert (square["is_mapped"], square["retries"], square["retry_exponential_backoff"]) == (
        True,
        0,
        2.0,
    )
    assert square["execution_timeout"]["seconds"] == 60
    load = by_id["load"]
    assert (load["operator_name"], load["trigger_rule"], load["queue"]) == (
        "BashOperator",
        "all_done",
        "loaders",
    )
    assert load["downstream_task_ids"] == []
    assert models.TaskCollectionResponse.from_dict(body) is not None


def test_order_by_and_a_clear_400_for_an_unknown_field(api: Any) -> None:
    def order(query: str) -> list[str]:
        return [t["task_id"] for t in api(f"/api/v2/dags/etl/tasks?{query}")["tasks"]]

    assert order("order_by=-task_id") == ["square", "load", "extract", "audit"]
    assert order("order_by=retries&order_by=-task_id") == ["square", "load", "extract", "audit"]
    assert order("order_by=retries") == ["square", "audit", "extract", "load"]
    assert order("order_by=-operator_name") == ["audit", "load", "extract", "square"]
    refused = api("/api/v2/dags/etl/tasks?order_by=color", 400)
    assert "order_by" in refused["detail"]
    assert "task_id" in refused["detail"]


def test_one_task_and_the_versions(db: Database, api: Any) -> None:
    assert api("/api/v2/dags/etl/tasks/load")["version_number"] == 1
    v2 = {**V1, "tasks": [*V1["tasks"], {"task_id": "report", "kind": "bash", "bash_command": ":"}]}
    register_snapshot(db, DagSpec.model_validate(v2), actor="ci")
    assert api("/api/v2/dags/etl/tasks")["total_entries"] == 5
    assert api("/api/v2/dags/etl/tasks/report")["version_number"] == 2
    assert api("/api/v2/dags/etl/tasks?version=1")["total_entries"] == 4
    missing = api("/api/v2/dags/etl/tasks/report?version=1", 404)
    assert missing["detail"] == (
        "Task 'report' was not found in DAG 'etl'; its tasks are listed at /api/v2/dags/etl/tasks."
    )
    assert "Version 9" in api("/api/v2/dags/etl/tasks?version=9", 404)["detail"]
    assert "nope" in api("/api/v2/dags/nope/tasks", 404)["detail"]
    api("/api/v2/dags/etl/tasks?version=-1", 422)
