"""What the Celery executor puts in the broker, read back from Celery's in-memory transport:
the try and its queue token in the body, and nothing secret in the headers (which Celery's
tools show: Flower, `celery inspect`, logs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.scaleout.cluster import until

from pinflow.executors.celery import CeleryExecutor
from pinflow.services.commands._push import register_snapshot
from pinflow.services.commands._runs import trigger_run
from pinflow.services.engine._claims import claim_scheduled
from pinflow.services.engine._sweep import schedule_pass
from pinflow.settings import Settings
from pinflow.store.db import Database
from pinflow.testing import make_spec

pytestmark = pytest.mark.sqlite_enough


def test_a_message_carries_the_try_and_its_token_but_shows_no_token(
    db: Database, tmp_path: Path
) -> None:
    settings = Settings(
        home=tmp_path,
        broker_url="memory://",
        execution_api_url="http://api.internal:8080",
        jwt_secret="s" * 64,
    )
    register_snapshot(db, make_spec("etl", {"extract": []}), b"", actor="t")
    run = trigger_run(db, dag_id="etl", actor="t")
    schedule_pass(db)
    (claimed,) = claim_scheduled(db, limit=1, run_pk=run.id)
    executor = CeleryExecutor(settings, inspect_interval=3600)
    executor.start()
    try:
        executor.enqueue(claimed)
        until("the message to be sent", lambda: executor.free_slots() > 0 and _sent(executor))
        with executor.app.connection_for_read() as conn:
            message = conn.SimpleQueue(settings.default_queue).get(timeout=5)
    finally:
        executor.stop()
    args, kwargs, _embed = message.payload
    assert args == []
    assert kwargs["ti_id"] == claimed.ti_id
    assert kwargs["try_number"] == claimed.try_number
    assert kwargs["api_url"] == "http://api.internal:8080"
    token = kwargs["token"]
    assert executor.tokens.verify(token, scopes=("queue",)).ti_id == claimed.ti_id
    shown = json.dumps(message.headers)
    assert token not in shown
    assert message.headers["kwargsrepr"] == (
        f"{{'ti_id': {claimed.ti_id}, 'try_number': {claimed.try_number}}}"
    )


def _sent(executor: CeleryExecutor) -> bool:
    with executor._cond:
        return not executor._outbox
