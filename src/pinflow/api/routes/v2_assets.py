"""Airflow 3's asset routes (ADR 0037): ``GET /api/v2/assets``, ``…/assets/{asset_id}``,
``GET``/``POST /api/v2/assets/events`` and ``GET /api/v2/dags/{dag_id}/assets/queuedEvents``.

Assets are read with ``workflow:read`` and seen through the DAGs that mention them (see
``services.reads.assets``). A manual event creates runs of the DAGs scheduled on the asset, so
it needs ``run:create`` in each of their projects, and is audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import AwareDatetime, BaseModel, Field

from pinflow.api.auth import DbDep, authorize, require
from pinflow.api.routes.v2_dags import PageDep, Reader
from pinflow.api.schemas import MAX_INT
from pinflow.errors import NotFoundError
from pinflow.lifecycle.permissions import Permission, Principal, projects_with
from pinflow.services.commands import assets as asset_commands
from pinflow.services.reads import MAX_PAGE
from pinflow.services.reads import assets as asset_reads

router = APIRouter(prefix="/api/v2", tags=["Asset"])
AssetReader = Annotated[Principal, require(Permission.WORKFLOW_READ)]
AssetId = Annotated[int, Path(ge=0, le=MAX_INT)]


class _Reference(BaseModel):
    dag_id: str
    created_at: datetime
    updated_at: datetime


class TaskReference(_Reference):
    task_id: str


class LastAssetEventResponse(BaseModel):
    id: int | None = None
    timestamp: datetime | None = None


class AssetResponse(BaseModel):
    id: int
    name: str
    uri: str
    group: str
    extra: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
    scheduled_dags: list[_Reference]
    producing_tasks: list[TaskReference]
    consuming_tasks: list[TaskReference]
    aliases: list[dict[str, Any]] = Field(default=[], description="Pinflow: always empty")
    watchers: list[dict[str, Any]] = Field(default=[], description="Pinflow: always empty")
    last_asset_event: LastAssetEventResponse | None

    @classmethod
    def of(cls, a: asset_reads.AssetInfo) -> AssetResponse:
        stamps = {"created_at": a.created_at, "updated_at": a.updated_at}
        last = a.last_event
        return cls(
            id=a.id,
            name=a.name,
            uri=a.uri,
            group=a.group,
            extra=a.extra,
            created_at=a.created_at,
            updated_at=a.updated_at,
            scheduled_dags=[_Reference(dag_id=d, **stamps) for d in a.scheduled_dags],
            producing_tasks=[
                TaskReference(dag_id=d, task_id=t, **stamps) for d, t in a.producing_tasks
            ],
            consuming_tasks=[
                TaskReference(dag_id=d, task_id=t, **stamps) for d, t in a.consuming_tasks
            ],
            last_asset_event=None
            if last is None
            else LastAssetEventResponse(id=last[0], timestamp=last[1]),
        )


class AssetCollectionResponse(BaseModel):
    assets: list[AssetResponse]
    total_entries: int


class DagRunAssetReference(BaseModel):
    run_id: str
    dag_id: str
    logical_date: datetime | None
    start_date: datetime | None
    end_date: datetime | None
    state: str
    data_interval_start: datetime | None
    data_interval_end: datetime | None
    triggering: bool = Field(description="whether this event triggered the run")


class AssetEventResponse(BaseModel):
    id: int
    asset_id: int
    uri: str | None
    name: str | None
    group: str | None
    extra: dict[str, Any] | None
    source_task_id: str | None
    source_dag_id: str | None
    source_run_id: str | None
    source_map_index: int
    created_dagruns: list[DagRunAssetReference]
    timestamp: datetime

    @classmethod
    def of(cls, e: asset_reads.AssetEventInfo) -> AssetEventResponse:
        runs = [
            DagRunAssetReference(
                run_id=r.run_id,
                dag_id=r.dag_id,
                logical_date=r.logical_date,
                start_date=r.start_date,
                end_date=r.end_date,
                state=r.state,
                data_interval_start=r.data_interval_start,
                data_interval_end=r.data_interval_end,
                triggering=True,
            )
            for r in e.created_dagruns
        ]
        return cls(
            id=e.id,
            asset_id=e.asset_id,
            uri=e.uri,
            name=e.name,
            group=e.group,
            extra=e.extra,
            source_task_id=e.source_task_id,
            source_dag_id=e.source_dag_id,
            source_run_id=e.source_run_id,
            source_map_index=e.source_map_index,
            created_dagruns=runs,
            timestamp=e.timestamp,
        )


class AssetEventCollectionResponse(BaseModel):
    asset_events: list[AssetEventResponse]
    total_entries: int


class CreateAssetEventsBody(BaseModel):
    model_config = {"extra": "forbid"}

    asset_id: int = Field(ge=0, le=MAX_INT)
    extra: dict[str, Any] = Field(default_factory=dict)


class QueuedEventResponse(BaseModel):
    dag_id: str
    asset_id: int
    created_at: datetime
    dag_display_name: str


class QueuedEventCollectionResponse(BaseModel):
    queued_events: list[QueuedEventResponse]
    total_entries: int


class AssetQuery(BaseModel):
    order_by: list[str] = Field(["id"], description="`-` first for descending")
    uri_pattern: str | None = Field(None, max_length=MAX_PAGE)
    name_pattern: str | None = Field(None, max_length=MAX_PAGE)
    dag_ids: list[str] = Field([], description="assets these DAGs mention")


class AssetEventQuery(BaseModel):
    order_by: list[str] = Field(["timestamp"], description="`-` first for descending")
    asset_id: int | None = Field(None, ge=0, le=MAX_INT)
    source_dag_id: str | None = Field(None, max_length=MAX_PAGE)
    source_task_id: str | None = Field(None, max_length=MAX_PAGE)
    source_run_id: str | None = Field(None, max_length=MAX_PAGE)
    timestamp_gte: AwareDatetime | None = None
    timestamp_lte: AwareDatetime | None = None


@router.get("/assets", response_model=AssetCollectionResponse)
def get_assets(
    db: DbDep, principal: AssetReader, paging: PageDep, q: Annotated[AssetQuery, Query()]
) -> AssetCollectionResponse:
    """The assets a DAG of a project the caller may read mentions."""
    found, total = asset_reads.list_assets(
        db,
        projects_with(principal, Permission.WORKFLOW_READ),
        page=paging,
        uri_pattern=q.uri_pattern,
        name_pattern=q.name_pattern,
        dag_ids=q.dag_ids,
        order_by=q.order_by,
    )
    return AssetCollectionResponse(assets=[AssetResponse.of(a) for a in found], total_entries=total)


@router.get("/assets/events", response_model=AssetEventCollectionResponse)
def get_asset_events(
    db: DbDep, principal: AssetReader, paging: PageDep, q: Annotated[AssetEventQuery, Query()]
) -> AssetEventCollectionResponse:
    """Events of the assets the caller may see, oldest first unless ``order_by`` says not."""
    f = asset_reads.EventFilter(
        asset_id=q.asset_id,
        source_dag_id=q.source_dag_id,
        source_task_id=q.source_task_id,
        source_run_id=q.source_run_id,
        timestamp_gte=q.timestamp_gte,
        timestamp_lte=q.timestamp_lte,
    )
    projects = projects_with(principal, Permission.WORKFLOW_READ)
    found, total = asset_reads.list_events(db, projects, f, page=paging, order_by=q.order_by)
    return AssetEventCollectionResponse(
        asset_events=[AssetEventResponse.of(e) for e in found], total_entries=total
    )


@router.post("/assets/events", response_model=AssetEventResponse)
def create_asset_event(
    db: DbDep, principal: AssetReader, body: CreateAssetEventsBody
) -> AssetEventResponse:
    """A manual event of the asset: it triggers the DAGs scheduled on it as a producer's
    success would. Needs ``run:create`` in the project of each of them."""
    projects = projects_with(principal, Permission.WORKFLOW_READ)
    asset_reads.get_asset(db, body.asset_id, projects)  # 404 for an asset the caller cannot see
    for project in sorted({p for _, p in asset_reads.consumers_of(db, body.asset_id)}):
        authorize(principal, Permission.RUN_CREATE, project)
    event_id = asset_commands.create_event(
        db, body.asset_id, extra=body.extra, actor=principal.username
    )
    f = asset_reads.EventFilter(asset_id=body.asset_id)
    found, _ = asset_reads.list_events(db, None, f, page=(1, 0), order_by=["-id"])
    if not found or found[0].id != event_id:  # pragma: no cover - only a purge in between
        raise NotFoundError(f"Asset event {event_id} was not found.")
    return AssetEventResponse.of(found[0])


@router.get("/assets/{asset_id}", response_model=AssetResponse)
def get_asset(db: DbDep, asset_id: AssetId, principal: AssetReader) -> AssetResponse:
    projects = projects_with(principal, Permission.WORKFLOW_READ)
    return AssetResponse.of(asset_reads.get_asset(db, asset_id, projects))


@router.get("/dags/{dag_id}/assets/queuedEvents", response_model=QueuedEventCollectionResponse)
def get_dag_asset_queued_events(db: DbDep, dag_id: str, _: Reader) -> QueuedEventCollectionResponse:
    """Per asset the DAG is scheduled on, the latest event waiting for its next run."""
    found = asset_reads.queued_events(db, dag_id)
    events = [
        QueuedEventResponse(
            dag_id=q.dag_id, asset_id=q.asset_id, created_at=q.created_at, dag_display_name=dag_id
        )
        for q in found
    ]
    return QueuedEventCollectionResponse(queued_events=events, total_entries=len(events))
