"""Airflow's ``/api/v2/dags`` and ``dagVersions``, with seed 000's delete, and what every v2
router shares: paging, ordering and the DAG-scoped authorization.

``DELETE /api/v2/dags/{dag_id}`` clears the DAG's history (runs, task instances, XComs, logs,
staging dirs) and keeps the DAG and its versions; ``?deregister=true`` deregisters it
(restorable: ``POST …/restore``). Both answer 409 while tasks run unless ``?force=true``, and
``GET …/impact`` previews what either would touch. Pausing is an operational act, so it needs
``run:update`` (operators pause DAGs), not the lifecycle's ``workflow:update``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field

from pinflow.api.auth import ArtifactsDep, DbDep, PrincipalDep, authorize, get_db, require
from pinflow.api.schemas import MAX_INT
from pinflow.api.v2_schemas import DagVersionCollectionResponse, DagVersionResponse
from pinflow.errors import InvalidInputError
from pinflow.lifecycle.dag_rules import Impact
from pinflow.lifecycle.permissions import Permission, Principal, projects_with
from pinflow.services.commands import dags
from pinflow.services.engine import xcom_store
from pinflow.services.reads import MAX_PAGE, DagDetails, DagFilter, DagInfo, Page, dag_queries
from pinflow.store.db import Database

router = APIRouter(prefix="/api/v2", tags=["DAG"])
ALL = "~"  # Airflow's "every DAG" / "every run" in a path


# --- shared by the v2 routers ------------------------------------------------------------------


def page(
    limit: Annotated[int, Query(ge=0, le=MAX_INT, description=f"At most {MAX_PAGE}")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_INT)] = 0,
) -> Page:
    """Airflow's paging; a limit above the maximum is lowered to it, as Airflow does."""
    return min(limit, MAX_PAGE), offset


PageDep = Annotated[Page, Depends(page)]
OrderBy = Annotated[
    list[str] | None, Query(description="Fields, `-` first for descending; several allowed")
]


def dag_project(db: Database, request: Request) -> str:
    return dag_queries.project_of(db, request.path_params["dag_id"])


def _dag_not_found(request: Request) -> str:
    return f"DAG {request.path_params['dag_id']!r} was not found."


def on_dag(permission: Permission) -> Any:
    """The caller, once it holds ``permission`` in the project of the path's DAG."""
    return require(permission, project=dag_project, hidden=_dag_not_found)


def on_dag_or_all(permission: Permission) -> Any:
    """As ``on_dag``; for ``~`` (every DAG), the permission in some project (lists are then
    limited to those projects)."""

    def dependency(request: Request, principal: PrincipalDep) -> Principal:
        if request.path_params["dag_id"] == ALL:
            authorize(principal, permission, None)
        else:
            project = dag_project(get_db(request), request)
            authorize(principal, permission, project, _dag_not_found(request))
        return principal

    return Depends(dependency)


def update_fields(update_mask: list[str] | None, allowed: set[str], given: set[str]) -> set[str]:
    """Airflow's ``update_mask``: the fields to change (default: those the body sets)."""
    if update_mask is None:
        return given & allowed
    unknown = sorted(set(update_mask) - allowed)
    if unknown:
        raise InvalidInputError(
            f"update_mask: cannot update {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(allowed))}"
        )
    return set(update_mask)


def refuse_unsupported(body: BaseModel, names: tuple[str, ...], why: str = "") -> None:
    """Airflow fields Pinflow cannot honour are refused (400), never silently ignored."""
    given = [name for name in names if getattr(body, name) not in (None, False)]
    if given:
        raise InvalidInputError(f"{', '.join(given)}: not supported by Pinflow{why}.")


Reader = Annotated[Principal, on_dag(Permission.WORKFLOW_READ)]
Operator = Annotated[Principal, on_dag(Permission.RUN_UPDATE)]
Deleter = Annotated[Principal, on_dag(Permission.WORKFLOW_DELETE)]
UpdateMask = Annotated[list[str] | None, Query()]


# --- bodies ------------------------------------------------------------------------------------


class DagTagResponse(BaseModel):
    name: str
    dag_id: str
    dag_display_name: str


class DagResponse(BaseModel):
    dag_id: str
    dag_display_name: str
    is_paused: bool
    is_stale: bool = Field(description="Deregistered (restorable)")
    last_parsed_time: datetime | None
    last_parse_duration: float | None = None
    last_expired: datetime | None = None
    bundle_name: str | None
    bundle_version: str | None
    relative_fileloc: str | None
    fileloc: str
    file_token: str
    description: str | None
    timetable_summary: str | None
    timetable_description: str | None
    timetable_periodic: bool
    timetable_partitioned: bool = False
    is_backfillable: bool
    tags: list[DagTagResponse]
    max_active_tasks: int
    max_active_runs: int | None
    max_consecutive_failed_dag_runs: int = 0
    has_task_concurrency_limits: bool = False
    has_import_errors: bool = False
    next_dagrun_logical_date: datetime | None = None
    next_dagrun_data_interval_start: datetime | None = None
    next_dagrun_data_interval_end: datetime | None = None
    next_dagrun_run_after: datetime | None
    owners: list[str]
    project: str = Field(description="Pinflow: the DAG's project")
    current_version_id: str | None = Field(description="Pinflow: what new runs use")
    current_version: int | None = Field(description="Pinflow: its version number")


