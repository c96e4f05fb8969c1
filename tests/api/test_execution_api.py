"""The execution API (``/execution/v1``, ADR 0012): a remote worker's try, end to end, through
the ASGI app on the test database (SQLite and PostgreSQL).

Tries are claimed as a remote executor would (``claim_scheduled``: ``queued``), and their
tokens issued with the app's ``TryTokens``; the worker's side is played by HTTP calls.
"""

from __future__ import annotations

import base64
import io
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from tests.api.helpers import bearer, client_for, make_app, make_user

from pinflow.api.routes.execution import DIGEST_HEADER, REFRESHED_TOKEN
from pinflow.errors import AuthenticationError
from pinflow.lifecycle.states import TaskState
from pinflow.runtime.contract import TaskRequest
from pinflow.services.commands._clear import clear_task_instances
from pinflow.services.commands._push import register_snapshot
from pinflow.services.commands._runs import trigger_run
from pinflow.services.engine import TryClaims, TryTokens, claims_of, try_tokens
from pinflow.services.engine._claims import ClaimedTask, claim_scheduled
from pinflow.services.engine._sweep import schedule_pass
from pinflow.services.reads._views import RunView
from pinflow.spec.canonical import snapshot_digest
from pinflow.spec.models import DagSpec
from pinflow.store.db import Database
from pinflow.store.tables import TaskInstance, TaskInstanceTry, XCom
from pinflow.testing import make_spec

V1 = "/execution/v1"
ADMIN = "admin"


def bundle_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("dags/etl.py", "print('hi')\n")
    return buffer.getvalue()


class Worker:
    """One instance with an app; the remote worker's calls, with a try's token."""

    def __init__(self, db: Database, home: Path) -> None:
        self.db = db
        self.app: FastAPI = make_app(db, home)
        self.client: httpx.Client = client_for(self.app)
        make_user(db, ADMIN, superuser=True)

    @property
    def tokens(self) -> TryTokens:
        tokens: TryTokens = self.app.state.try_tokens
        return tokens

    def token(self, claimed: ClaimedTask) -> str:
        return self.tokens.issue(claims_of(claimed))

    def call(self, token: str | None, method: str, path: str, body: Any = None) -> httpx.Response:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        return self.client.request(method, f"{V1}{path}", headers=headers, json=body)

    def start(self, token: str, ti_id: int) -> httpx.Response:
        return self.call(token, "PATCH", f"/task-instances/{ti_id}/run", START)


START = {"hostname": "worker-1", "pid": 4242}


def publish_and_trigger(db: Database, spec: DagSpec, bundle: bytes = b"") -> RunView:
    register_snapshot(db, spec, bundle, actor="ci")
    run = trigger_run(db, dag_id=spec.dag_id, actor="ci")
    schedule_pass(db)
    return run


def claim(db: Database, run: RunView) -> ClaimedTask:
    claimed = claim_scheduled(db, limit=1, run_pk=run.id)
    assert len(claimed) == 1
    return claimed[0]


def states(db: Database, run_pk: int) -> dict[str, str]:
    with db.read() as s:
        rows = s.scalars(select(TaskInstance).where(TaskInstance.run_pk == run_pk))
        return {ti.task_id: ti.state for ti in rows}


def ti_row(db: Database, ti_id: int) -> dict[str, Any]:
    with db.read() as s:
        ti = s.get(TaskInstance, ti_id)
        assert ti is not None
        tries = s.scalars(select(TaskInstanceTry).where(TaskInstanceTry.ti_id == ti_id)).all()
        return {
            "state": ti.state,
            "try_number": ti.try_number,
            "tries": sorted((t.try_number, t.state, t.hostname, t.pid) for t in tries),
        }


@pytest.fixture
def worker(db: Database, tmp_path: Path) -> Worker:
    return Worker(db, tmp_path)


ETL = {"extract": [], "load": ["extract"]}


