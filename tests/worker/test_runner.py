"""The worker's side of a try (``pinflow.worker.runner``), against the real execution API
app on the test database: a broker message becomes a started try, a task process, log
uploads, heartbeats and one result. No broker here (tests/scaleout has the real ones).
"""

from __future__ import annotations

import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from tests.api.helpers import SyncASGITransport, make_app
from tests.scaleout.cluster import until

from pinflow.lifecycle.permissions import Principal
from pinflow.runtime.paths import staging_path
from pinflow.sdk.compiler import compile_path
from pinflow.services.commands import resources
from pinflow.services.commands._clear import clear_task_instances
from pinflow.services.commands._push import register_snapshot
from pinflow.services.commands._runs import trigger_run
from pinflow.services.engine import QUEUE_SCOPE, TryTokens, claims_of
from pinflow.services.engine._claims import ClaimedTask, claim_scheduled
from pinflow.services.engine._sweep import schedule_pass
from pinflow.services.reads import task_queries
from pinflow.services.xcom_values import value_of
from pinflow.store.db import Database
from pinflow.store.tables import Snapshot, TaskInstance, TaskInstanceTry
from pinflow.worker.runner import WorkerContext, run_message, stop_task_runners

SOURCE = """
    import time
    from pinflow.sdk import dag, task

    @task
    def hello(name="worker"):
        print(f"hello from the {name}", flush=True)
        return {"greeting": f"hello {name}"}

    @task(execution_timeout=1)
    def sleepy():
        print("going to sleep", flush=True)
        time.sleep(30)

    @dag(dag_id="remote")
    def remote():
        hello()

    @task
    def keep():
        import os
        with open(os.path.join(os.environ["PINFLOW_STAGING_DIR"], "out.txt"), "w") as out:
            out.write("kept")

    @task
    def uses_secrets():
        from pinflow.sdk import Connection, Variable, xcom_pull, xcom_push

        xcom_push("seen", {"bucket": Variable.get("bucket")})
        warehouse = Connection.get("warehouse")
        return {
            "login": warehouse.login,
            "password": warehouse.password,
            "extra": warehouse.extra_dejson,
            "missing": Variable.get("nope", default="fallback"),
            "pulled": xcom_pull("uses_secrets", key="seen"),
            "env": sorted(k for k in __import__("os").environ if "TOKEN" in k),
        }

    @task
    def chatty():
        import os
        go = os.path.join(os.environ["PINFLOW_STAGING_DIR"], "go")
        os.mkfifo(go)
        print("first line", flush=True)
        with open(go) as signal:  # blocks until the test opens it for writing
            signal.read()
        print("second line", flush=True)

    @dag(dag_id="remote_slow")
    def remote_slow():
        sleepy()

    @dag(dag_id="remote_chatty")
    def remote_chatty():
        chatty()

    @dag(dag_id="remote_secrets")
    def remote_secrets():
        uses_secrets()

    @dag(dag_id="remote_keeps", default_args={"retries": 0})
    def remote_keeps():
        keep()

    remote()
    remote_slow()
    remote_keeps()
    remote_secrets()
    remote_chatty()
"""


class Api:
    def __init__(self, db: Database, home: Path, shared_store_url: str | None = None) -> None:
        self.db = db
        self.app = make_app(db, home / "api", shared_store_url=shared_store_url)
        self.home = home

    def transport(self) -> httpx.BaseTransport:
        return SyncASGITransport(self.app)

    @property
    def tokens(self) -> TryTokens:
        tokens: TryTokens = self.app.state.try_tokens
        return tokens

    def message(self, claimed: ClaimedTask) -> dict[str, Any]:
        token = self.tokens.issue(claims_of(claimed), scope=QUEUE_SCOPE)
        return {
            "api_url": "http://testserver",
            "ti_id": claimed.ti_id,
            "try_number": claimed.try_number,
            "token": token,
        }

    def run(self, message: dict[str, Any], **context: Any) -> str:
        worker = WorkerContext(hostname="worker-7", home=self.home / "worker", **context)
        return run_message(message, worker, transport=self.transport())


@pytest.fixture
def api(db: Database, tmp_path: Path) -> Iterator[Api]:
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "remote.py").write_text(textwrap.dedent(SOURCE))
    for compiled in compile_path(folder):
        register_snapshot(db, compiled.spec, compiled.bundle, actor="tester")
    yield Api(db, tmp_path)
    stop_task_runners()


def queue_try(db: Database, dag_id: str) -> ClaimedTask:
    run = trigger_run(db, dag_id=dag_id, actor="tester")
    schedule_pass(db)
    (claimed,) = claim_scheduled(db, limit=1, run_pk=run.id, claimer="scheduler:test:1")
    return claimed


def tries(db: Database, ti_id: int) -> list[tuple[int, str, str | None, str | None]]:
    with db.read() as s:
        rows = s.scalars(select(TaskInstanceTry).where(TaskInstanceTry.ti_id == ti_id))
        return sorted((t.try_number, t.state, t.hostname, t.error) for t in rows)


def test_a_message_becomes_one_try_with_its_xcom_and_its_log(api: Api, db: Database) -> None:
    claimed = queue_try(db, "remote")
    outcome = api.run(api.message(claimed))
    assert outcome.endswith(": success"), outcome
    assert tries(db, claimed.ti_id) == [(1, "success", "worker-7", None)]
    assert value_of(db, claimed.run_pk, "hello", "return_value", -1) == {"greeting": "hello worker"}
    # The log went up to the API's side (where /api/v2 serves it), not only the worker's disk.
    sent = task_queries.sent_log(db, claimed.ti_id, 1, limit=1 << 20)
    assert sent is not None
    text = sent.text
    assert "hello from the worker" in text
    assert "running remote/" in text


