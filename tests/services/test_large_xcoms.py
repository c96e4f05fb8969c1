"""Large XComs on the store: references recorded, never loaded to schedule, read when shown.

The task processes are played in-process (``run_until_idle``), writing their artifacts with
the worker's own functions; every test runs on SQLite and, when configured, PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from pinflow.errors import DataLostError, InvalidInputError
from pinflow.lifecycle.states import RunState, TaskState
from pinflow.runtime.artifacts import FileArtifactStore, open_store, put, run_prefix, xcom_key
from pinflow.runtime.contract import StoredInput, TaskRequest
from pinflow.runtime.xcoms import encode_json, load_stored_inputs
from pinflow.scheduler.requests import RequestBuilder
from pinflow.services.commands import _dags as dags
from pinflow.services.commands._push import register_snapshot
from pinflow.services.commands._runs import get_run, trigger_run
from pinflow.services.engine._claims import claim_scheduled
from pinflow.services.engine._dispatch import resolve_arguments
from pinflow.services.engine._inputs import get_inputs
from pinflow.services.engine._reports import finish_task
from pinflow.services.engine._starts import start_task
from pinflow.services.engine._sweep import schedule_pass
from pinflow.services.engine._xcom_store import StoredXCom, discard_artifacts, request_arguments
from pinflow.services.reads._views import RunView
from pinflow.services.xcom_values import value_of as get_xcom
from pinflow.settings import Settings
from pinflow.spec.models import DagSpec
from pinflow.store.db import Database
from pinflow.store.tables import XCom
from pinflow.testing import ExecutionContext, TaskOutcome, make_spec, run_until_idle

ROWS = [f"row {i}" for i in range(5)]


@pytest.fixture
def settings(db: Database, tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home", database_url=db.url, xcom_db_limit=16)


@pytest.fixture
def store(settings: Settings) -> FileArtifactStore:
    opened = open_store(settings.artifacts_uri)
    assert isinstance(opened, FileArtifactStore)
    return opened


def start(db: Database, spec: DagSpec) -> RunView:
    register_snapshot(db, spec, b"", actor="alice")
    return trigger_run(db, dag_id=spec.dag_id, run_id="r1", actor="alice")


def pipeline() -> DagSpec:
    """``produce`` -> ``count`` (its input) and ``each`` (mapped over it) -> ``total``."""
    return make_spec(
        "big",
        {"produce": [], "count": [], "each": [], "total": []},
        task_fields={
            "count": {"inputs": {"rows": {"task_id": "produce"}}},
            "each": {"expand": {"row": {"task_id": "produce"}}},
            "total": {"inputs": {"parts": {"task_id": "each"}}},
        },
    )


def stored(store: FileArtifactStore, ctx: ExecutionContext, value: Any) -> TaskOutcome:
    """What a worker reports for a large value: it writes the artifact, sends the reference."""
    key = xcom_key(
        ctx.dag_id, ctx.run_id, ctx.task_id, map_index=ctx.map_index, try_number=ctx.try_number
    )
    ref = put(store, key, encode_json(value))
    length = len(value) if isinstance(value, list) else None
    return TaskOutcome(success=True, value=StoredXCom(ref, length))


def worker_arguments(db: Database, store: FileArtifactStore, ctx: ExecutionContext) -> Any:
    """The arguments a worker would call the task with, from what a request carries."""
    arguments = request_arguments(*resolve_arguments(db, ctx.run_pk, ctx.task, ctx.map_index))
    req = TaskRequest(
        ti_id=ctx.ti_id,
        dag_id=ctx.dag_id,
        run_id=ctx.run_id,
        task_id=ctx.task_id,
        try_number=ctx.try_number,
        snapshot_digest=ctx.snapshot_digest,
        staging_dir="",
        log_path="",
        inputs=arguments.inputs,
        mapped=arguments.mapped,
        stored_inputs=arguments.stored,
        artifacts_uri=store.root,
    )
    given = {**req.inputs, **req.mapped}
    return {**given, **load_stored_inputs(req, given)}


def xcom_rows(db: Database, run_pk: int) -> dict[tuple[str, int], Any]:
    with db.read() as s:
        rows = s.execute(
            select(
                XCom.task_id,
                XCom.map_index,
                XCom.value.is_(None),
                XCom.artifact_uri,
                XCom.artifact_sha256,
                XCom.size,
                XCom.value_length,
            ).where(XCom.run_pk == run_pk)
        )
        return {(t, m): (bool(null), uri, sha, size, n) for t, m, null, uri, sha, size, n in rows}


def test_a_pipeline_passes_large_values_by_reference(
    db: Database, store: FileArtifactStore
) -> None:
    run = start(db, pipeline())
    seen: dict[str, Any] = {}

    def handler(ctx: ExecutionContext) -> TaskOutcome:
        if ctx.task_id == "produce":
            return stored(store, ctx, ROWS)
        args = worker_arguments(db, store, ctx)
        seen[f"{ctx.task_id}[{ctx.map_index}]"] = args
        if ctx.task_id == "each":
            return stored(store, ctx, {"row": args["row"], "pad": "x" * 20})
        if ctx.task_id == "total":
            assert ctx.inputs == args  # ``get_inputs`` reads the store the same way
            return TaskOutcome(success=True, value=len(args["parts"]))
        return TaskOutcome(success=True, value=len(args["rows"]))

    assert run_until_idle(db, handler, artifacts=store) == 1 + 1 + 5 + 1
    assert get_run(db, "big", "r1").state == RunState.SUCCESS
    assert seen["count[-1]"] == {"rows": ROWS}
    assert [seen[f"each[{i}]"] for i in range(5)] == [{"row": row} for row in ROWS]
    assert seen["total[-1]"] == {"parts": [{"row": row, "pad": "x" * 20} for row in ROWS]}
    rows = xcom_rows(db, run.id)
    produced = rows[("produce", -1)]
    assert produced[0] is True  # SQL NULL, not JSON null
    assert produced[1] == store.uri_of(xcom_key("big", "r1", "produce", map_index=-1, try_number=1))
    assert produced[3:] == (len(encode_json(ROWS)), 5)
    assert rows[("each", 3)][4] is None  # not a list
    assert rows[("count", -1)] == (False, None, None, 1, None)
    assert get_xcom(db, run.id, "produce", artifacts=store) == ROWS
    assert get_xcom(db, run.id, "each", map_index=2, artifacts=store)["row"] == "row 2"
    assert get_xcom(db, run.id, "count") == 5


def test_building_requests_never_reads_the_artifact(
    db: Database, store: FileArtifactStore, settings: Settings
) -> None:
    """The scheduler hands a large upstream value on as a reference, with the limits: the
    artifact can even be gone (a worker would then report it missing)."""
    start(db, pipeline())
    schedule_pass(db)
    [claimed] = claim_scheduled(db, limit=10)
    started = start_task(db, claimed.ti_id, try_number=1)
    key = xcom_key("big", "r1", "produce", map_index=-1, try_number=1)
    ref = put(store, key, encode_json(ROWS))
    finish_task(db, claimed.ti_id, try_number=1, success=True, xcom=StoredXCom(ref, 5))
    assert started.task_id == "produce"
    store.delete_prefix(run_prefix("big", "r1"))  # the scheduler must not need it
    builder = RequestBuilder(db, settings)
    requests = {}
    for task in claim_scheduled(db, limit=10):
        begun = start_task(db, task.ti_id, try_number=1)
        requests[(task.task_id, task.map_index)] = builder.build(task, begun)
    assert set(requests) == {("count", -1), *(("each", i) for i in range(5))}
    count = requests[("count", -1)]
    assert count.inputs == {"rows": None}
    assert count.stored_inputs == {"rows": [StoredInput(ref.uri, ref.size, ref.sha256)]}
    assert (count.artifacts_uri, count.xcom_db_limit) == (settings.artifacts_uri, 16)
    assert count.xcom_max_size == settings.xcom_max_size
    third = requests[("each", 2)]
    assert third.mapped == {"row": None}
    assert third.stored_inputs == {"row": [StoredInput(ref.uri, ref.size, ref.sha256, element=2)]}
    assert TaskRequest.from_json(third.to_json()) == third


def test_only_the_tries_own_artifact_can_be_recorded(
    db: Database, store: FileArtifactStore
) -> None:
    start(db, pipeline())
    schedule_pass(db)
    [claimed] = claim_scheduled(db, limit=10)
    start_task(db, claimed.ti_id, try_number=1)
    other = put(store, xcom_key("big", "r1", "produce", map_index=-1, try_number=2), b"[1]")
    with pytest.raises(InvalidInputError, match="is not the artifact of try 1") as caught:
        finish_task(db, claimed.ti_id, try_number=1, success=True, xcom=StoredXCom(other, 1))
    assert caught.value.details["uri"] == other.uri
    state = finish_task(db, claimed.ti_id, try_number=1, success=True, xcom=[1])
    assert state == TaskState.SUCCESS


def test_reading_a_missing_or_altered_artifact_says_what_and_what_to_do(
    db: Database, store: FileArtifactStore
) -> None:
    run = start(db, pipeline())
    run_until_idle(
        db,
        lambda ctx: stored(store, ctx, ROWS) if ctx.task_id == "produce" else TaskOutcome(True),
        artifacts=store,
    )
    with pytest.raises(InvalidInputError, match="is in the artifact store"):
        get_xcom(db, run.id, "produce")
    path = store.path / xcom_key("big", "r1", "produce", map_index=-1, try_number=1)
    path.write_bytes(path.read_bytes().replace(b"row 1", b"row X"))
    with pytest.raises(DataLostError) as caught:
        get_xcom(db, run.id, "produce", artifacts=store)
    message = str(caught.value)
    assert message.startswith("The value of XCom 'return_value' of task 'produce' cannot be")
    assert "damaged" in message
    assert message.endswith("Clear the task to compute it again.")
    count = pipeline().task("count")
    assert count is not None
    path.unlink()
    with pytest.raises(DataLostError, match="is missing"):
        get_inputs(db, run.id, count, artifacts=store)


def test_clearing_history_and_purging_name_the_runs_whose_artifacts_go(
    db: Database, store: FileArtifactStore
) -> None:
    for dag_id in ("big", "gone"):
        start(db, pipeline().model_copy(update={"dag_id": dag_id}))
    run_until_idle(db, lambda ctx: stored(store, ctx, ROWS), artifacts=store)
    assert (store.path / run_prefix("big", "r1")).is_dir()
    impact = dags.clear_history(db, "big", actor="alice")
    assert impact.run_ids == ("r1",)
    discard_artifacts(store, "big", impact.run_ids)
    assert not (store.path / run_prefix("big", "r1")).exists()
    assert (store.path / run_prefix("gone", "r1")).is_dir()
    dags.deregister(db, "gone", actor="alice")
    purged = dags.purge_dag(db, "gone", actor="alice")
    discard_artifacts(store, "gone", purged.run_ids)
    assert not (store.path / "xcom").exists()