def test_a_try_runs_end_to_end_and_its_run_advances(worker: Worker) -> None:
    db = worker.db
    run = publish_and_trigger(db, make_spec("etl", ETL), bundle_zip())
    extract = claim(db, run)
    token = worker.token(extract)

    started = worker.start(token, extract.ti_id)
    assert started.status_code == 200, started.text
    request = TaskRequest.from_dict(started.json())
    assert (request.ti_id, request.try_number, request.task_id) == (extract.ti_id, 1, "extract")
    assert request.bash_command == "true"
    assert request.bundle_uri == f"http://testserver{V1}/snapshots/{run.snapshot_digest}"
    assert ti_row(db, extract.ti_id)["tries"] == [(1, "running", "worker-1", 4242)]
    token = started.headers[REFRESHED_TOKEN]
    assert worker.tokens.verify(token) == claims_of(extract)

    beat = worker.call(token, "PUT", f"/task-instances/{extract.ti_id}/heartbeat")
    assert beat.status_code == 204, beat.text
    assert worker.tokens.verify(beat.headers[REFRESHED_TOKEN]).ti_id == extract.ti_id
    for seq, chunk in ((0, "extracting\n"), (1, "done\n"), (0, "extracting\n")):  # one again
        body = {"content": chunk, "seq": seq}
        logged = worker.call(token, "POST", f"/task-instances/{extract.ti_id}/logs", body)
        assert logged.status_code == 204, logged.text
    assert not Path(request.log_path).exists()  # kept in the database: every API server has it

    body = {"state": "success", "value": {"rows": 3}, "log": "bye\n", "log_seq": 2}
    done = worker.call(token, "PATCH", f"/task-instances/{extract.ti_id}/state", body)
    assert done.status_code == 200, done.text
    assert done.json() == {"state": "success"}
    assert states(db, run.id) == {"extract": "success", "load": "scheduled"}

    url = f"/xcoms/etl/{run.run_id}/extract"
    assert worker.call(token, "GET", url).json() == {"key": "return_value", "value": {"rows": 3}}
    log = worker.client.get(
        f"/api/v2/dags/etl/dagRuns/{run.run_id}/taskInstances/extract/logs/1",
        headers={**bearer(worker.app, ADMIN), "Accept": "text/plain"},
    )
    assert log.status_code == 200, log.text
    assert log.text == "extracting\ndone\nbye\n"


def test_the_snapshot_is_served_with_a_digest_the_worker_can_verify(worker: Worker) -> None:
    bundle = bundle_zip()
    run = publish_and_trigger(worker.db, make_spec("etl", ETL), bundle)
    token = worker.token(claim(worker.db, run))
    got = worker.call(token, "GET", f"/snapshots/{run.snapshot_digest}")
    assert got.status_code == 200, got.text
    assert got.headers[DIGEST_HEADER] == run.snapshot_digest
    body = got.json()
    assert base64.b64decode(body["bundle"]) == bundle
    assert snapshot_digest(DagSpec.model_validate(body["spec"]), bundle) == run.snapshot_digest


def test_a_failure_retries_while_tries_remain_then_fails(worker: Worker) -> None:
    db = worker.db
    spec = make_spec("flaky", {"a": []}, default_args={"retries": 1, "retry_delay": 0})
    run = publish_and_trigger(db, spec)
    for try_number, expected in ((1, "up_for_retry"), (2, "failed")):
        schedule_pass(db)
        claimed = claim(db, run)
        assert claimed.try_number == try_number
        token = worker.token(claimed)
        assert worker.start(token, claimed.ti_id).status_code == 200
        body = {"state": "failed", "error": "ValueError: bad row 3", "exit_code": 1}
        done = worker.call(token, "PATCH", f"/task-instances/{claimed.ti_id}/state", body)
        assert done.status_code == 200, done.text
        assert done.json() == {"state": expected}
    with db.read() as s:
        errors = s.scalars(select(TaskInstanceTry.error).order_by(TaskInstanceTry.try_number))
        assert list(errors) == ["ValueError: bad row 3"] * 2


def test_a_worker_reports_an_interrupted_try_and_it_is_retried_without_spending_a_retry(
    worker: Worker,
) -> None:
    db = worker.db
    spec = make_spec("stopped", {"a": []}, default_args={"retries": 0, "retry_delay": 300})
    run = publish_and_trigger(db, spec)
    for try_number, interrupted, expected in ((1, True, "scheduled"), (2, False, "failed")):
        schedule_pass(db)
        claimed = claim(db, run)
        assert claimed.try_number == try_number
        token = worker.token(claimed)
        assert worker.start(token, claimed.ti_id).status_code == 200
        body = {"state": "failed", "error": "worker stopped", "interrupted": interrupted}
        done = worker.call(token, "PATCH", f"/task-instances/{claimed.ti_id}/state", body)
        assert done.status_code == 200, done.text
        # Interrupted: due at once (not after 300 s) with a try granted; then a real failure.
        assert done.json()["state"] in (expected, "up_for_retry" if interrupted else "failed")
    with db.read() as s:
        tries = s.execute(
            select(TaskInstanceTry.state, TaskInstanceTry.interrupted).order_by(
                TaskInstanceTry.try_number
            )
        ).all()
    assert [tuple(t) for t in tries] == [("up_for_retry", True), ("failed", False)]


