"""An Airflow task with templates and a Variable on a remote worker (the Celery worker's
runner, driven in-process against the real API): the variable and the upstream XCom are read,
and the rendered fields sent, over the try's channel and the execution API, with a token the
task never sees; a sensitive variable is masked in what is kept and in the shipped log."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.worker.test_runner import Api, queue_try

from pinflow.lifecycle.permissions import Principal
from pinflow.sdk.compiler import compile_path
from pinflow.services.commands import resources
from pinflow.services.commands._push import register_snapshot
from pinflow.services.engine._claims import claim_scheduled
from pinflow.services.engine._sweep import schedule_pass
from pinflow.services.reads import task_queries
from pinflow.services.xcom_values import value_of
from pinflow.store.db import Database
from pinflow.store.tables import TaskInstanceTry
from pinflow.worker.runner import stop_task_runners

SOURCE = """
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG

with DAG("remote_templated", schedule=None, params={"who": "worker"}):
    first = BashOperator(task_id="first", bash_command="echo 7")
    second = BashOperator(
        task_id="second",
        bash_command="echo token=$TOKEN >&2; "
        "echo {{ ti.xcom_pull('first') }}-{{ params.who }}-$WHERE",
        env={"WHERE": "{{ var.value.bucket }}", "TOKEN": "{{ var.value.api_token }}"},
    )
    first >> second
"""


@pytest.fixture
def api(db: Database, tmp_path: Path) -> Iterator[Api]:
    folder = tmp_path / "dags"
    folder.mkdir()
    (folder / "remote_templated.py").write_text(textwrap.dedent(SOURCE))
    for compiled in compile_path(folder):
        register_snapshot(db, compiled.spec, compiled.bundle, actor="tester")
    yield Api(db, tmp_path)
    stop_task_runners()


def test_a_templated_bash_task_renders_over_the_execution_api(api: Api, db: Database) -> None:
    cipher = resources.Cipher(resources.load_or_create_key(api.home / "api"))
    root = Principal("t", is_superuser=True)
    resources.set_variable(db, cipher, root, "bucket", {"value": "s3://b"}, create=True)
    resources.set_variable(db, cipher, root, "api_token", {"value": "tok-abc123"}, create=True)
    first = queue_try(db, "remote_templated")
    assert api.run(api.message(first)).endswith(": success")
    schedule_pass(db)
    (second,) = claim_scheduled(db, limit=1, run_pk=first.run_pk, claimer="scheduler:test:1")
    outcome = api.run(api.message(second))
    assert outcome.endswith(": success"), outcome
    assert value_of(db, second.run_pk, "second", "return_value", -1) == "7-worker-s3://b"
    with db.read() as s:
        rendered = s.scalar(
            select(TaskInstanceTry.rendered_fields).where(TaskInstanceTry.ti_id == second.ti_id)
        )
    assert rendered == {
        "bash_command": "echo token=$TOKEN >&2; echo 7-worker-$WHERE",
        "env": {"WHERE": "s3://b", "TOKEN": "***"},  # a sensitive variable is masked
    }
    sent = task_queries.sent_log(db, second.ti_id, 1, limit=1 << 20)  # as the API serves it
    assert sent is not None
    assert "token=***" in sent.text
    assert "tok-abc123" not in sent.text
