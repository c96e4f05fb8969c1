"""Read-only queries: versions and DAGs as frozen views, with paging and search.

Reads use ``Database.read()`` (no write lock on SQLite) and record no audit event. What is
hidden by default: soft-deleted versions, deregistered DAGs and their versions.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session, aliased

from pinflow.errors import InvalidInputError, NotFoundError, Problem
from pinflow.lifecycle.states import UNFINISHED_RUN_STATES, VersionStatus
from pinflow.services.reads._views import VersionView, version_view
from pinflow.spec.models import DagSpec
from pinflow.store import repo
from pinflow.store.db import Database
from pinflow.store.tables import Dag, Project, WorkflowDefinition, WorkflowSet

AnySelect = Select[*tuple[Any, ...]]
MAX_PAGE = 1000
_LIVE_RUNS = tuple(s.value for s in UNFINISHED_RUN_STATES)
_CURRENT = aliased(WorkflowDefinition)


# --- shared checks -----------------------------------------------------------------------------


def invalid(field: str, message: str) -> InvalidInputError:
    """An ``InvalidInputError`` whose message and single problem both name ``field``."""
    return InvalidInputError(f"{field}: {message}", problems=[Problem(field, message)])


def check_page(limit: int, offset: int) -> None:
    if not 1 <= limit <= MAX_PAGE:
        raise invalid("limit", f"must be between 1 and {MAX_PAGE}, got {limit}")
    if offset < 0:
        raise invalid("offset", f"must be 0 or more, got {offset}")


def check_paging(page: tuple[int, int]) -> None:
    """Airflow's paging: ``limit`` 0 asks for the total only."""
    limit, offset = page
    if not 0 <= limit <= MAX_PAGE:
        raise invalid("limit", f"must be between 0 and {MAX_PAGE}, got {limit}")
    if offset < 0:
        raise invalid("offset", f"must be 0 or more, got {offset}")


def search_term(search: str | None) -> str | None:
    """A trimmed search text, or ``None`` when there is nothing to search for."""
    if search is None:
        return None
    term = search.strip()
    if len(term) > MAX_PAGE:
        raise invalid("search", f"must be at most {MAX_PAGE} characters")
    return term or None


def contains(term: str, *columns: Any) -> ColumnElement[bool]:
    """Any of ``columns`` contains ``term``, case-insensitively; ``%`` and ``_`` are literal."""
    return or_(*(column.icontains(term, autoescape=True) for column in columns))


def total_of(session: Session, stmt: AnySelect) -> int:
    """The row count of ``stmt`` without its paging and ordering."""
    inner = stmt.order_by(None).limit(None).offset(None).subquery()
    return session.scalars(select(func.count()).select_from(inner)).one()


# --- versions ----------------------------------------------------------------------------------


def _version_select() -> AnySelect:
    return (
        select(WorkflowDefinition, Project.name, WorkflowSet.name, Dag.current_version_id)
        .join(Dag, Dag.dag_id == WorkflowDefinition.dag_id)
        .join(Project, Project.id == WorkflowDefinition.project_id)
        .outerjoin(WorkflowSet, WorkflowSet.id == WorkflowDefinition.workflow_set_id)
    )


def _version_views(session: Session, stmt: AnySelect) -> list[VersionView]:
    return [
        version_view(row, project=project, workflow_set=wset, current_id=current)
        for row, project, wset, current in session.execute(stmt).all()
    ]


def _status(status: VersionStatus | str | None) -> VersionStatus | None:
    if status is None:
        return None
    try:
        return VersionStatus(status)
    except ValueError:
        allowed = ", ".join(s.value for s in VersionStatus)
        raise invalid("status", f"must be one of {allowed}, got {status!r}") from None


def _require_dag(session: Session, dag_id: str, *, include_deregistered: bool) -> None:
    dag = session.get(Dag, dag_id)
    if dag is None or (dag.deregistered_at is not None and not include_deregistered):
        raise NotFoundError(f"DAG {dag_id!r} was not found.")


_VERSION_ORDER = (
    WorkflowDefinition.dag_id,
    WorkflowDefinition.version.desc(),
    WorkflowDefinition.created_at.desc(),
    WorkflowDefinition.id,
)


