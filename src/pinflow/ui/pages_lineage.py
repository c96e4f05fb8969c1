"""A DAG's page of versions (issue #18, points 3 and 5): the lineage timeline (each version's
status, where it came from, who published and deprecated it, its runs) and the DAG's
retirement policy with what it will do next (ADR 0031).

Editors and admins of the DAG's project get the policy form, which the page's script sends
to ``PUT /api/dags/{dag_id}/retirement-policy`` (the API checks the permission again);
members see it read-only.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import Response

from pinflow.api.auth import DbDep, authorize
from pinflow.lifecycle.permissions import Permission, allows
from pinflow.lifecycle.retirement import format_duration
from pinflow.services.reads import dag_queries, lineage
from pinflow.services.reads import retirement as policy_reads
from pinflow.ui.session import PageUser
from pinflow.ui.templating import render

router = APIRouter(prefix="/ui/dags/{dag_id}", include_in_schema=False)


@router.get("/versions")
def versions(request: Request, db: DbDep, user: PageUser, dag_id: str) -> Response:
    """The lineage timeline, newest first, and the retirement policy with its preview."""
    project = dag_queries.project_of(db, dag_id)
    authorize(user, Permission.WORKFLOW_READ, project, f"DAG {dag_id!r} was not found.")
    found = lineage.lineage(db, dag_id)
    preview = policy_reads.preview(db, dag_id, now=datetime.now(UTC))
    after = preview.view.policy.purge_deprecated_after
    labels = {v.id: v.version for v in found.versions}
    return render(
        request,
        "dag_versions.html",
        user=user,
        dag_id=dag_id,
        lineage=found,
        timeline=list(reversed(found.versions)),
        labels=labels,
        preview=preview,
        policy=preview.view.policy,
        purge_after="" if after is None else format_duration(after),
        can_edit=allows(user, Permission.WORKFLOW_UPDATE, project),
    )