def _dag_fields(d: DagInfo) -> dict[str, Any]:
    spec, name = d.spec, d.display_name
    schedule = spec.trigger.schedule if spec is not None else None
    summary = f"{schedule} ({spec.trigger.timezone})" if spec and schedule else None
    return {
        "dag_id": d.dag_id,
        "dag_display_name": name,
        "is_paused": d.is_paused,
        "is_stale": d.deregistered_at is not None,
        "last_parsed_time": d.updated_at,
        "bundle_name": d.project,
        "bundle_version": d.spec_digest,
        "relative_fileloc": f"{d.project}/{d.dag_id}",
        "fileloc": f"{d.project}/{d.dag_id}",
        "file_token": d.spec_version_id or "",
        "description": spec.description if spec else None,
        "timetable_summary": schedule,
        "timetable_description": summary or "Never, external triggers only",
        "timetable_periodic": schedule is not None,
        "is_backfillable": schedule is not None,
        "tags": [DagTagResponse(name=t, dag_id=d.dag_id, dag_display_name=name) for t in spec.tags]
        if spec
        else [],
        "max_active_tasks": spec.max_active_tasks if spec else 16,
        "max_active_runs": spec.max_active_runs if spec else 16,
        "next_dagrun_run_after": d.next_dagrun_after,
        "owners": [spec.owner] if spec else [],
        "project": d.project,
        "current_version_id": d.current_version_id,
        "current_version": d.current_version,
    }


def dag_response(d: DagInfo) -> DagResponse:
    return DagResponse(**_dag_fields(d))


class DagDetailsResponse(DagResponse):
    catchup: bool
    concurrency: int
    start_date: datetime | None
    end_date: datetime | None
    timezone: str | None
    params: dict[str, Any] | None
    default_args: dict[str, Any] | None
    doc_md: str | None = None
    dag_run_timeout: str | None = None
    is_paused_upon_creation: bool | None = None
    render_template_as_native_obj: bool = False
    template_search_path: list[str] | None = None
    active_runs_count: int
    latest_dag_version: DagVersionResponse | None
    rerun_with_latest_version: bool

    @classmethod
    def of(cls, details: DagDetails) -> DagDetailsResponse:
        d, spec = details.info, details.info.spec
        latest = details.latest_version
        return cls(
            **_dag_fields(d),
            catchup=spec.trigger.catchup if spec else False,
            concurrency=spec.max_active_tasks if spec else 16,
            start_date=spec.trigger.start_date if spec else None,
            end_date=spec.trigger.end_date if spec else None,
            timezone=spec.trigger.timezone if spec else None,
            params={k: p.model_dump(mode="json") for k, p in spec.params.items()} if spec else {},
            default_args=spec.default_args.model_dump(mode="json") if spec else None,
            active_runs_count=details.info.runs_in_flight,
            latest_dag_version=DagVersionResponse.of(latest) if latest else None,
            rerun_with_latest_version=d.rerun_with_latest_version,
            is_paused_upon_creation=spec.paused_at_creation if spec else None,
        )


class DagCollectionResponse(BaseModel):
    dags: list[DagResponse]
    total_entries: int


class DagPatchBody(BaseModel):
    is_paused: bool


class ImpactResponse(BaseModel):
    """Pinflow: what clearing, deregistering or purging the DAG would touch now."""

    dag_id: str
    runs_total: int
    runs_in_flight: list[str]
    running_tasks: int = Field(description="Task instances queued or running")
    task_instances: int
    versions: int
    xcoms: int
    staging_dirs: int
    log_files: int

    @classmethod
    def of(cls, i: Impact) -> ImpactResponse:
        return cls(
            dag_id=i.dag_id,
            runs_total=i.runs_total,
            runs_in_flight=list(i.runs_in_flight),
            running_tasks=i.running_tasks,
            task_instances=i.task_instances,
            versions=i.versions,
            xcoms=i.xcoms,
            staging_dirs=len(i.staging_dirs),
            log_files=len(i.log_paths),
        )


# --- routes ------------------------------------------------------------------------------------


class DagQuery(BaseModel):
    order_by: list[str] = Field(["dag_id"], description="`-` first for descending")
    tags: list[str] = []
    tags_match_mode: Literal["any", "all"] = "any"
    owners: list[str] = []
    dag_id_pattern: str | None = Field(None, max_length=MAX_PAGE)
    dag_id_prefix_pattern: str | None = Field(None, max_length=MAX_PAGE)
    dag_display_name_pattern: str | None = Field(None, max_length=MAX_PAGE)
    exclude_stale: bool = Field(True, description="Hide deregistered DAGs")
    paused: bool | None = None


