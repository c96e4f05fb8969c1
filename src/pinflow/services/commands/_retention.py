"""Retention (``pinflow db clean``, Airflow's ``db clean``): delete finished runs older than a
date, with everything under them.

A run is old when it ended before the cut-off (``end_date``; a run failed by force without one
counts by its last change). Queued and running runs are never touched, however old: the cut-off
is no reason to lose work in flight. Deleting a run cascades to its task instances, tries,
notes, log chunks, XComs and staging-dir row; its files (log files, staging dir, artifacts)
are removed after the commit, as a DAG's clear-history does (a crash in between leaves files
nobody points to, never rows pointing to no file).

Work goes in batches of ``batch_size`` runs, one transaction each with its own ``db.cleaned``
audit entry (the counts of that batch), so that a big clean neither holds the database lock
for minutes nor loses what it did if it is stopped half-way. On PostgreSQL a batch's runs are
locked and re-checked, so a run cleared (back to queued) meanwhile is skipped. The audit log
itself is kept: it is the record of who did what, cleaning included.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from pinflow.errors import InvalidInputError
from pinflow.lifecycle.states import UNFINISHED_RUN_STATES
from pinflow.runtime.artifacts import ArtifactStore
from pinflow.services import audit_events as events
from pinflow.services.audit_events import record
from pinflow.services.engine import xcom_store
from pinflow.services.reads._dag_queries import discard_files
from pinflow.store.db import Database
from pinflow.store.tables import (
    DagRun,
    StagingDir,
    TaskInstance,
    TaskInstanceNote,
    TaskInstanceTry,
    TaskLogChunk,
    XCom,
)

__all__ = ["CleanResult", "FileRoots", "clean", "plan"]

_LIVE = tuple(s.value for s in UNFINISHED_RUN_STATES)
TABLES = (
    "dag_run",
    "task_instance",
    "task_instance_try",
    "task_instance_note",
    "task_log_chunk",
    "xcom",
    "staging_dir",
)
MAX_BATCH = 10_000  # ids are bound parameters: well under SQLite's 32,766 and psycopg's 65,535


@dataclass(frozen=True)
class FileRoots:
    """Where the files of runs live; only paths under these roots are ever removed."""

    logs_root: Path
    staging_root: Path
    artifacts: ArtifactStore
    shared_store_url: str | None = None


@dataclass
class CleanResult:
    """Rows per table (``dag_run``, ``task_instance``…) and files, deleted or (dry run) to be."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    files: int = 0
    batches: int = 0

    def add(self, counts: dict[str, int]) -> None:
        for table, n in counts.items():
            self.counts[table] += n


def _old_runs(before: datetime, dag_id: str | None) -> Select[Any]:
    ended = func.coalesce(DagRun.end_date, DagRun.updated_at)
    stmt = select(DagRun.id).where(DagRun.state.not_in(_LIVE), ended < before)
    return stmt if dag_id is None else stmt.where(DagRun.dag_id == dag_id)


def _counts(s: Session, run_pks: Any) -> dict[str, int]:
    tis = select(TaskInstance.id).where(TaskInstance.run_pk.in_(run_pks))

    def count(model: Any, where: Any) -> int:
        return int(s.scalar(select(func.count()).select_from(model).where(where)) or 0)

    return {
        "dag_run": count(DagRun, DagRun.id.in_(run_pks)),
        "task_instance": count(TaskInstance, TaskInstance.run_pk.in_(run_pks)),
        "task_instance_try": count(TaskInstanceTry, TaskInstanceTry.ti_id.in_(tis)),
        "task_instance_note": count(TaskInstanceNote, TaskInstanceNote.ti_id.in_(tis)),
        "task_log_chunk": count(TaskLogChunk, TaskLogChunk.ti_id.in_(tis)),
        "xcom": count(XCom, XCom.run_pk.in_(run_pks)),
        "staging_dir": count(StagingDir, StagingDir.run_pk.in_(run_pks)),
    }


def _check(before: datetime, batch_size: int) -> None:
    if before.tzinfo is None:
        raise InvalidInputError("The cut-off date needs a time zone (e.g. 2026-01-01T00:00Z).")
    if not 1 <= batch_size <= MAX_BATCH:
        raise InvalidInputError(f"The batch size must be between 1 and {MAX_BATCH}.")


def plan(db: Database, *, before: datetime, dag_id: str | None = None) -> CleanResult:
    """The dry run: what ``clean`` would delete now, per table; changes nothing."""
    _check(before, 1)
    with db.read() as s:
        result = CleanResult(counts=_counts(s, _old_runs(before, dag_id).scalar_subquery()))
    return result


@dataclass(frozen=True)
class _Batch:
    counts: dict[str, int]
    runs: tuple[tuple[str, str], ...]  # (dag_id, run_id), for their artifacts
    log_paths: tuple[str, ...]
    staging_dirs: tuple[str, ...]


def _clean_batch(
    db: Database, before: datetime, dag_id: str | None, batch_size: int, actor: str
) -> _Batch | None:
    with db.transaction() as s:
        stmt = _old_runs(before, dag_id).order_by(DagRun.id).limit(batch_size)
        pks: Sequence[int] = s.scalars(stmt.with_for_update(skip_locked=True)).all()
        if not pks:
            return None
        runs = s.execute(select(DagRun.dag_id, DagRun.run_id).where(DagRun.id.in_(pks))).all()
        logs = s.scalars(
            select(TaskInstanceTry.log_path)
            .join(TaskInstance, TaskInstance.id == TaskInstanceTry.ti_id)
            .where(TaskInstance.run_pk.in_(pks), TaskInstanceTry.log_path.is_not(None))
        ).all()
        dirs = s.scalars(select(StagingDir.path).where(StagingDir.run_pk.in_(pks))).all()
        counts = _counts(s, pks)
        s.execute(delete(DagRun).where(DagRun.id.in_(pks)))
        record(s, actor, events.db_cleaned(counts, before=before, dag_id=dag_id))
        return _Batch(
            counts,
            tuple((r.dag_id, r.run_id) for r in runs),
            tuple(sorted({p for p in logs if p is not None})),
            tuple(dirs),
        )


def _discard(batch: _Batch, roots: FileRoots) -> int:
    removed = discard_files(
        batch.log_paths,
        batch.staging_dirs,
        logs_root=roots.logs_root,
        staging_root=roots.staging_root,
        shared_store_url=roots.shared_store_url,
    )
    by_dag: dict[str, list[str]] = {}
    for dag_id, run_id in batch.runs:
        by_dag.setdefault(dag_id, []).append(run_id)
    for dag_id, run_ids in by_dag.items():
        xcom_store.discard_artifacts(roots.artifacts, dag_id, run_ids)
    return removed


def clean(
    db: Database,
    *,
    before: datetime,
    actor: str,
    roots: FileRoots,
    dag_id: str | None = None,
    batch_size: int = 1000,
    on_batch: Callable[[CleanResult], None] | None = None,
) -> CleanResult:
    """Delete finished runs that ended before ``before`` (of ``dag_id`` only, if given), batch
    by batch until none is left; ``on_batch`` sees the running totals after each one."""
    _check(before, batch_size)
    result = CleanResult()
    while (batch := _clean_batch(db, before, dag_id, batch_size, actor)) is not None:
        result.add(batch.counts)
        result.files += _discard(batch, roots)
        result.batches += 1
        if on_batch is not None:
            on_batch(result)
    return result
