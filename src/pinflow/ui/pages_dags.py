"""The DAGs page: one row per DAG, as an operator thinks of it (issue #16, point 1).

Each row: the DAG's current version and its status, schedule, last and next run, a strip of
its latest runs by state, tags (each a filter), owner, and the pause toggle, which the page's
script flips through ``PATCH /api/v2/dags/{dag_id}`` (the API checks the permission again).
The versions list stays one click away: per DAG (its versions) and across DAGs (Workflows).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from pinflow.api.auth import DbDep
from pinflow.lifecycle.permissions import Permission, allows, projects_with
from pinflow.services.reads import DagFilter, dag_overview, dag_queries
from pinflow.ui.session import PageUser
from pinflow.ui.templating import render

PAGE_SIZE = 50
_PAUSED = {"": None, "active": False, "paused": True}
Offset = Annotated[int, Query(ge=0, le=2**62)]
Text = Annotated[str, Query(max_length=1000)]
Tags = Annotated[list[str] | None, Query(max_length=20)]

router = APIRouter(prefix="/ui", include_in_schema=False)


@router.get("/dags")
def dags(
    *,
    request: Request,
    db: DbDep,
    user: PageUser,
    search: Text = "",
    tag: Tags = None,
    paused: Text = "",
    offset: Offset = 0,
) -> Response:
    """Every DAG the viewer may read; filter by text, tags (all of them) and paused."""
    tags = tuple(dict.fromkeys(t for t in (tag or []) if t))
    wanted = paused if paused in _PAUSED else ""
    found, total = dag_queries.list_dags(
        db,
        DagFilter(
            projects=projects_with(user, Permission.WORKFLOW_READ),
            paused=_PAUSED[wanted],
            tags=tags,
            tags_match_all=True,
            search=search or None,
        ),
        page=(PAGE_SIZE, offset),
    )
    strips = dag_overview.recent_runs(db, [d.dag_id for d in found])
    rows = [
        {
            "dag": d,
            "runs": strips.get(d.dag_id, []),
            "can_pause": allows(user, Permission.RUN_UPDATE, d.project),
        }
        for d in found
    ]
    return render(
        request,
        "dags.html",
        user=user,
        rows=rows,
        total=total,
        offset=offset,
        page_size=PAGE_SIZE,
        filters={"search": search, "tag": list(tags), "paused": wanted},
    )