def test_a_worker_reports_a_sensor_that_is_not_done_and_it_waits_with_no_slot(
    worker: Worker,
) -> None:
    db = worker.db
    sensor = {"kind": "python", "callable": "m:f", "bash_command": None}
    fields = {"a": {**sensor, "sensor": {"poke_interval": 60, "mode": "reschedule"}}}
    run = publish_and_trigger(db, make_spec("sensing", {"a": []}, task_fields=fields))
    claimed = claim(db, run)
    token = worker.token(claimed)
    started = worker.start(token, claimed.ti_id)
    assert started.json()["sensor"]["mode"] == "reschedule"  # the request carries the spec
    body = {"state": "failed", "sensor": "reschedule"}
    done = worker.call(token, "PATCH", f"/task-instances/{claimed.ti_id}/state", body)
    assert done.json() == {"state": "up_for_reschedule"}
    assert ti_row(db, claimed.ti_id)["tries"] == [(1, "up_for_reschedule", "worker-1", 4242)]


def test_an_inline_value_above_the_limit_fails_the_try_and_stores_nothing(
    db: Database, tmp_path: Path
) -> None:
    worker = Worker(db, tmp_path)
    worker.app.state.settings = worker.app.state.settings.model_copy(update={"xcom_db_limit": 16})
    run = publish_and_trigger(db, make_spec("etl", ETL))
    claimed = claim(db, run)
    token = worker.token(claimed)
    assert worker.start(token, claimed.ti_id).status_code == 200
    body = {"state": "success", "value": "x" * 100}
    done = worker.call(token, "PATCH", f"/task-instances/{claimed.ti_id}/state", body)
    assert done.json() == {"state": "failed"}
    with db.read() as s:
        assert s.scalars(select(XCom)).all() == []
        error = s.scalars(select(TaskInstanceTry.error)).one()
    assert error is not None
    assert "16" in error


# --- authentication and scope -------------------------------------------------------------------


# Every route of the execution API, with a body it accepts: each is checked here to refuse
# anything but a valid try token (test_authz_matrix counts on it for the ``/execution`` routes).
CALLS: list[tuple[str, str, Any]] = [
    ("PATCH", f"{V1}/task-instances/{{ti_id}}/run", START),
    ("PUT", f"{V1}/task-instances/{{ti_id}}/heartbeat", None),
    ("PATCH", f"{V1}/task-instances/{{ti_id}}/state", {"state": "success"}),
    ("POST", f"{V1}/task-instances/{{ti_id}}/logs", {"content": "x"}),
    ("PUT", f"{V1}/task-instances/{{ti_id}}/rtif", {"bash_command": "echo 1"}),
    ("GET", f"{V1}/snapshots/{{digest}}", None),
    ("GET", f"{V1}/xcoms/{{dag_id}}/{{run_id}}/{{task_id}}", None),
    ("POST", f"{V1}/xcoms/{{dag_id}}/{{run_id}}/{{task_id}}?key=rows", {"value": 1}),
    ("GET", f"{V1}/variables/{{key}}", None),
    ("GET", f"{V1}/connections/{{conn_id}}", None),
]
ROUTES = {(method, route.split("?")[0]) for method, route, _ in CALLS}


def _expired(worker: Worker, claimed: ClaimedTask) -> str:
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    return worker.tokens.issue(claims_of(claimed), now=long_ago)


