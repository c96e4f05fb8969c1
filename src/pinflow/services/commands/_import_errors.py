"""DAG files that do not compile, as ``pinflow dev`` reports them (Airflow's import errors).

The server compiles nothing itself: the CLI reports a file's compile error (``report``) and
clears it on the next successful compile (``clear``). One row per filename (upserted).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select

from pinflow.errors import NotFoundError
from pinflow.services import audit_events as events
from pinflow.services.audit_events import record
from pinflow.services.common import now
from pinflow.store.db import Database
from pinflow.store.tables import DagImportError


@dataclass(frozen=True)
class ImportErrorView:
    id: int
    filename: str
    bundle_name: str | None
    stack_trace: str
    timestamp: datetime
    reported_by: str | None


def _view(row: DagImportError) -> ImportErrorView:
    return ImportErrorView(
        id=row.id,
        filename=row.filename,
        bundle_name=row.bundle_name,
        stack_trace=row.stack_trace,
        timestamp=row.timestamp,
        reported_by=row.reported_by,
    )


def report(
    db: Database, filename: str, message: str, *, actor: str, bundle_name: str | None = None
) -> ImportErrorView:
    """Record (or replace) the compile error of ``filename``; audited as ``dag.import_error``."""
    with db.transaction() as s:
        row = s.scalars(
            select(DagImportError).where(DagImportError.filename == filename)
        ).one_or_none()
        if row is None:
            row = DagImportError(filename=filename)
            s.add(row)
        row.stack_trace = message
        row.bundle_name = bundle_name
        row.timestamp = now()
        row.reported_by = actor
        s.flush()
        record(s, actor, events.import_error_reported(filename, bundle=bundle_name))
        return _view(row)


def clear(db: Database, filename: str, *, actor: str) -> bool:
    """Forget the error of ``filename`` (it compiles now); whether there was one."""
    with db.transaction() as s:
        result = s.execute(delete(DagImportError).where(DagImportError.filename == filename))
        return bool(getattr(result, "rowcount", 0))


def list_errors(
    db: Database, limit: int = 50, offset: int = 0
) -> tuple[list[ImportErrorView], int]:
    """One page of errors by id, and the total."""
    with db.read() as s:
        total = s.scalar(select(func.count()).select_from(DagImportError)) or 0
        rows = s.scalars(
            select(DagImportError).order_by(DagImportError.id).limit(limit).offset(offset)
        ).all()
        return [_view(r) for r in rows], total


def get_error(db: Database, error_id: int) -> ImportErrorView:
    with db.read() as s:
        row = s.get(DagImportError, error_id)
        if row is None:
            raise NotFoundError(f"Import error {error_id} was not found.")
        return _view(row)
