"""The audit log page: who did what to which target, filtered by action, actor, target, time.

Scoped as ``/api/v2/eventLogs`` is: a viewer sees the events of the DAGs of the projects where
they hold ``audit:read``; events without a DAG (users, tokens, logins) are for superusers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from pinflow.api.auth import DbDep, authorize
from pinflow.lifecycle.permissions import Permission, projects_with
from pinflow.services.reads import AuditEventView, audit_log
from pinflow.ui.session import PageUser
from pinflow.ui.templating import render

PAGE_SIZE = 50
Text = Annotated[str, Query(max_length=250)]
Offset = Annotated[int, Query(ge=0, le=2**62)]

router = APIRouter(prefix="/ui", include_in_schema=False)


def parse_moment(value: str) -> datetime | None:
    """A ``datetime-local`` input (``2026-01-01T12:00``), read as UTC; a zone is honoured."""
    if not value:
        return None
    moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _query(filters: dict[str, str]) -> audit_log.AuditQuery:
    """The filters as a query; ``ValueError`` for a time that is not one."""
    return audit_log.AuditQuery(
        action=filters["action"].strip() or None,
        actor=filters["actor"].strip() or None,
        target=filters["target"].strip() or None,
        since=parse_moment(filters["since"]),
        until=parse_moment(filters["until"]),
    )


@router.get("/audit")
def audit(
    *,
    request: Request,
    db: DbDep,
    user: PageUser,
    action: Text = "",
    actor: Text = "",
    target: Text = "",
    since: Text = "",
    until: Text = "",
    offset: Offset = 0,
) -> Response:
    authorize(user, Permission.AUDIT_READ, None)
    filters = {"action": action, "actor": actor, "target": target, "since": since, "until": until}
    events: list[AuditEventView] = []
    total, error = 0, None
    try:
        query = _query(filters)
    except ValueError:
        error = "Times must look like 2026-01-31T12:00 (UTC)."
    else:
        projects = projects_with(user, Permission.AUDIT_READ)
        events, total = audit_log.audit_events(db, query, projects, limit=PAGE_SIZE, offset=offset)
    return render(
        request,
        "audit.html",
        user=user,
        events=events,
        total=total,
        offset=offset,
        page_size=PAGE_SIZE,
        filters=filters,
        error=error,
    )