def test_a_second_delivery_of_the_message_runs_nothing(api: Api, db: Database) -> None:
    claimed = queue_try(db, "remote")
    message = api.message(claimed)
    assert api.run(message).endswith(": success")
    again = api.run(message)
    assert "not started" in again
    assert len(tries(db, claimed.ti_id)) == 1


def test_a_snapshot_that_does_not_match_its_digest_is_never_run(api: Api, db: Database) -> None:
    claimed = queue_try(db, "remote")
    with db.transaction() as s:
        s.execute(
            update(Snapshot)
            .where(Snapshot.digest == claimed.snapshot_digest)
            .values(bundle=b"PK\x05\x06" + b"\0" * 18)  # another (empty) zip
        )
    outcome = api.run(api.message(claimed))
    assert outcome.endswith(": failed"), outcome
    ((_, state, _, error),) = tries(db, claimed.ti_id)
    assert state == "failed"
    assert "cannot fetch the snapshot" in (error or "")
    assert "served with digest" in (error or "")
    assert not (api.home / "worker" / "snapshots" / claimed.snapshot_digest).exists()


def test_the_worker_enforces_the_execution_timeout(api: Api, db: Database) -> None:
    claimed = queue_try(db, "remote_slow")
    outcome = api.run(api.message(claimed))
    assert outcome.endswith(": failed"), outcome
    ((_, state, _, error),) = tries(db, claimed.ti_id)
    assert state == "failed"
    assert "execution timeout after 1s" in (error or "")


def test_a_try_cleared_while_it_runs_is_stopped_and_reports_nothing(api: Api, db: Database) -> None:
    claimed = queue_try(db, "remote_slow")
    outcomes: list[str] = []
    thread = threading.Thread(
        target=lambda: outcomes.append(api.run(api.message(claimed), heartbeat_interval=0.2))
    )
    thread.start()

    def running() -> bool:
        with db.read() as s:
            state = s.scalars(select(TaskInstance.state).filter_by(id=claimed.ti_id)).one()
        return state == "running"

    until("the try to start on the worker", running, timeout=20)
    clear_task_instances(db, "remote_slow", actor="tester", only_failed=False)
    thread.join(30)
    assert not thread.is_alive()
    assert "no longer the live try" in outcomes[0]
    with db.read() as s:
        ti = s.scalars(select(TaskInstance).filter_by(id=claimed.ti_id)).one()
    assert ti.state == "none"  # the clear's doing, not overwritten by the stopped try


def test_a_staging_dir_the_store_will_not_take_fails_the_try_and_says_why(
    api: Api, db: Database
) -> None:
    """A try whose files cannot reach the shared store is reported failed with the store's
    message (its retries apply) — never left started and unreported until its heartbeat's
    age gives it up."""
    blocked = api.home / "not-a-folder"
    blocked.write_text("a file where the store's root should be")
    remote = Api(db, api.home, shared_store_url=blocked.as_uri())
    claimed = queue_try(db, "remote_keeps")
    outcome = remote.run(remote.message(claimed))
    assert outcome.endswith(": failed"), outcome
    ((_, state, _, error),) = tries(db, claimed.ti_id)
    assert state == "failed"
    assert "could not be saved to" in (error or ""), error


def test_a_task_reads_variables_and_connections_over_its_own_channel(
    api: Api, db: Database
) -> None:
    """``Variable.get`` / ``Connection.get`` / ``xcom_push`` / ``xcom_pull`` in task code, on
    a worker: answered through the try's channel by the execution API, with a token the task
    never sees (no token in its environment)."""
    cipher = resources.Cipher(resources.load_or_create_key(api.home / "api"))
    root = Principal("t", is_superuser=True)
    resources.set_variable(db, cipher, root, "bucket", {"value": "s3://b"}, create=True)
    fields = {"conn_type": "postgres", "login": "etl", "password": "pw", "extra": '{"a": 1}'}
    resources.set_connection(db, cipher, root, "warehouse", fields, create=True)
    claimed = queue_try(db, "remote_secrets")
    outcome = api.run(api.message(claimed))
    assert outcome.endswith(": success"), (outcome, tries(db, claimed.ti_id))
    assert value_of(db, claimed.run_pk, "uses_secrets", "return_value", -1) == {
        "login": "etl",
        "password": "pw",
        "extra": {"a": 1},
        "missing": "fallback",
        "pulled": {"bucket": "s3://b"},
        "env": [],
    }
    assert value_of(db, claimed.run_pk, "uses_secrets", "seen", -1) == {"bucket": "s3://b"}


def test_a_running_tries_log_reaches_the_api_while_it_runs(api: Api, db: Database) -> None:
    """The log streams: its first line is served (from the database, on any API server) while
    the task still runs, and the rest follows with the result."""
    claimed = queue_try(db, "remote_chatty")
    outcomes: list[str] = []
    thread = threading.Thread(
        target=lambda: outcomes.append(api.run(api.message(claimed), log_interval=0.05))
    )
    thread.start()

    def sent() -> str:
        found = task_queries.sent_log(db, claimed.ti_id, 1, limit=1 << 20)
        return found.text if found is not None else ""

    until("the first line to reach the API", lambda: "first line" in sent(), timeout=20)
    with db.read() as s:
        assert s.scalars(select(TaskInstance.state).filter_by(id=claimed.ti_id)).one() == "running"
    assert "second line" not in sent()
    staging = staging_path(api.home / "worker" / "staging", "remote_chatty", claimed.run_id)
    with (staging / "go").open("w") as go:  # the task waits on this pipe: let it go on
        go.write("go")
    thread.join(30)
    assert not thread.is_alive()
    assert outcomes[0].endswith(": success"), outcomes
    text = sent()
    assert text.index("first line") < text.index("second line")
