"""Reading the audit log: who did what to which target, filtered and paged (the API's exact
filters, and the audit page's prefixes and targets)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_, select

from pinflow.services.reads._queries import check_page, dag_ids_in, invalid, total_of
from pinflow.services.reads._views import AuditEventView, audit_view
from pinflow.store.db import Database
from pinflow.store.tables import AuditEvent

# Every target_type the services record: naming them lets the (type, id) index serve a search.
_TARGET_TYPES = (
    "workflow",
    "dag",
    "dag_run",
    "task_instance",
    "user",
    "pool",
    "variable",
    "connection",
)

ORDERS = ("desc", "asc")
_PREFIX_MARKS = (".", "*")


def _check_times(since: datetime | None, until: datetime | None) -> None:
    for field, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise invalid(field, "must be timezone-aware (e.g. 2026-01-01T00:00:00Z)")
    if since is not None and until is not None and since > until:
        raise invalid("since", f"must not be after until ({since} > {until})")


def _action_filter(stmt: Select[Any], action: str) -> Select[Any]:
    """``workflow.published`` matches exactly; ``workflow.`` or ``workflow*`` is a prefix."""
    if action.endswith(_PREFIX_MARKS):
        prefix = action.removesuffix("*")
        return stmt.where(AuditEvent.action.startswith(prefix, autoescape=True))
    return stmt.where(AuditEvent.action == action)


def _filtered(
    equal: dict[str, str | None],
    action: str | None,
    since: datetime | None,
    until: datetime | None,
) -> Select[Any]:
    stmt = select(AuditEvent)
    for name, value in equal.items():
        if value is not None:
            stmt = stmt.where(getattr(AuditEvent, name) == value)
    if action is not None:
        stmt = _action_filter(stmt, action)
    if since is not None:
        stmt = stmt.where(AuditEvent.at >= since)
    if until is not None:
        stmt = stmt.where(AuditEvent.at <= until)
    return stmt


def query_audit(
    db: Database,
    *,
    target_type: str | None = None,
    target_id: str | None = None,
    dag_id: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
    order: str = "desc",
) -> tuple[list[AuditEventView], int]:
    """Audit events matching every given filter, and the total before paging.

    ``since`` and ``until`` are inclusive. Events are ordered by time, then by id (insertion
    order), so events of one transaction keep their order.
    """
    check_page(limit, offset)
    if order not in ORDERS:
        raise invalid("order", f"must be 'desc' or 'asc', got {order!r}")
    _check_times(since, until)
    stmt = _filtered(
        {"target_type": target_type, "target_id": target_id, "dag_id": dag_id, "actor": actor},
        action,
        since,
        until,
    )
    keys = (AuditEvent.at, AuditEvent.id)
    ordering = [k.desc() for k in keys] if order == "desc" else [k.asc() for k in keys]
    with db.read() as s:
        total = total_of(s, stmt)
        rows = s.scalars(stmt.order_by(*ordering).limit(limit).offset(offset)).all()
        return [audit_view(row) for row in rows], total


# --- the UI's audit page: prefixes, a target and its children, project scope ------------


@dataclass(frozen=True)
class AuditQuery:
    action: str | None = None  # exact, or a prefix when it ends with "." or "*"
    actor: str | None = None
    target: str | None = None  # a target id, a DAG id, or a "dag/run" prefix
    since: datetime | None = None
    until: datetime | None = None


def _target_filter(target: str) -> ColumnElement[bool]:
    """A run or task (``dag/run``: it and its tasks), else a DAG id or any target's id. Each
    branch can use an index (``dag_id``; ``target_type, target_id``) at 100,000s of events."""
    if "/" in target:
        return and_(
            AuditEvent.dag_id == target.split("/", 1)[0],
            or_(
                AuditEvent.target_id == target,
                AuditEvent.target_id.startswith(target + "/", autoescape=True),
            ),
        )
    return or_(
        AuditEvent.dag_id == target,
        and_(AuditEvent.target_type.in_(_TARGET_TYPES), AuditEvent.target_id == target),
    )


def _audit_select(q: AuditQuery, projects: Collection[str] | None) -> Select[Any]:
    stmt = select(AuditEvent)
    if projects is not None:  # events of the caller's projects' DAGs only (event_log's rule)
        stmt = stmt.where(AuditEvent.dag_id.in_(dag_ids_in(projects)))
    if q.action:
        if q.action.endswith((".", "*")):
            prefix = q.action.removesuffix("*")
            stmt = stmt.where(AuditEvent.action.startswith(prefix, autoescape=True))
        else:
            stmt = stmt.where(AuditEvent.action == q.action)
    if q.actor:
        stmt = stmt.where(AuditEvent.actor == q.actor)
    if q.target:
        stmt = stmt.where(_target_filter(q.target))
    if q.since is not None:
        stmt = stmt.where(AuditEvent.at >= q.since)
    if q.until is not None:
        stmt = stmt.where(AuditEvent.at <= q.until)
    return stmt


def audit_events(
    db: Database, q: AuditQuery, projects: Collection[str] | None, *, limit: int, offset: int
) -> tuple[list[AuditEventView], int]:
    """Newest first; ``projects`` ``None``: every event (superusers)."""
    stmt = _audit_select(q, projects)
    with db.read() as s:
        total = total_of(s, stmt)
        page = stmt.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)
        rows = s.scalars(page.offset(offset)).all()
        return [audit_view(r) for r in rows], total