@pytest.mark.parametrize("kind", ["none", "garbage", "expired", "user_jwt", "other_instance"])
def test_anything_but_a_valid_try_token_is_401_and_writes_nothing(
    worker: Worker, kind: str
) -> None:
    db = worker.db
    run = publish_and_trigger(db, make_spec("etl", ETL))
    claimed = claim(db, run)
    token = {
        "none": None,
        "garbage": "not-a-token",
        "expired": _expired(worker, claimed),
        "user_jwt": bearer(worker.app, ADMIN)["Authorization"].removeprefix("Bearer "),
        "other_instance": TryTokens("f" * 64).issue(claims_of(claimed)),
    }[kind]
    before = ti_row(db, claimed.ti_id)
    names = {
        "ti_id": claimed.ti_id,
        "digest": run.snapshot_digest,
        "dag_id": "etl",
        "run_id": run.run_id,
        "task_id": "extract",
        "key": "bucket",
        "conn_id": "warehouse",
    }
    calls = [(m, route.removeprefix(V1).format(**names), body) for m, route, body in CALLS]
    for method, path, body in calls:
        response = worker.call(token, method, path, body)
        assert response.status_code == 401, (method, path, response.text)
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert ti_row(db, claimed.ti_id) == before


def test_a_try_token_is_not_a_user_token(worker: Worker) -> None:
    run = publish_and_trigger(worker.db, make_spec("etl", ETL))
    token = worker.token(claim(worker.db, run))
    response = worker.client.get("/api/v2/dags", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_another_tries_token_is_403_on_this_task_instance(worker: Worker) -> None:
    db = worker.db
    run = publish_and_trigger(db, make_spec("pair", {"a": [], "b": []}))
    claimed = claim_scheduled(db, limit=2, run_pk=run.id)
    first, second = sorted(claimed, key=lambda c: c.task_id)
    token = worker.token(second)
    before = ti_row(db, first.ti_id)
    for method, path, body in [
        ("PATCH", f"/task-instances/{first.ti_id}/run", START),
        ("PUT", f"/task-instances/{first.ti_id}/heartbeat", None),
        ("PATCH", f"/task-instances/{first.ti_id}/state", {"state": "success"}),
        ("POST", f"/task-instances/{first.ti_id}/logs", {"content": "x"}),
    ]:
        response = worker.call(token, method, path, body)
        assert response.status_code == 403, (method, path, response.text)
    assert ti_row(db, first.ti_id) == before


def test_another_runs_snapshot_and_xcoms_are_403(worker: Worker) -> None:
    db = worker.db
    theirs = publish_and_trigger(db, make_spec("other", {"x": []}, name="Other"), bundle_zip())
    ours = publish_and_trigger(db, make_spec("etl", ETL))
    token = worker.token(claim(db, ours))
    snapshot = worker.call(token, "GET", f"/snapshots/{theirs.snapshot_digest}")
    assert snapshot.status_code == 403, snapshot.text
    for dag_id, run_id in [("other", theirs.run_id), ("etl", "another-run")]:
        xcom = worker.call(token, "GET", f"/xcoms/{dag_id}/{run_id}/x")
        assert xcom.status_code == 403, xcom.text


def test_a_missing_xcom_of_the_own_run_is_404(worker: Worker) -> None:
    run = publish_and_trigger(worker.db, make_spec("etl", ETL))
    token = worker.token(claim(worker.db, run))
    missing = worker.call(token, "GET", f"/xcoms/etl/{run.run_id}/load?map_index=0")
    assert missing.status_code == 404, missing.text


@pytest.mark.parametrize(
    ("method", "suffix", "body", "loc"),
    [
        ("PATCH", "run", {"hostname": "", "pid": 1}, ["body", "hostname"]),
        ("PATCH", "run", {"hostname": "h", "pid": -1}, ["body", "pid"]),
        ("PATCH", "state", {"state": "done"}, ["body", "state"]),
        ("PATCH", "state", {"state": "success", "value_sha256": "xyz"}, ["body", "value_sha256"]),
        ("POST", "logs", {"content": 3}, ["body", "content"]),
    ],
)
def test_bad_bodies_are_422_with_their_field(
    worker: Worker, method: str, suffix: str, body: Any, loc: list[str]
) -> None:
    run = publish_and_trigger(worker.db, make_spec("etl", ETL))
    claimed = claim(worker.db, run)
    response = worker.call(
        worker.token(claimed), method, f"/task-instances/{claimed.ti_id}/{suffix}", body
    )
    assert response.status_code == 422, response.text
    assert loc in [e["loc"] for e in response.json()["detail"]]
    assert ti_row(worker.db, claimed.ti_id)["state"] == "queued"


# --- fencing ------------------------------------------------------------------------------------


def test_a_cleared_tries_late_result_is_409_and_the_new_try_is_untouched(worker: Worker) -> None:
    db = worker.db
    run = publish_and_trigger(db, make_spec("etl", ETL))
    first = claim(db, run)
    old = worker.token(first)
    assert worker.start(old, first.ti_id).status_code == 200
    clear_task_instances(
        db, "etl", actor="ci", task_ids=["extract"], dag_run_id=run.run_id, only_failed=False
    )
    schedule_pass(db)
    second = claim(db, run)
    assert (second.ti_id, second.try_number) == (first.ti_id, 2)
    new = worker.token(second)
    assert worker.start(new, second.ti_id).status_code == 200
    before = ti_row(db, first.ti_id)
    assert before["state"] == TaskState.RUNNING.value
    assert before["try_number"] == 2

    late = {"state": "success", "value": "stale"}
    result = worker.call(old, "PATCH", f"/task-instances/{first.ti_id}/state", late)
    assert result.status_code == 409, result.text
    beat = worker.call(old, "PUT", f"/task-instances/{first.ti_id}/heartbeat")
    assert beat.status_code == 409
    assert "Stop this try" in beat.json()["detail"]
    assert worker.start(old, first.ti_id).status_code == 409
    assert ti_row(db, first.ti_id) == before
    with db.read() as s:
        assert s.scalars(select(XCom)).all() == []

    done = worker.call(new, "PATCH", f"/task-instances/{second.ti_id}/state", {"state": "success"})
    assert done.json() == {"state": "success"}


def test_a_try_starts_once(worker: Worker) -> None:
    run = publish_and_trigger(worker.db, make_spec("etl", ETL))
    claimed = claim(worker.db, run)
    token = worker.token(claimed)
    assert worker.start(token, claimed.ti_id).status_code == 200
    again = worker.start(token, claimed.ti_id)
    assert again.status_code == 409, again.text
    assert ti_row(worker.db, claimed.ti_id)["tries"] == [(1, "running", "worker-1", 4242)]


def test_tokens_carry_their_try_and_nothing_verifies_across_keys() -> None:
    claims = TryClaims(7, 2, "etl", "r1", "load", -1, "ab" * 32)
    tokens = TryTokens("s" * 64, timedelta(seconds=60))
    assert tokens.verify(tokens.issue(claims)) == claims
    assert "s" * 64 not in repr(tokens)
    with pytest.raises(AuthenticationError, match="Invalid try token"):
        TryTokens("t" * 64).verify(tokens.issue(claims))


def test_a_token_of_the_right_key_but_another_audience_is_refused() -> None:
    tokens = TryTokens("s" * 64)
    claims = TryClaims(7, 2, "etl", "r1", "load", -1, "ab" * 32)
    good = jwt.decode(tokens.issue(claims), options={"verify_signature": False})
    assert good["aud"] == try_tokens.AUDIENCE
    forged = jwt.encode({**good, "aud": "pinflow"}, try_tokens.derive_key("s" * 64), "HS256")
    with pytest.raises(AuthenticationError):
        tokens.verify(forged)
    unsigned_claim = jwt.encode({**good, "ti_id": 8}, "s" * 64, "HS256")  # the user key
    with pytest.raises(AuthenticationError):
        tokens.verify(unsigned_claim)


def test_a_try_whose_request_cannot_be_built_fails_instead_of_hanging(
    worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pinflow.errors import NotFoundError
    from pinflow.services.engine import _requests

    def missing(*_: Any) -> Any:
        raise NotFoundError("Task 'extract' is not in snapshot x.")

    monkeypatch.setattr(_requests, "task_definition", missing)
    run = publish_and_trigger(worker.db, make_spec("etl", ETL))
    claimed = claim(worker.db, run)
    assert worker.start(worker.token(claimed), claimed.ti_id).status_code == 404
    row = ti_row(worker.db, claimed.ti_id)
    assert row["state"] == "failed"
    with worker.db.read() as s:
        error = s.scalars(select(TaskInstanceTry.error)).one()
    assert error == "the task request could not be built: Task 'extract' is not in snapshot x."


def test_the_request_is_the_one_the_local_executor_builds(worker: Worker) -> None:
    """Both paths build their ``TaskRequest`` with ``engine.task_request`` (from
    ``remote_tries`` and ``scheduler.requests``): a DAG must behave the same on both, so they
    must agree on every field but ``bundle_uri``."""
    from pinflow.scheduler.requests import RequestBuilder
    from pinflow.services.engine import StartedTask

    db = worker.db
    spec = make_spec("etl", ETL, task_fields={"extract": {"execution_timeout": 30}})
    run = publish_and_trigger(db, spec, bundle_zip())
    claimed = claim(db, run)
    remote = TaskRequest.from_dict(worker.start(worker.token(claimed), claimed.ti_id).json())
    started = StartedTask(
        claimed.ti_id, run.id, "extract", -1, 1, run.snapshot_digest, claimed.version_id
    )
    local = RequestBuilder(db, worker.app.state.settings).build(claimed, started)
    assert remote.bundle_uri != local.bundle_uri
    assert {**remote.to_dict(), "bundle_uri": None} == {**local.to_dict(), "bundle_uri": None}


def _admin_sets(worker: Worker, path: str, body: dict[str, Any]) -> None:
    response = worker.client.post(path, json=body, headers=bearer(worker.app, ADMIN))
    assert response.status_code == 201, response.text


def test_a_try_reads_variables_and_connections_whole_with_its_token_only(worker: Worker) -> None:
    """What ``Variable.get`` and ``Connection.get`` in a task return: the stored values,
    decrypted and unmasked (the user-facing API masks them), to a try's token and nothing else."""
    _admin_sets(worker, "/api/v2/variables", {"key": "api_secret", "value": "s3cr3t"})
    connection = {
        "connection_id": "warehouse",
        "conn_type": "postgres",
        "host": "db.internal",
        "login": "etl",
        "password": "pw",
        "port": 5432,
        "extra": '{"sslmode": "require", "password": "x"}',
    }
    _admin_sets(worker, "/api/v2/connections", connection)
    run = publish_and_trigger(worker.db, make_spec("etl", ETL))
    token = worker.token(claim(worker.db, run))

    variable = worker.call(token, "GET", "/variables/api_secret")
    assert variable.status_code == 200, variable.text
    assert variable.json() == {"key": "api_secret", "value": "s3cr3t"}
    got = worker.call(token, "GET", "/connections/warehouse")
    assert got.status_code == 200, got.text
    assert got.json() == {
        "conn_id": "warehouse",
        "conn_type": "postgres",
        "description": None,
        "host": "db.internal",
        "schema": None,
        "login": "etl",
        "password": "pw",
        "port": 5432,
        "extra": '{"sslmode": "require", "password": "x"}',
    }
    for path in ("/variables/nope", "/connections/nope"):
        assert worker.call(token, "GET", path).status_code == 404
    user = bearer(worker.app, ADMIN)["Authorization"].removeprefix("Bearer ")
    assert worker.call(user, "GET", "/variables/api_secret").status_code == 401


def test_a_running_try_pushes_xcoms_of_its_own_task_only(worker: Worker) -> None:
    db = worker.db
    run = publish_and_trigger(db, make_spec("etl", ETL))
    extract = claim(db, run)
    token = worker.start(worker.token(extract), extract.ti_id).headers[REFRESHED_TOKEN]
    own = f"/xcoms/etl/{run.run_id}/extract"

    for value in ({"rows": 3}, {"rows": 4}):  # a second push under a key replaces the first
        pushed = worker.call(token, "POST", f"{own}?key=stats", {"value": value})
        assert pushed.status_code == 201, pushed.text
    assert worker.call(token, "GET", f"{own}?key=stats").json()["value"] == {"rows": 4}

    for path in (f"/xcoms/etl/{run.run_id}/load?key=stats", f"{own}?key=stats&map_index=0"):
        assert worker.call(token, "POST", path, {"value": 1}).status_code == 403
    refused = worker.call(token, "POST", f"{own}?key=return_value", {"value": 1})
    assert refused.status_code == 400, refused.text
    assert "return the value from the task" in refused.json()["detail"]

    clear_task_instances(db, "etl", actor="tester", only_failed=False)
    late = worker.call(token, "POST", f"{own}?key=late", {"value": 1})
    assert late.status_code == 409, late.text
    with db.read() as s:
        keys = s.scalars(select(XCom.key).where(XCom.run_pk == run.id)).all()
    assert "late" not in keys


def test_a_remote_tries_log_is_the_same_on_every_api_server(worker: Worker, tmp_path: Path) -> None:
    """Pieces of one try's log sent through one API server are served whole by another (its
    own home, no disk shared): the log outlives the worker host and any one API server."""
    db = worker.db
    other = make_app(db, tmp_path / "second-api-server")
    run = publish_and_trigger(db, make_spec("etl", ETL))
    extract = claim(db, run)
    token = worker.start(worker.token(extract), extract.ti_id).headers[REFRESHED_TOKEN]
    pieces = ["é" * 600_000, "x" * 600_000 + "\n", "line two\n", "the end\n"]  # over the tail
    for seq, piece in enumerate(pieces):
        body = {"content": piece, "seq": seq}
        assert worker.call(token, "POST", f"/task-instances/{extract.ti_id}/logs", body).is_success
    url = f"/api/v2/dags/etl/dagRuns/{run.run_id}/taskInstances/extract/logs/1"
    headers = {**bearer(other, ADMIN), "Accept": "text/plain"}
    with client_for(other) as client:
        whole = client.get(url, params={"full_content": "true"}, headers=headers)
        tail = client.get(url, headers=headers)
    assert whole.status_code == 200, whole.text
    assert whole.text == "".join(pieces)
    assert tail.status_code == 200, tail.text
    size = sum(len(p) for p in pieces)
    assert tail.text.splitlines()[0] == (
        f"*** Showing the last {1024 * 1024} of {size} characters; full_content=true for more."
    )
    assert tail.text.endswith("line two\nthe end\n")


def test_deleting_a_run_removes_its_staging_dir_on_the_shared_store(
    db: Database, tmp_path: Path
) -> None:
    """A remote try records where its run stages on the shared store; deleting the run removes
    that folder there, and nothing outside the store's staging root."""
    shared = tmp_path / "shared"
    app = make_app(db, tmp_path / "api", shared_store_url=shared.as_uri())
    make_user(db, ADMIN, superuser=True)
    run = publish_and_trigger(db, make_spec("etl", ETL))
    extract = claim(db, run)
    with client_for(app) as client:
        token = app.state.try_tokens.issue(claims_of(extract))
        started = client.patch(
            f"{V1}/task-instances/{extract.ti_id}/run",
            json=START,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert started.status_code == 200, started.text
        uri = TaskRequest.from_dict(started.json()).staging_uri
        assert uri is not None
        folder = Path(uri.removeprefix("file://"))
        folder.mkdir(parents=True)
        (folder / "rows.csv").write_text("a,b\n")  # what a worker pushed
        kept = shared / "elsewhere"
        kept.mkdir()
        url = f"/api/v2/dags/etl/dagRuns/{run.run_id}"
        deleted = client.delete(url, params={"force": "true"}, headers=bearer(app, ADMIN))
        assert deleted.status_code == 204, deleted.text
    assert not folder.exists()
    assert kept.exists()


def test_a_running_try_keeps_its_rendered_fields_and_a_stale_one_is_409(worker: Worker) -> None:
    db = worker.db
    run = publish_and_trigger(db, make_spec("etl", ETL))
    extract = claim(db, run)
    token = worker.start(worker.token(extract), extract.ti_id).headers[REFRESHED_TOKEN]
    path = f"/task-instances/{extract.ti_id}/rtif"

    for fields in ({"bash_command": "echo 1"}, {"bash_command": "echo 2024-03-01"}):
        kept = worker.call(token, "PUT", path, fields)  # a second report replaces the first
        assert kept.status_code == 201, kept.text
    with db.read() as s:
        rendered = s.scalar(
            select(TaskInstanceTry.rendered_fields).where(TaskInstanceTry.ti_id == extract.ti_id)
        )
    assert rendered == {"bash_command": "echo 2024-03-01"}

    # Whatever the task masked, the store hides the values of sensitive names (ADR 0034).
    secret = {"bash_command": "psql", "env": {"PGPASSWORD": "pw-12345", "HOST": "db"}}
    assert worker.call(token, "PUT", path, secret).status_code == 201
    with db.read() as s:
        rendered = s.scalar(
            select(TaskInstanceTry.rendered_fields).where(TaskInstanceTry.ti_id == extract.ti_id)
        )
    assert rendered == {"bash_command": "psql", "env": {"PGPASSWORD": "***", "HOST": "db"}}

    not_an_object = worker.call(token, "PUT", path, ["echo"])
    assert not_an_object.status_code == 422, not_an_object.text
    other = worker.call(token, "PUT", f"/task-instances/{extract.ti_id + 1}/rtif", {})
    assert other.status_code == 403, other.text

    clear_task_instances(db, "etl", actor="tester", only_failed=False)
    late = worker.call(token, "PUT", path, {"bash_command": "late"})
    assert late.status_code == 409, late.text
