"""Issue #15 point 6 through the API: ``PINFLOW_DAGS_ARE_PAUSED_AT_CREATION`` on a push."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.api.helpers import bearer, client_for, make_app, make_spec, make_user

from pinflow.lifecycle.permissions import Role
from pinflow.settings import Settings
from pinflow.store.db import Database


def test_the_setting_reads_airflows_name_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert Settings(home=tmp_path).dags_are_paused_at_creation is False
    monkeypatch.setenv("PINFLOW_DAGS_ARE_PAUSED_AT_CREATION", "true")
    assert Settings(home=tmp_path).dags_are_paused_at_creation is True


def test_a_pushed_new_dag_starts_paused_and_a_new_version_keeps_the_flag(
    db: Database, tmp_path: Path
) -> None:
    make_user(db, "editor", {"alpha": Role.EDITOR})
    app = make_app(db, tmp_path, dags_are_paused_at_creation=True)
    client, headers = client_for(app), bearer(app, "editor")
    spec = make_spec()
    pushed = client.post(
        "/api/snapshots", json={"spec": spec.model_dump(mode="json")}, headers=headers
    )
    assert pushed.status_code == 201, pushed.text
    assert pushed.json()["dagCreated"] is True
    dag = client.get("/api/v2/dags/etl", headers=headers).json()
    assert dag["is_paused"] is True
    details = client.get("/api/v2/dags/etl/details", headers=headers).json()
    assert details["is_paused_upon_creation"] is None  # the instance decided, not the DAG

    # A manual trigger is accepted on a paused DAG (its run waits until unpaused), as in Airflow.
    trigger = client.post("/api/v2/dags/etl/dagRuns", json={"logical_date": None}, headers=headers)
    assert trigger.status_code == 200, trigger.text

    unpause = client.patch("/api/v2/dags/etl", json={"is_paused": False}, headers=headers)
    assert unpause.status_code == 200, unpause.text
    v2 = spec.model_copy(update={"description": "second version", "paused_at_creation": True})
    again = client.post(
        "/api/snapshots", json={"spec": v2.model_dump(mode="json")}, headers=headers
    )
    assert again.status_code == 201, again.text
    assert again.json()["dagCreated"] is False
    assert client.get("/api/v2/dags/etl", headers=headers).json()["is_paused"] is False
    details = client.get("/api/v2/dags/etl/details", headers=headers).json()
    assert details["is_paused_upon_creation"] is True

    make_user(db, "admin", superuser=True)
    events = client.get(
        "/api/v2/eventLogs", params={"event": "dag.registered"}, headers=bearer(app, "admin")
    )
    assert events.status_code == 200, events.text
    (created,) = events.json()["event_logs"]
    assert json.loads(created["extra"]) == {"project": "alpha", "paused": True}
