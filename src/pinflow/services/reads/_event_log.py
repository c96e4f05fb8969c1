"""The audit log as Airflow's event log (``/api/v2/eventLogs``), scoped to what the caller
may see: an event belongs to the project of its DAG; events without a DAG (users, tokens,
logins) are instance-wide and shown to superusers only (``projects=None``)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select

from pinflow.errors import NotFoundError
from pinflow.services.reads._queries import AnySelect, Page, dag_ids_in, order_clauses, paged
from pinflow.services.reads._views import AuditEventView, audit_view
from pinflow.store.db import Database
from pinflow.store.tables import AuditEvent


@dataclass(frozen=True)
class EventFilter:
    """``projects``: events of DAGs in these projects only, and never events without a DAG
    (user and token events are instance-wide); ``None``: every event."""

    projects: Collection[str] | None = None
    dag_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None
    owner: str | None = None
    event: str | None = None
    included_events: tuple[str, ...] = ()
    excluded_events: tuple[str, ...] = ()
    before: datetime | None = None
    after: datetime | None = None


EVENT_ORDER: dict[str, Any] = {
    "id": AuditEvent.id,
    "event_log_id": AuditEvent.id,
    "when": AuditEvent.at,
    "dttm": AuditEvent.at,
    "event": AuditEvent.action,
    "owner": AuditEvent.actor,
    "dag_id": AuditEvent.dag_id,
}
_RUN_TARGETS = ("dag_run", "task_instance")


def _event_select(f: EventFilter) -> AnySelect:
    stmt = select(AuditEvent)
    if f.projects is not None:
        stmt = stmt.where(AuditEvent.dag_id.in_(dag_ids_in(f.projects)))
    for column, value in ((AuditEvent.dag_id, f.dag_id), (AuditEvent.actor, f.owner)):
        if value is not None:
            stmt = stmt.where(column == value)
    if f.event is not None:
        stmt = stmt.where(AuditEvent.action == f.event)
    if f.included_events:
        stmt = stmt.where(AuditEvent.action.in_(f.included_events))
    if f.excluded_events:
        stmt = stmt.where(AuditEvent.action.not_in(f.excluded_events))
    if f.after is not None:
        stmt = stmt.where(AuditEvent.at >= f.after)
    if f.before is not None:
        stmt = stmt.where(AuditEvent.at <= f.before)
    return _target_filters(stmt, f)


def _target_filters(stmt: AnySelect, f: EventFilter) -> AnySelect:
    """Runs and tasks are named in ``target_id`` as ``dag/run`` and ``dag/run/task``."""
    target = AuditEvent.target_id
    if f.run_id is not None:
        stmt = stmt.where(
            AuditEvent.target_type.in_(_RUN_TARGETS),
            or_(
                target.endswith(f"/{f.run_id}", autoescape=True),
                target.contains(f"/{f.run_id}/", autoescape=True),
            ),
        )
    if f.task_id is not None:
        stmt = stmt.where(
            AuditEvent.target_type == "task_instance",
            target.endswith(f"/{f.task_id}", autoescape=True),
        )
    return stmt


def list_events(
    db: Database, f: EventFilter, *, order_by: Sequence[str] = ("id",), page: Page = (50, 0)
) -> tuple[list[AuditEventView], int]:
    order = order_clauses(order_by, EVENT_ORDER, AuditEvent.id.asc())
    with db.read() as s:
        rows, total = paged(s, _event_select(f), order, page)
        return [audit_view(row) for (row,) in rows], total


def get_event(db: Database, event_id: int, projects: Collection[str] | None) -> AuditEventView:
    stmt = _event_select(EventFilter(projects=projects)).where(AuditEvent.id == event_id)
    with db.read() as s:
        row = s.scalars(stmt).one_or_none()
        if row is None:
            raise NotFoundError(f"Event log {event_id} was not found.")
        return audit_view(row)
