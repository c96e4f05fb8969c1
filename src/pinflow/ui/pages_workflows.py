"""The workflow pages: the list, one version's detail, the designer, the diff of two versions.

Pages only read; every change is made by the page's script through the JSON API, with the
user's token (ADR 0005). A page checks ``workflow:read`` in the version's project, as the API.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response

from pinflow.api.auth import DbDep, authorize
from pinflow.errors import NotFoundError
from pinflow.lifecycle.diff import diff_specs
from pinflow.lifecycle.permissions import Permission, Principal, allows, projects_with
from pinflow.lifecycle.states import VersionStatus
from pinflow.services.commands import import_errors
from pinflow.services.reads import VersionView, canary, dag_queries, queries, version_stats
from pinflow.services.reads import read_models as reads
from pinflow.spec.validation import check_spec
from pinflow.ui.actions import Page, actions_for
from pinflow.ui.designer import spec_yaml
from pinflow.ui.graph import spec_layout
from pinflow.ui.session import PageUser
from pinflow.ui.templating import path_part, render

PAGE_SIZE = 25
IMPORT_ERRORS_SHOWN = 50
RUNS_SHOWN = 10
VERSIONS_SHOWN = 200
_STATUSES = {s.value for s in VersionStatus}
Offset = Annotated[int, Query(ge=0, le=2**62)]
Text = Annotated[str, Query(max_length=1000)]

router = APIRouter(prefix="/ui", include_in_schema=False)


def readable_version(db: DbDep, user: Principal, version_id: str) -> VersionView:
    version = queries.get_version(db, version_id)
    hidden = f"Workflow version {version_id!r} was not found."  # as a missing one (ADR 0017)
    authorize(user, Permission.WORKFLOW_READ, version.project, hidden)
    return version


@router.get("/workflows")
def workflows(
    *,
    request: Request,
    db: DbDep,
    user: PageUser,
    status: Text = "",
    deleted: bool = False,
    search: Text = "",
    offset: Offset = 0,
) -> Response:
    """Every version the viewer may read: filter by status, search, show deleted, pages."""
    wanted = status if status in _STATUSES else None
    found, total = queries.list_versions(
        db,
        status=wanted,
        include_deleted=deleted,
        search=search or None,
        projects=projects_with(user, Permission.WORKFLOW_READ),
        limit=PAGE_SIZE,
        offset=offset,
    )
    rows = [
        (v, actions_for(Page.LIST, v.status, deleted=v.deleted, project=v.project, viewer=user))
        for v in found
    ]
    return render(
        request,
        "workflows.html",
        user=user,
        rows=rows,
        live=reads.live_runs_by_version(db, [v.id for v in found]),
        total=total,
        offset=offset,
        page_size=PAGE_SIZE,
        filters={"status": wanted or "", "deleted": deleted, "search": search},
        statuses=[s.value for s in VersionStatus],
        import_errors=import_errors.list_errors(
            db, projects_with(user, Permission.WORKFLOW_READ), IMPORT_ERRORS_SHOWN
        )[0],
    )


def lineage(versions: Sequence[VersionView], current: VersionView) -> list[VersionView]:
    """The chain through ``sourceWorkflowId``: ancestors, the version, then what was cloned
    from it (oldest first). Bounded by the versions given (a purged source ends the chain)."""
    by_id = {v.id: v for v in versions}
    chain = [current]
    seen = {current.id}
    while chain[0].source_workflow_id in by_id and chain[0].source_workflow_id not in seen:
        source = by_id[chain[0].source_workflow_id or ""]
        seen.add(source.id)
        chain.insert(0, source)
    children = [v for v in versions if v.source_workflow_id == current.id]
    return chain + sorted(children, key=lambda v: v.created_at)


def _source_of(db: DbDep, version: VersionView) -> VersionView | None:
    if version.source_workflow_id is None:
        return None
    try:
        return queries.get_version(db, version.source_workflow_id)
    except NotFoundError:  # purged meanwhile (the link is ON DELETE SET NULL)
        return None


@router.get("/workflows/{workflow_id}")
def workflow(request: Request, db: DbDep, user: PageUser, workflow_id: str) -> Response:
    v = readable_version(db, user, workflow_id)
    spec = queries.get_version_spec(db, workflow_id)
    versions, _ = queries.list_versions(
        db, dag_id=v.dag_id, include_deleted=True, limit=VERSIONS_SHOWN
    )
    runs, runs_total, runs_live = reads.runs_of_version(db, workflow_id, limit=RUNS_SHOWN)
    source = _source_of(db, v)
    return render(
        request,
        "workflow.html",
        user=user,
        v=v,
        spec=spec,
        dag=dag_queries.get_dag(db, v.dag_id, include_deregistered=True),
        source=source,
        lineage=lineage(versions, v),
        versions=versions,
        runs=runs,
        runs_total=runs_total,
        live={v.id: runs_live},
        layout=spec_layout(spec),
        stats=version_stats.version_stats(db, workflow_id),
        canary=canary_facts(db, user, v, source),
        actions=actions_for(
            Page.DETAIL, v.status, deleted=v.deleted, project=v.project, viewer=user
        ),
    )


def canary_facts(
    db: DbDep, user: Principal, v: VersionView, source: VersionView | None
) -> dict[str, object]:
    """The Canary card: whether the viewer may start one, the default version to replay, the
    latest comparison's summary (ADR 0030)."""
    try:
        latest: str | None = canary.latest_comparison(db, v.id).summary
    except NotFoundError:
        latest = None
    runnable = v.status in (VersionStatus.DRAFT, VersionStatus.ACTIVE) and not v.deleted
    return {
        "can_start": runnable and allows(user, Permission.RUN_CREATE, v.project),
        "source": source,
        "latest": latest,
    }


