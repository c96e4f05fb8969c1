"""Which pools, variables and connections a caller (or a task) may reach (ADR 0017).

The decisions are ``lifecycle.resource_access``'s; these helpers apply them to rows, inside
the caller's transaction: a row the caller may not see is "not found", exactly as a missing
one, and a list's filter is SQL.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pinflow.errors import ConflictError, NotFoundError, PermissionDeniedError
from pinflow.lifecycle.permissions import Permission, Principal, projects_with
from pinflow.lifecycle.resource_access import ResourceKind, can_manage, can_see, refusal
from pinflow.store import repo
from pinflow.store.tables import Connection, Dag, Pool, Project, Variable

T = TypeVar("T", Pool, Variable, Connection)


def key_of(model: type[T]) -> Any:
    """The column a resource is named by (unique across the instance)."""
    return {Pool: Pool.name, Variable: Variable.key, Connection: Connection.conn_id}[model]


def not_found(label: str, name: str) -> NotFoundError:
    return NotFoundError(f"The {label} with the name {name!r} was not found.")


def with_project(model: type[T]) -> Any:
    """The rows of ``model`` with their project's name (None: instance-wide)."""
    return select(model, Project.name).outerjoin(Project, Project.id == model.project_id)


def seen(
    s: Session, model: type[T], name: str, principal: Principal, kind: ResourceKind
) -> tuple[T, str | None]:
    """The row and its project, when the caller may see it; else "not found" (as a missing
    one: the caller learns nothing about what other projects hold)."""
    found = s.execute(with_project(model).where(key_of(model) == name)).one_or_none()
    if found is None or not can_see(principal, kind, found[1]):
        raise not_found(kind.value, name)
    return found[0], found[1]


def managed(
    s: Session, model: type[T], name: str, principal: Principal, kind: ResourceKind
) -> tuple[T, str | None]:
    row, project = seen(s, model, name, principal, kind)
    if not can_manage(principal, project):
        raise PermissionDeniedError(refusal(principal, kind, project))
    return row, project


def visible(model: type[T], principal: Principal, kind: ResourceKind) -> ColumnElement[bool] | None:
    """What a list shows the caller, as a SQL condition (None: everything)."""
    projects = projects_with(principal, Permission.WORKFLOW_READ)
    if projects is None:
        return None
    ids = select(Project.id).where(Project.name.in_(sorted(projects))).scalar_subquery()
    mine = model.project_id.in_(ids)
    return or_(model.project_id.is_(None), mine) if can_see(principal, kind, None) else mine


def listed(stmt: Any, model: type[T], principal: Principal, kind: ResourceKind) -> Any:
    condition = visible(model, principal, kind)
    return stmt if condition is None else stmt.where(condition)


def owner_id(
    s: Session, principal: Principal, kind: ResourceKind, project: str | None
) -> int | None:
    """The id of the project a new resource goes to, once the caller may manage it there."""
    if not can_manage(principal, project):
        raise PermissionDeniedError(refusal(principal, kind, project))
    return None if project is None else repo.project_id(s, project)


def for_task(s: Session, model: type[T], name: str, dag_id: str) -> T:
    """The row a task of ``dag_id`` may read: instance-wide or of the DAG's own project. One
    of another project is "not found", as for a user who may not see it."""
    dag_project = select(Dag.project_id).where(Dag.dag_id == dag_id).scalar_subquery()
    row = s.scalars(
        select(model)
        .where(key_of(model) == name)
        .where(or_(model.project_id.is_(None), model.project_id == dag_project))
    ).one_or_none()
    if row is None:
        raise not_found(model.__tablename__, name)
    return row


def insert(s: Session, row: Any, label: str, name: str) -> None:
    s.add(row)
    try:
        s.flush()
    except IntegrityError:
        raise ConflictError(f"The {label} with the name {name!r} already exists.") from None
