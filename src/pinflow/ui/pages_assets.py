"""The assets page (ADR 0037): every asset the user may see, the DAGs scheduled on it, the
tasks that update it, and its recent events with the runs they triggered; read from the same
services as ``/api/v2/assets``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from pinflow.api.auth import DbDep
from pinflow.lifecycle.permissions import Permission, projects_with
from pinflow.services.reads import assets
from pinflow.ui.session import PageUser
from pinflow.ui.templating import render

router = APIRouter(prefix="/ui", include_in_schema=False)
PAGE = 100
RECENT_EVENTS = 5


@router.get("/assets")
def asset_list(
    request: Request,
    db: DbDep,
    user: PageUser,
    dag_id: Annotated[str | None, Query(max_length=250)] = None,
) -> Response:
    projects = projects_with(user, Permission.WORKFLOW_READ)
    found, total = assets.list_assets(
        db, projects, page=(PAGE, 0), dag_ids=[dag_id] if dag_id else (), order_by=["uri"]
    )
    events = {
        a.id: assets.list_events(
            db,
            projects,
            assets.EventFilter(asset_id=a.id),
            page=(RECENT_EVENTS, 0),
            order_by=["-timestamp"],
        )[0]
        for a in found
    }
    return render(
        request,
        "assets.html",
        user=user,
        assets=found,
        total=total,
        events=events,
        dag_id=dag_id,
    )