@router.get("/dags", response_model=DagCollectionResponse)
def get_dags(
    db: DbDep,
    principal: Annotated[Principal, require(Permission.WORKFLOW_READ)],
    paging: PageDep,
    q: Annotated[DagQuery, Query()],
) -> DagCollectionResponse:
    """DAGs the caller may read; deregistered ones (stale) only with ``exclude_stale=false``."""
    f = DagFilter(
        projects=projects_with(principal, Permission.WORKFLOW_READ),
        include_stale=not q.exclude_stale,
        paused=q.paused,
        dag_id_pattern=q.dag_id_pattern,
        dag_id_prefix=q.dag_id_prefix_pattern,
        display_name_pattern=q.dag_display_name_pattern,
        tags=tuple(q.tags),
        tags_match_all=q.tags_match_mode == "all",
        owners=tuple(q.owners),
    )
    found, total = dag_queries.list_dags(db, f, order_by=q.order_by, page=paging)
    return DagCollectionResponse(dags=[dag_response(d) for d in found], total_entries=total)


@router.get("/dags/{dag_id}", response_model=DagResponse)
def get_dag(db: DbDep, dag_id: str, _: Reader) -> DagResponse:
    return dag_response(dag_queries.get_dag(db, dag_id))


@router.get("/dags/{dag_id}/details", response_model=DagDetailsResponse)
def get_dag_details(db: DbDep, dag_id: str, _: Reader) -> DagDetailsResponse:
    return DagDetailsResponse.of(dag_queries.get_dag_details(db, dag_id))


@router.patch("/dags/{dag_id}", response_model=DagResponse)
def patch_dag(
    db: DbDep, dag_id: str, body: DagPatchBody, principal: Operator, update_mask: UpdateMask = None
) -> DagResponse:
    """Pause or unpause (``is_paused``, the one field Airflow lets the API change)."""
    if update_fields(update_mask, {"is_paused"}, {"is_paused"}):
        dags.set_paused(db, dag_id, body.is_paused, actor=principal.username)
    return dag_response(dag_queries.get_dag(db, dag_id))


@router.delete("/dags/{dag_id}", status_code=204, response_class=Response)
def delete_dag(
    *,
    request: Request,
    db: DbDep,
    artifacts: ArtifactsDep,
    dag_id: str,
    principal: Deleter,
    deregister: bool = False,
    force: bool = False,
) -> Response:
    """Clear the DAG's history (seed 000); ``deregister=true`` removes the DAG from every list
    and schedule instead (restorable). 409 while tasks run, unless ``force=true``."""
    if deregister:
        dags.deregister(db, dag_id, actor=principal.username, force=force)
    else:
        impact = dags.clear_history(db, dag_id, actor=principal.username, force=force)
        settings = request.app.state.settings
        dag_queries.discard_files(
            impact.log_paths,
            impact.staging_dirs,
            logs_root=settings.logs_dir,
            staging_root=settings.staging_dir,
            shared_store_url=settings.shared_store_url,
        )
        xcom_store.discard_artifacts(artifacts, dag_id, impact.run_ids)
    return Response(status_code=204)


@router.get("/dags/{dag_id}/impact", response_model=ImpactResponse, tags=["Pinflow"])
def get_impact(db: DbDep, dag_id: str, _: Reader) -> ImpactResponse:
    """Pinflow: the impact preview of clearing history, deregistering or purging."""
    return ImpactResponse.of(dags.impact_preview(db, dag_id))


@router.post("/dags/{dag_id}/restore", response_model=DagResponse, tags=["Pinflow"])
def restore_dag(db: DbDep, dag_id: str, principal: Deleter) -> DagResponse:
    """Pinflow: undo a deregister; the DAG is back in lists and schedules."""
    dags.restore_dag(db, dag_id, actor=principal.username)
    return dag_response(dag_queries.get_dag(db, dag_id))


@router.get("/dags/{dag_id}/dagVersions", response_model=DagVersionCollectionResponse)
def get_dag_versions(
    *,
    db: DbDep,
    dag_id: str,
    _: Reader,
    paging: PageDep,
    order_by: OrderBy = None,
    version_number: Annotated[int | None, Query(ge=0, le=MAX_INT)] = None,
    include_drafts: Annotated[bool, Query(description="Pinflow: drafts too")] = False,
) -> DagVersionCollectionResponse:
    """Published versions (numbers unique per DAG); drafts with ``include_drafts=true``."""
    found, total = dag_queries.list_dag_versions(
        db,
        dag_id,
        include_drafts=include_drafts,
        version_number=version_number,
        order_by=order_by or ["version_number"],
        page=paging,
    )
    versions = [DagVersionResponse.of(v) for v in found]
    return DagVersionCollectionResponse(dag_versions=versions, total_entries=total)


@router.get("/dags/{dag_id}/dagVersions/{version_number}", response_model=DagVersionResponse)
def get_dag_version(
    db: DbDep, dag_id: str, version_number: Annotated[int, Path(ge=0, le=MAX_INT)], _: Reader
) -> DagVersionResponse:
    return DagVersionResponse.of(dag_queries.get_dag_version(db, dag_id, version_number))
