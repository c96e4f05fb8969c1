"""DAG files that do not compile, as ``pinflow dev`` reports them (Airflow's import errors).

The server compiles nothing itself: the CLI reports a file's compile error (``report``) and
clears it on the next successful compile (``clear``). One row per filename of a project
(upserted). An error is its project's: reported by whoever may push there, listed to its
members only (``projects``: the projects the reader may see, None for every one); errors
reported before they had a project are seen by superusers only.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select

from pinflow.errors import NotFoundError
from pinflow.services import audit_events as events
from pinflow.services.audit_events import record
from pinflow.services.common import now
from pinflow.store import repo
from pinflow.store.db import Database
from pinflow.store.tables import DagImportError, Project


@dataclass(frozen=True)
class ImportErrorView:
    id: int
    project: str | None
    filename: str
    bundle_name: str | None
    stack_trace: str
    timestamp: datetime
    reported_by: str | None


def _view(row: DagImportError, project: str | None) -> ImportErrorView:
    return ImportErrorView(
        id=row.id,
        project=project,
        filename=row.filename,
        bundle_name=row.bundle_name,
        stack_trace=row.stack_trace,
        timestamp=row.timestamp,
        reported_by=row.reported_by,
    )


def _of_project(project: str) -> Any:
    return select(Project.id).where(Project.name == project).scalar_subquery()


def report(
    db: Database,
    project: str,
    filename: str,
    message: str,
    *,
    actor: str,
    bundle_name: str | None = None,
) -> ImportErrorView:
    """Record (or replace) the compile error of ``filename`` in ``project``; audited as
    ``dag.import_error``."""
    with db.transaction() as s:
        pid = repo.project_id(s, project)
        row = s.scalars(
            select(DagImportError).where(
                DagImportError.project_id == pid, DagImportError.filename == filename
            )
        ).one_or_none()
        if row is None:
            row = DagImportError(filename=filename, project_id=pid)
            s.add(row)
        row.stack_trace = message
        row.bundle_name = bundle_name
        row.timestamp = now()
        row.reported_by = actor
        s.flush()
        record(s, actor, events.import_error_reported(filename, bundle=bundle_name))
        return _view(row, project)


def clear(db: Database, project: str, filename: str, *, actor: str) -> bool:
    """Forget the error of ``filename`` in ``project`` (it compiles now); whether there was one."""
    with db.transaction() as s:
        result = s.execute(
            delete(DagImportError).where(
                DagImportError.project_id == _of_project(project),
                DagImportError.filename == filename,
            )
        )
        return bool(getattr(result, "rowcount", 0))


def _seen(projects: Collection[str] | None) -> Any:
    stmt = select(DagImportError, Project.name).outerjoin(
        Project, Project.id == DagImportError.project_id
    )
    return stmt if projects is None else stmt.where(Project.name.in_(sorted(projects)))


def list_errors(
    db: Database, projects: Collection[str] | None, limit: int = 50, offset: int = 0
) -> tuple[list[ImportErrorView], int]:
    """One page of the errors of ``projects`` by id, and their total."""
    stmt = _seen(projects)
    with db.read() as s:
        total = s.scalar(select(func.count()).select_from(stmt.subquery())) or 0
        rows = s.execute(stmt.order_by(DagImportError.id).limit(limit).offset(offset)).all()
        return [_view(row, project) for row, project in rows], total


def get_error(db: Database, error_id: int, projects: Collection[str] | None) -> ImportErrorView:
    """One error, when it is of ``projects``; else "not found", as a missing one."""
    with db.read() as s:
        found = s.execute(_seen(projects).where(DagImportError.id == error_id)).one_or_none()
        if found is None:
            raise NotFoundError(f"Import error {error_id} was not found.")
        return _view(found[0], found[1])
