"""The canary comparison page of a version (ADR 0030): the summary line, per run the source's
state against the canary's, and per task what changed. The Canary action itself (plan, then
start) is the version page's dialog, through the JSON API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from pinflow.api.auth import DbDep
from pinflow.errors import NotFoundError
from pinflow.services.reads import canary as canary_reads
from pinflow.ui.pages_workflows import readable_version
from pinflow.ui.session import PageUser
from pinflow.ui.templating import render

router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("/workflows/{workflow_id}/canary")
def canary_page(
    request: Request,
    db: DbDep,
    user: PageUser,
    workflow_id: str,
    batch: Annotated[str | None, Query(max_length=36)] = None,
) -> Response:
    v = readable_version(db, user, workflow_id)
    try:
        report = canary_reads.latest_comparison(db, workflow_id, batch)
    except NotFoundError:
        report = None
    return render(
        request,
        "canary.html",
        user=user,
        v=v,
        report=report,
    )
