"""Retention (``pinflow db clean``): finished runs older than the cut-off go, with their rows and
files; runs in flight and newer runs stay. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from pinflow.errors import InvalidInputError, NotFoundError
from pinflow.lifecycle.states import RunState
from pinflow.runtime.artifacts import open_store, run_prefix
from pinflow.services.commands import retention
from pinflow.services.commands._push import register_snapshot
from pinflow.services.commands._runs import get_run, trigger_run
from pinflow.store.db import Database
from pinflow.store.tables import (
    AuditEvent,
    DagRun,
    StagingDir,
    TaskInstance,
    TaskInstanceTry,
    TaskLogChunk,
    XCom,
)
from pinflow.testing import TaskOutcome, make_spec, run_until_idle

OLD = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
CUT = datetime(2026, 2, 1, tzinfo=UTC)


@pytest.fixture
def roots(tmp_path: Path) -> retention.FileRoots:
    store = open_store((tmp_path / "artifacts").as_uri())
    return retention.FileRoots(tmp_path / "logs", tmp_path / "staging", store)


def finished_run(db: Database, dag_id: str, run_id: str, *, at: datetime | None) -> int:
    """A run of two tasks that ends at ``at`` (now if None), each returning a value."""
    run = trigger_run(db, dag_id=dag_id, actor="alice", run_id=run_id)
    clock = (lambda: at) if at is not None else None
    run_until_idle(db, lambda ctx: TaskOutcome(success=True, value=ctx.task_id), clock=clock)
    assert get_run(db, dag_id, run_id).state == RunState.SUCCESS
    return run.id


def with_files(
    db: Database, roots: retention.FileRoots, run_pk: int, dag_id: str, run_id: str
) -> list[Path]:
    """Give the run a log file per try, a staging dir, a log chunk and an artifact."""
    roots.logs_root.mkdir(exist_ok=True)
    staging = roots.staging_root / f"{dag_id}-{run_id}"
    staging.mkdir(parents=True)
    (staging / "scratch.txt").write_text("x")
    roots.artifacts.write(f"{run_prefix(dag_id, run_id)}/a/-1/attempt=1.json", b"1")
    files = [staging]
    with db.transaction() as s:
        s.add(StagingDir(run_pk=run_pk, path=str(staging)))
        for ti in s.scalars(select(TaskInstance).where(TaskInstance.run_pk == run_pk)):
            log = roots.logs_root / f"{dag_id}-{run_id}-{ti.task_id}.log"
            log.write_text("log")
            files.append(log)
            s.execute(
                update(TaskInstanceTry)
                .where(TaskInstanceTry.ti_id == ti.id)
                .values(log_path=str(log))
            )
            s.add(TaskLogChunk(ti_id=ti.id, try_number=1, seq=0, content="hi"))
    return files


def rows(db: Database, model: type) -> int:
    with db.read() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


@pytest.fixture
def etl(db: Database) -> Database:
    for dag_id in ("etl", "other"):
        register_snapshot(db, make_spec(dag_id, {"a": [], "b": ["a"]}), b"", actor="alice")
    return db


def test_old_finished_runs_go_with_their_rows_and_files(
    etl: Database, roots: retention.FileRoots
) -> None:
    old = finished_run(etl, "etl", "old", at=OLD)
    files = with_files(etl, roots, old, "etl", "old")
    finished_run(etl, "etl", "new", at=None)
    artifact_dir = Path(roots.artifacts.root.removeprefix("file://")) / run_prefix("etl", "old")
    assert artifact_dir.exists()

    preview = retention.plan(etl, before=CUT)
    assert preview.counts == {
        "dag_run": 1, "task_instance": 2, "task_instance_try": 2, "task_instance_note": 0,
        "task_log_chunk": 2, "xcom": 2, "staging_dir": 1,
    }  # fmt: skip
    assert rows(etl, DagRun) == 2  # the dry run deleted nothing

    done = retention.clean(etl, before=CUT, actor="ops", roots=roots)
    assert done.counts == preview.counts
    assert done.files == 3
    assert done.batches == 1
    assert not any(f.exists() for f in files)
    assert not artifact_dir.exists()
    with pytest.raises(NotFoundError):
        get_run(etl, "etl", "old")
    assert get_run(etl, "etl", "new").state == RunState.SUCCESS
    assert (rows(etl, TaskInstance), rows(etl, XCom), rows(etl, TaskLogChunk)) == (2, 2, 0)
    with etl.read() as s:
        [event] = s.scalars(select(AuditEvent).where(AuditEvent.action == "db.cleaned")).all()
    assert event.actor == "ops"
    assert (event.target_type, event.target_id) == ("database", "*")
    assert event.meta["counts"] == preview.counts


def test_runs_in_flight_are_never_cleaned_however_old(
    etl: Database, roots: retention.FileRoots
) -> None:
    queued = trigger_run(etl, dag_id="etl", actor="alice", run_id="queued")
    with etl.transaction() as s:
        s.execute(
            update(DagRun).where(DagRun.id == queued.id).values(updated_at=OLD, created_at=OLD)
        )
    for state in (RunState.QUEUED, RunState.RUNNING):
        with etl.transaction() as s:
            s.execute(update(DagRun).values(state=state.value, updated_at=OLD))
        assert retention.plan(etl, before=CUT).counts["dag_run"] == 0
        assert retention.clean(etl, before=CUT, actor="ops", roots=roots).counts["dag_run"] == 0
    assert get_run(etl, "etl", "queued").state == RunState.RUNNING


def test_batches_and_the_dag_filter(etl: Database, roots: retention.FileRoots) -> None:
    for n in range(5):
        finished_run(etl, "etl", f"r{n}", at=OLD + timedelta(minutes=n))
    finished_run(etl, "other", "keep", at=OLD)
    seen: list[int] = []
    done = retention.clean(
        etl, before=CUT, actor="ops", roots=roots, dag_id="etl", batch_size=2,
        on_batch=lambda totals: seen.append(totals.counts["dag_run"]),
    )  # fmt: skip
    assert seen == [2, 4, 5]
    assert done.batches == 3
    assert done.counts["dag_run"] == 5
    assert get_run(etl, "other", "keep").state == RunState.SUCCESS
    with etl.read() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "db.cleaned")).all()
    assert [e.dag_id for e in events] == ["etl"] * 3


def test_the_cut_off_is_exclusive_and_by_end_date(
    etl: Database, roots: retention.FileRoots
) -> None:
    finished_run(etl, "etl", "edge", at=CUT)
    assert retention.clean(etl, before=CUT, actor="ops", roots=roots).counts["dag_run"] == 0
    later = CUT + timedelta(seconds=1)
    assert retention.clean(etl, before=later, actor="ops", roots=roots).counts["dag_run"] == 1


def test_bad_input_is_refused_with_what_to_do(etl: Database, roots: retention.FileRoots) -> None:
    with pytest.raises(InvalidInputError, match="time zone"):
        retention.plan(etl, before=datetime(2026, 1, 1))
    with pytest.raises(InvalidInputError, match="batch size"):
        retention.clean(etl, before=CUT, actor="ops", roots=roots, batch_size=0)
