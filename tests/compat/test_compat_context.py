"""Airflow's task context, XComs by key, Jinja templates, Variables, Connections and task
callbacks: DAG files pushed unmodified and run by the real scheduler and local executor
(real task processes, each reading over its own channel), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tests.api.helpers import bearer, client_for, make_app, make_user
from tests.compat.context_dag_files import CALLBACKS, CONTEXT_AND_XCOM, SECRETS
from tests.scheduler.helpers import (
    DRAIN_TIMEOUT,
    push_dag,
    run_state,
    task_instances,
    tries_of,
)

from pinflow.lifecycle.permissions import Principal
from pinflow.scheduler.loop import Scheduler
from pinflow.services.commands import Cipher, resources
from pinflow.services.commands._runs import trigger_run
from pinflow.services.xcom_values import value_of
from pinflow.settings import Settings
from pinflow.store.db import Database

LOGICAL = datetime(2024, 3, 1, tzinfo=UTC)


def _resources(db: Database, settings: Settings) -> None:
    cipher = Cipher(resources.load_or_create_key(settings.home))
    admin = Principal("admin", is_superuser=True)
    resources.set_variable(db, cipher, admin, "bucket", {"value": "s3://b"}, create=True)
    resources.set_variable(db, cipher, admin, "limits", {"value": '{"rows": 5}'}, create=True)
    connection = {"conn_type": "postgres", "host": "db.internal", "login": "etl"}
    resources.set_connection(db, cipher, admin, "warehouse", connection, create=True)


def _run(db: Database, scheduler: Scheduler, dag_id: str) -> str:
    trigger_run(db, dag_id=dag_id, run_id="r1", logical_date=LOGICAL, actor="tester")
    scheduler.wake()
    assert scheduler.drain(DRAIN_TIMEOUT), "the run did not finish in time"
    return run_state(db, dag_id, "r1")


def _logs(db: Database, tis: dict[str, Any]) -> str:
    """The logs of the tries that failed (what a failing assertion shows)."""
    failed = [ti for ti in tis.values() if ti.state != "success"]
    texts = [Path(t.log_path).read_text() for ti in failed for t in tries_of(db, ti.id)]
    return "\n".join(texts)


def test_context_xcoms_by_key_templates_variables_and_connections(
    db: Database, settings: Settings, scheduler: Scheduler, tmp_path: Path
) -> None:
    _resources(db, settings)
    push_dag(db, tmp_path / "dags", "context_xcom", CONTEXT_AND_XCOM)
    state = _run(db, scheduler, "context_xcom")
    tis = task_instances(db, "context_xcom", "r1")
    assert state == "success", _logs(db, tis)
    run_pk = tis["push"].run_pk
    assert value_of(db, run_pk, "push") == {
        "ds": "2024-03-01",
        "ds_nodash": "20240301",
        "ts": "2024-03-01T00:00:00+00:00",
        "run_id": "r1",
        "dag_run": "r1",
        "task": "push",
        "dag": "context_xcom",
        "logical_date": "2024-03-01T00:00:00+00:00",
        "week_later": "2024-03-08",
        "params": {"greeting": "hi"},
        "try_number": 1,
    }
    assert value_of(db, run_pk, "push", key="rows") == 42
    assert value_of(db, run_pk, "pull") == {
        "rows": 42,
        "whole": "2024-03-01",
        "many": [42, 42],
        "missing": "none",
        "templates": {
            "week_later": "2024-03-08",
            "greeting": "hi",
            "bucket": "s3://b",
            "host": "db.internal",
        },
        "same_ti": "pull",
        "in_kwargs": ["conn", "dag_run", "ds", "macros", "var"],
        "bucket": "s3://b",
        "limits": {"rows": 5},
        "fallback": "fallback",
        "host": "db.internal",
        "login": "etl",
    }
    assert value_of(db, run_pk, "echo") == "42-20240301-hi-s3://b"
    assert value_of(db, run_pk, "loop") == "2024-03-03"
    assert value_of(db, run_pk, "flow") == ["2024-03-01/flow", 42]
    _the_api_shows_the_rendered_fields(db, tmp_path / "api")


def _the_api_shows_the_rendered_fields(db: Database, home: Path) -> None:
    """Airflow's ``GET .../taskInstances/{task_id}`` field ``rendered_fields``, and each try's."""
    app = make_app(db, home)
    make_user(db, "admin", superuser=True)
    base = "/api/v2/dags/context_xcom/dagRuns/r1/taskInstances"
    with client_for(app) as client:

        def rendered(path: str) -> Any:
            response = client.get(f"{base}/{path}", headers=bearer(app, "admin"))
            assert response.status_code == 200, response.text
            return response.json()["rendered_fields"]

        assert rendered("echo") == {
            "bash_command": "echo 42-20240301-hi-$WHO",
            "env": {"WHO": "s3://b"},
        }
        assert rendered("echo/tries/1") == rendered("echo")
        assert rendered("loop")["bash_command"] == (
            "echo 2024-03-01; echo 2024-03-02; echo 2024-03-03; "
        )
        assert rendered("pull") == {
            "templates_dict": {
                "week_later": "2024-03-08",
                "greeting": "hi",
                "bucket": "s3://b",
                "host": "db.internal",
            }
        }
        assert rendered("flow") == {"op_kwargs": {"day": "2024-03-01/flow"}}
        assert rendered("push") == {}  # nothing templated: nothing rendered


def test_task_callbacks_fire_in_the_task_process_with_the_context(
    db: Database, scheduler: Scheduler, tmp_path: Path
) -> None:
    push_dag(db, tmp_path / "dags", "callbacks", CALLBACKS)
    assert _run(db, scheduler, "callbacks") == "failed"
    tis = task_instances(db, "callbacks", "r1")
    assert {k: ti.state for k, ti in tis.items()} == {
        "flaky": "success",
        "doomed": "failed",
        "skipper": "skipped",
    }

    def log(task_id: str, try_number: int) -> str:
        [found] = [t for t in tries_of(db, tis[task_id].id) if t.try_number == try_number]
        assert found.log_path is not None
        return Path(found.log_path).read_text()

    assert "CALLBACK retry flaky try 1 ValueError('first try fails')" in log("flaky", 1)
    assert "CALLBACK failure" not in log("flaky", 1)
    assert "CALLBACK success flaky try 2 None" in log("flaky", 2)
    assert "CALLBACK failure doomed try 1 RuntimeError('always fails')" in log("doomed", 1)
    skipper = log("skipper", 1)
    assert "CALLBACK execute skipper try 1 None" in skipper
    assert "CALLBACK skipped skipper try 1 None" in skipper


PASSWORD = "pg-s3cret/pw"
TOKEN = "tok-abc123"
API_KEY = "key-in-extra"


def test_secrets_are_masked_in_rendered_fields_logs_and_errors(
    db: Database, settings: Settings, scheduler: Scheduler, tmp_path: Path
) -> None:
    """Airflow's secrets masker: what a task read of a connection's password, its extra's
    sensitive fields and a sensitive variable is ``***`` in what is kept and shown."""
    _resources(db, settings)
    cipher = Cipher(resources.load_or_create_key(settings.home))
    admin = Principal("admin", is_superuser=True)
    resources.set_variable(db, cipher, admin, "api_token", {"value": TOKEN}, create=True)
    vault = {"conn_type": "postgres", "host": "db.internal", "login": "etl"}
    vault.update(password=PASSWORD, extra=json.dumps({"api_key": API_KEY, "region": "eu"}))
    resources.set_connection(db, cipher, admin, "vault", vault, create=True)
    push_dag(db, tmp_path / "dags", "masked_secrets", SECRETS)
    assert _run(db, scheduler, "masked_secrets") == "failed"  # ``doomed`` fails, on purpose
    tis = task_instances(db, "masked_secrets", "r1")
    assert {k: ti.state for k, ti in tis.items()} == {
        "templated": "success",
        "leak": "success",
        "doomed": "failed",
        "kwargs": "success",
    }, _logs(db, tis)
    logs = {task_id: _try_log(db, ti) for task_id, ti in tis.items()}
    for task_id, text in logs.items():
        for secret in (PASSWORD, TOKEN, API_KEY, quote(PASSWORD, safe="")):
            assert secret not in text, f"{secret} in the log of {task_id}:\n{text}"
    assert "pw=*** token=***" in logs["templated"]
    assert "env=***" in logs["templated"]  # the command's stderr, piped through the masker
    assert "the password is ***" in logs["leak"]
    assert "the uri is postgres://etl:***@db.internal" in logs["leak"]
    assert "the api key is *** in {'api_key': '***', 'region': 'eu'}" in logs["leak"]
    assert "the token is ***" in logs["leak"]
    assert "ValueError: cannot log in with '***'" in logs["doomed"]  # the traceback
    assert "given ***" in logs["kwargs"]
    (doomed,) = tries_of(db, tis["doomed"].id)
    assert doomed.error == "ValueError: cannot log in with '***'"
    _the_api_shows_masked_rendered_fields(db, tmp_path / "api")


def _try_log(db: Database, ti: Any) -> str:
    (found,) = tries_of(db, ti.id)
    assert found.log_path is not None
    return Path(found.log_path).read_text()


def _the_api_shows_masked_rendered_fields(db: Database, home: Path) -> None:
    app = make_app(db, home)
    make_user(db, "admin", superuser=True)
    base = "/api/v2/dags/masked_secrets/dagRuns/r1/taskInstances"
    with client_for(app) as client:
        shown = {}
        for task_id in ("templated", "kwargs"):
            response = client.get(f"{base}/{task_id}", headers=bearer(app, "admin"))
            assert response.status_code == 200, response.text
            assert PASSWORD not in response.text
            assert TOKEN not in response.text
            shown[task_id] = response.json()["rendered_fields"]
    assert shown["templated"] == {
        "bash_command": "echo pw=*** token=***; echo env=$PGPASSWORD >&2; echo done",
        "env": {"PGPASSWORD": "***", "WHO": "s3://b"},
    }
    assert shown["kwargs"] == {"op_kwargs": {"pw": "***"}}