def _version_filters(
    wanted: VersionStatus | None, include_deleted: bool, term: str | None
) -> AnySelect:
    stmt = _version_select()
    if wanted is not None:
        stmt = stmt.where(WorkflowDefinition.status == wanted.value)
    if not include_deleted:
        stmt = stmt.where(WorkflowDefinition.deleted_at.is_(None), Dag.deregistered_at.is_(None))
    if term is not None:
        stmt = stmt.where(contains(term, WorkflowDefinition.name, WorkflowDefinition.dag_id))
    return stmt


def list_versions(
    db: Database,
    *,
    dag_id: str | None = None,
    status: VersionStatus | str | None = None,
    include_deleted: bool = False,
    search: str | None = None,
    projects: Collection[str] | None = None,
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[VersionView], int]:
    """Versions, newest first within each DAG, and the total before paging.

    ``projects`` restricts the list to versions in those projects (what the caller may read);
    ``None`` means every project.

    ``include_deleted`` also shows what is hidden by default: soft-deleted versions and the
    versions of deregistered DAGs (the "trash" view). ``search`` matches the name or the
    ``dag_id``, case-insensitively.
    """
    check_page(limit, offset)
    stmt = _version_filters(_status(status), include_deleted, search_term(search))
    with db.read() as s:
        if dag_id is not None:
            _require_dag(s, dag_id, include_deregistered=include_deleted)
            stmt = stmt.where(WorkflowDefinition.dag_id == dag_id)
        if projects is not None:
            stmt = stmt.where(
                WorkflowDefinition.project_id.in_(
                    select(Project.id).where(Project.name.in_(list(projects)))
                )
            )
        total = total_of(s, stmt)
        page = stmt.order_by(*_VERSION_ORDER).limit(limit).offset(offset)
        return _version_views(s, page), total


def get_version(db: Database, version_id: str) -> VersionView:
    """One version by id, whatever its status, soft-deleted or not (so it can be restored)."""
    with db.read() as s:
        views = _version_views(s, _version_select().where(WorkflowDefinition.id == version_id))
        if not views:
            raise NotFoundError(f"Workflow version {version_id!r} was not found.")
        return views[0]


def get_version_spec(db: Database, version_id: str) -> DagSpec:
    """The definition a version currently points at (its snapshot's spec)."""
    with db.read() as s:
        digest = s.scalars(
            select(WorkflowDefinition.snapshot_digest).where(WorkflowDefinition.id == version_id)
        ).one_or_none()
        if digest is None:
            raise NotFoundError(f"Workflow version {version_id!r} was not found.")
        return repo.load_spec(s, digest)


# --- DAGs --------------------------------------------------------------------------------------


# --- ordering, paging, project scope (Airflow's /api/v2 lists) ---------------------------------


Page = tuple[int, int]  # limit, offset


def order_clauses(
    order_by: Sequence[str], columns: Mapping[str, Any], tiebreak: Any
) -> list[ColumnElement[Any]]:
    """Airflow's ``order_by``: names with an optional ``-`` for descending, several allowed."""
    clauses: list[ColumnElement[Any]] = []
    for name in order_by:
        column = columns.get(name.removeprefix("-"))
        if column is None:
            allowed = ", ".join(sorted(columns))
            raise invalid("order_by", f"cannot order by {name!r}; use one of {allowed}")
        ordered = column.desc() if name.startswith("-") else column.asc()
        clauses.append(ordered.nulls_last())
    return [*clauses, tiebreak]


def paged(s: Session, stmt: AnySelect, order: list[ColumnElement[Any]], page: Page) -> Any:
    """The rows of one page and the total before paging (``limit`` 0: the total only)."""
    limit, offset = page
    total = total_of(s, stmt)
    rows = s.execute(stmt.order_by(*order).limit(limit).offset(offset)).all() if limit else []
    return rows, total


def dag_ids_in(projects: Collection[str]) -> Any:
    """The DAG ids of ``projects``, as a subquery."""
    return (
        select(Dag.dag_id)
        .join(Project, Project.id == Dag.project_id)
        .where(Project.name.in_(list(projects)))
        .scalar_subquery()
    )


def pattern(value: str) -> str:
    """Airflow's ``*_pattern`` filters: a case-insensitive substring, ``%`` and ``_`` allowed."""
    return f"%{value}%"