@router.get("/workflows/{workflow_id}/designer")
def designer(request: Request, db: DbDep, user: PageUser, workflow_id: str) -> Response:
    """Edit a draft's definition as YAML; live validation and graph come from the script."""
    v = readable_version(db, user, workflow_id)
    spec = queries.get_version_spec(db, workflow_id)
    editable = v.status == VersionStatus.DRAFT and not v.deleted
    return render(
        request,
        "designer.html",
        user=user,
        v=v,
        text=spec_yaml(spec),
        layout=spec_layout(spec),
        warnings=check_spec(spec),
        editable=editable,
    )


def _previous(versions: Sequence[VersionView], to: VersionView) -> VersionView | None:
    """What a version is naturally compared with: its source, else the version before it."""
    by_id = {v.id: v for v in versions}
    if to.source_workflow_id in by_id:
        return by_id[to.source_workflow_id or ""]
    older = [v for v in versions if v.id != to.id and v.created_at <= to.created_at]
    return max(older, key=lambda v: v.created_at, default=None)


@router.get("/workflows/{workflow_id}/diff")
def diff_with_previous(db: DbDep, user: PageUser, workflow_id: str) -> Response:
    to = readable_version(db, user, workflow_id)
    versions, _ = queries.list_versions(
        db, dag_id=to.dag_id, include_deleted=True, limit=VERSIONS_SHOWN
    )
    before = _previous(versions, to) or to
    target = f"/ui/diff?from={path_part(before.id)}&to={path_part(to.id)}"
    return RedirectResponse(target, status_code=303)


@router.get("/diff")
def diff(
    request: Request,
    db: DbDep,
    user: PageUser,
    from_: Annotated[str, Query(alias="from", max_length=64)],
    to: Annotated[str, Query(max_length=64)],
) -> Response:
    """The structural diff of two versions (tasks, dependencies, schedule, variables)."""
    old, new = readable_version(db, user, from_), readable_version(db, user, to)
    versions, _ = queries.list_versions(
        db, dag_id=new.dag_id, include_deleted=True, limit=VERSIONS_SHOWN
    )
    changes = diff_specs(queries.get_version_spec(db, from_), queries.get_version_spec(db, to))
    return render(
        request,
        "diff.html",
        user=user,
        old=old,
        new=new,
        d=changes,
        versions=versions,
        stats=version_stats.compare(db, to, from_),
    )
