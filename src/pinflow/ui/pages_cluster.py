"""The cluster page: the schedulers and Celery workers on record, with their status, queues and
last heartbeat, and the broker's last check (what ``/api/v2/monitor/health`` reports, read from
the same service)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from pinflow.api.auth import DbDep
from pinflow.services.reads import fleet
from pinflow.ui.session import PageUser
from pinflow.ui.templating import render

router = APIRouter(prefix="/ui", include_in_schema=False)

BADGES = {
    "healthy": "badge-success",
    "unhealthy": "badge-danger",
    "unreachable": "badge-danger",
}
_MINUTE = 60
_HOUR = 3600


def ago(seconds: float) -> str:
    """How long ago, roughly: ``4s``, ``3m``, ``2h``."""
    if seconds < _MINUTE:
        return f"{seconds:.0f}s ago"
    if seconds < _HOUR:
        return f"{seconds // _MINUTE:.0f}m ago"
    return f"{seconds // _HOUR:.0f}h ago"


@router.get("/cluster")
def cluster(request: Request, db: DbDep, user: PageUser) -> Response:
    threshold: float = request.app.state.settings.scheduler_health_threshold
    seen = fleet.fleet(db, threshold=threshold)
    return render(
        request,
        "cluster.html",
        user=user,
        fleet=seen,
        status_badge=lambda status: BADGES.get(status, "badge-muted"),
        ago=ago,
    )
