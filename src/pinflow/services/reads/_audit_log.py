"""Reading the audit log: who did what to which target, filtered and paged."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, select

from pinflow.services.reads._queries import check_page, invalid, total_of
from pinflow.services.reads._views import AuditEventView, audit_view
from pinflow.store.db import Database
from pinflow.store.tables import AuditEvent

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
