"""Airflow's instance-wide endpoints: ``importErrors``, ``eventLogs`` (the audit log) and
``pools`` (variables and connections, which hold secrets, are in ``v2_resources``).

- Import errors: Pinflow compiles DAGs on the client and refuses a DAG that does not compile
  at push; ``pinflow dev`` reports a file's compile error (``PUT /api/import-errors``, in
  ``push``) and clears it on the next successful compile. An error is its project's: listed
  to the project's members only, and a 404 to anyone else (ADR 0017).
- Event logs: an event is visible with ``audit:read`` in its DAG's project; events without a
  DAG (users, tokens, logins) only to superusers. ``extra`` is the event's metadata as JSON.
- Pools: a project's (``project``, a Pinflow field) are its members' to read and its admins'
  to change; instance-wide ones are read with ``workflow:read`` somewhere and changed by
  superusers only (a project's admin must not throttle every other project's tasks). One the
  caller may not see is a 404 (ADR 0017). Pinflow has no teams (``team_name`` is refused).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from pinflow.api.auth import DbDep, PrincipalDep, require
from pinflow.api.routes.v2_dags import OrderBy, PageDep, UpdateMask, update_fields
from pinflow.api.routes.v2_resources import PROJECT_FIELD, no_move
from pinflow.api.schemas import MAX_INT
from pinflow.errors import InvalidInputError
from pinflow.lifecycle.permissions import Permission, Principal, projects_with
from pinflow.services.commands import ImportErrorView, PoolView, import_errors, pools
from pinflow.services.reads import AuditEventView, EventFilter, event_log

router = APIRouter(prefix="/api/v2")
AnyReader = Annotated[Principal, require(Permission.WORKFLOW_READ)]
AuditReader = Annotated[Principal, require(Permission.AUDIT_READ)]
_INT32 = 2**31 - 1


def _no_team(team_name: str | None) -> None:
    if team_name is not None:
        raise InvalidInputError("team_name: Pinflow has no teams (use `project`).")


# --- import errors -----------------------------------------------------------------------------


class ImportErrorResponse(BaseModel):
    import_error_id: int
    project: str | None = Field(None, description="Pinflow: the project of the DAG file")
    timestamp: datetime
    filename: str
    bundle_name: str | None
    stack_trace: str

    @classmethod
    def of(cls, e: ImportErrorView) -> ImportErrorResponse:
        return cls(
            import_error_id=e.id,
            project=e.project,
            timestamp=e.timestamp,
            filename=e.filename,
            bundle_name=e.bundle_name,
            stack_trace=e.stack_trace,
        )


class ImportErrorCollectionResponse(BaseModel):
    import_errors: list[ImportErrorResponse]
    total_entries: int


@router.get("/importErrors", response_model=ImportErrorCollectionResponse, tags=["ImportError"])
def get_import_errors(
    db: DbDep, principal: AnyReader, paging: PageDep
) -> ImportErrorCollectionResponse:
    """The files ``pinflow dev`` reported as not compiling, oldest first (see the module doc)."""
    limit, offset = paging
    projects = projects_with(principal, Permission.WORKFLOW_READ)
    found, total = import_errors.list_errors(db, projects, limit, offset)
    listed = [ImportErrorResponse.of(e) for e in found]
    return ImportErrorCollectionResponse(import_errors=listed, total_entries=total)


@router.get(
    "/importErrors/{import_error_id}", response_model=ImportErrorResponse, tags=["ImportError"]
)
def get_import_error(
    db: DbDep, import_error_id: Annotated[int, Path(ge=0, le=MAX_INT)], principal: PrincipalDep
) -> ImportErrorResponse:
    projects = projects_with(principal, Permission.WORKFLOW_READ)
    return ImportErrorResponse.of(import_errors.get_error(db, import_error_id, projects))


# --- event logs --------------------------------------------------------------------------------


class EventLogResponse(BaseModel):
    event_log_id: int
    when: datetime
    dag_id: str | None
    dag_display_name: str | None
    task_id: str | None
    task_display_name: str | None
    run_id: str | None
    map_index: int | None
    try_number: int | None = None
    event: str
    logical_date: datetime | None = None
    owner: str | None
    extra: str | None
    target_type: str = Field(description="Pinflow: what the event is about")
    target_id: str = Field(description="Pinflow: its id (`dag/run/task` for a task)")

    @classmethod
    def of(cls, e: AuditEventView) -> EventLogResponse:
        parts = e.target_id.split("/")
        run_id = parts[1] if e.target_type in ("dag_run", "task_instance") else None
        task_id = parts[2] if e.target_type == "task_instance" and len(parts) > 2 else None
        return cls(
            event_log_id=e.id,
            when=e.at,
            dag_id=e.dag_id,
            dag_display_name=e.dag_id,
            task_id=task_id,
            task_display_name=task_id,
            run_id=run_id if len(parts) > 1 else None,
            map_index=e.meta.get("mapIndex") if task_id else None,
            event=e.action,
            owner=e.actor,
            extra=json.dumps(e.meta) if e.meta else None,
            target_type=e.target_type,
            target_id=e.target_id,
        )


class EventLogCollectionResponse(BaseModel):
    event_logs: list[EventLogResponse]
    total_entries: int


class EventLogQuery(BaseModel):
    order_by: list[str] = Field(["id"], description="`-` first for descending")
    dag_id: str | None = Field(None, max_length=250)
    task_id: str | None = Field(None, max_length=250)
    run_id: str | None = Field(None, max_length=250)
    owner: str | None = Field(None, max_length=250)
    event: str | None = Field(None, max_length=100)
    included_events: list[str] = []
    excluded_events: list[str] = []
    before: AwareDatetime | None = None
    after: AwareDatetime | None = None


@router.get("/eventLogs", response_model=EventLogCollectionResponse, tags=["EventLog"])
def get_event_logs(
    db: DbDep, principal: AuditReader, paging: PageDep, q: Annotated[EventLogQuery, Query()]
) -> EventLogCollectionResponse:
    """The audit log, oldest first by default (``order_by=-id`` for the newest first)."""
    f = EventFilter(
        projects=projects_with(principal, Permission.AUDIT_READ),
        **q.model_dump(exclude={"order_by", "included_events", "excluded_events"}),
        included_events=tuple(q.included_events),
        excluded_events=tuple(q.excluded_events),
    )
    found, total = event_log.list_events(db, f, order_by=q.order_by, page=paging)
    logs = [EventLogResponse.of(e) for e in found]
    return EventLogCollectionResponse(event_logs=logs, total_entries=total)


@router.get("/eventLogs/{event_log_id}", response_model=EventLogResponse, tags=["EventLog"])
def get_event_log(
    db: DbDep, event_log_id: Annotated[int, Path(ge=0, le=MAX_INT)], principal: AuditReader
) -> EventLogResponse:
    projects = projects_with(principal, Permission.AUDIT_READ)
    return EventLogResponse.of(event_log.get_event(db, event_log_id, projects))


# --- pools -------------------------------------------------------------------------------------


class PoolResponse(BaseModel):
    name: str
    project: str | None = Field(None, description="Pinflow: none when instance-wide")
    slots: int = Field(description="-1: unlimited")
    description: str | None
    include_deferred: bool
    occupied_slots: int
    running_slots: int
    queued_slots: int
    scheduled_slots: int
    open_slots: int = Field(description="-1: unlimited")
    deferred_slots: int = 0
    team_name: str | None = None

    @classmethod
    def of(cls, p: PoolView) -> PoolResponse:
        return cls(
            name=p.name,
            project=p.project,
            slots=p.slots,
            description=p.description,
            include_deferred=p.include_deferred,
            occupied_slots=p.occupied_slots,
            running_slots=p.running_slots,
            queued_slots=p.queued_slots,
            scheduled_slots=p.scheduled_slots,
            open_slots=p.open_slots,
        )


class PoolCollectionResponse(BaseModel):
    pools: list[PoolResponse]
    total_entries: int


class PoolBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=256)
    slots: int = Field(ge=-1, le=_INT32)
    description: str | None = None
    include_deferred: bool = False
    team_name: str | None = None
    project: str | None = PROJECT_FIELD


class PoolPatchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pool: str | None = Field(None, min_length=1, max_length=256, description="A new name")
    slots: int | None = Field(None, ge=-1, le=_INT32)
    description: str | None = None
    include_deferred: bool | None = None
    team_name: str | None = None
    project: str | None = PROJECT_FIELD


@router.get("/pools", response_model=PoolCollectionResponse, tags=["Pool"])
def get_pools(
    db: DbDep,
    principal: AnyReader,
    paging: PageDep,
    order_by: OrderBy = None,
    pool_name_pattern: Annotated[str | None, Query(max_length=256)] = None,
) -> PoolCollectionResponse:
    found, total = pools.list_pools(
        db, principal, name_pattern=pool_name_pattern, order_by=order_by or ["id"], page=paging
    )
    return PoolCollectionResponse(pools=[PoolResponse.of(p) for p in found], total_entries=total)


@router.get("/pools/{pool_name}", response_model=PoolResponse, tags=["Pool"])
def get_pool(db: DbDep, pool_name: str, principal: PrincipalDep) -> PoolResponse:
    return PoolResponse.of(pools.get_pool(db, principal, pool_name))


@router.post("/pools", status_code=201, response_model=PoolResponse, tags=["Pool"])
def post_pool(db: DbDep, body: PoolBody, principal: PrincipalDep) -> PoolResponse:
    _no_team(body.team_name)
    values = body.model_dump(exclude={"team_name", "project"})
    return PoolResponse.of(pools.create_pool(db, principal, values, body.project))


@router.patch("/pools/{pool_name}", response_model=PoolResponse, tags=["Pool"])
def patch_pool(
    db: DbDep,
    pool_name: str,
    body: PoolPatchBody,
    principal: PrincipalDep,
    update_mask: UpdateMask = None,
) -> PoolResponse:
    _no_team(body.team_name)
    no_move(body.model_fields_set)
    allowed = {"pool", "name", "slots", "description", "include_deferred"}
    fields = update_fields(update_mask, allowed, body.model_fields_set)
    changes = {f: getattr(body, f) for f in fields - {"pool", "name"}}
    if fields & {"pool", "name"}:
        changes["name"] = body.pool  # Airflow's body calls the new name ``pool``
    if any(changes.get(f, 0) is None for f in ("name", "slots", "include_deferred")):
        raise InvalidInputError("name, slots and include_deferred cannot be null.")
    view = pools.update_pool(db, principal, pool_name, changes)
    return PoolResponse.of(view)


@router.delete("/pools/{pool_name}", status_code=204, response_class=Response, tags=["Pool"])
def delete_pool(db: DbDep, pool_name: str, principal: PrincipalDep) -> Response:
    pools.delete_pool(db, principal, pool_name)
    return Response(status_code=204)
