"""Airflow 3's ``/api/v2/backfills`` (ADR 0040): create (and dry-run), list a DAG's, get one,
pause, unpause, cancel.

The dates are the DAG's schedule intervals whose logical date is in ``[from_date, to_date]``
(``scheduler.cron.backfill_intervals``, the schedule's own interval logic). Authority is the
DAG's project's: creating needs ``run.create``, pausing and cancelling ``run.update``, reading
``workflow.read``; a backfill of a DAG the caller may not read is a 404.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from pinflow.api.auth import DbDep, PrincipalDep, authorize
from pinflow.api.routes.v2_dags import PageDep
from pinflow.api.schemas import MAX_INT
from pinflow.errors import InvalidInputError
from pinflow.lifecycle.backfill_rules import ReprocessBehavior
from pinflow.lifecycle.permissions import Permission, Principal
from pinflow.scheduler.cron import backfill_intervals
from pinflow.services.commands import BackfillRequest, Interval, backfills
from pinflow.services.common import now
from pinflow.services.reads import BackfillView, backfill_queries, dag_queries
from pinflow.store.db import Database

router = APIRouter(prefix="/api/v2/backfills", tags=["Backfill"])
MAX_RUNS = 1000
BackfillId = Annotated[int, Path(ge=0, le=MAX_INT)]


class BackfillPostBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dag_id: str = Field(min_length=1, max_length=250)
    from_date: AwareDatetime
    to_date: AwareDatetime
    run_backwards: bool = False
    dag_run_conf: dict[str, Any] = Field(default_factory=dict)
    reprocess_behavior: ReprocessBehavior = ReprocessBehavior.NONE
    max_active_runs: int = Field(10, ge=1, le=1000)
    run_on_latest_version: bool | None = Field(
        None, description="Pinflow pins every backfill run to the DAG's current version"
    )


class BackfillResponse(BaseModel):
    id: int
    dag_id: str
    dag_display_name: str
    from_date: datetime
    to_date: datetime
    dag_run_conf: dict[str, Any]
    is_paused: bool
    reprocess_behavior: ReprocessBehavior
    max_active_runs: int
    run_backwards: bool
    created_at: datetime
    completed_at: datetime | None
    updated_at: datetime
    version_id: str | None = Field(description="Pinflow: the version its runs are pinned to")

    @classmethod
    def of(cls, b: BackfillView) -> BackfillResponse:
        return cls(
            id=b.id,
            dag_id=b.dag_id,
            dag_display_name=b.dag_id,
            from_date=b.from_date,
            to_date=b.to_date,
            dag_run_conf=b.dag_run_conf,
            is_paused=b.is_paused,
            reprocess_behavior=ReprocessBehavior(b.reprocess_behavior),
            max_active_runs=b.max_active_runs,
            run_backwards=b.run_backwards,
            created_at=b.created_at,
            completed_at=b.completed_at,
            updated_at=b.updated_at,
            version_id=b.version_id,
        )


class BackfillCollectionResponse(BaseModel):
    backfills: list[BackfillResponse]
    total_entries: int


class DryRunBackfillResponse(BaseModel):
    logical_date: datetime


class DryRunBackfillCollectionResponse(BaseModel):
    backfills: list[DryRunBackfillResponse]
    total_entries: int


def _on_dag(db: Database, principal: Principal, dag_id: str, permission: Permission) -> None:
    project = dag_queries.project_of(db, dag_id)
    authorize(principal, permission, project, f"DAG {dag_id!r} was not found.")


def _on_backfill(
    db: Database, principal: Principal, backfill_id: int, permission: Permission
) -> None:
    dag_id = backfill_queries.dag_of(db, backfill_id)
    project = dag_queries.project_of(db, dag_id)
    authorize(principal, permission, project, f"Backfill {backfill_id} was not found.")


def _request(db: Database, body: BackfillPostBody) -> tuple[BackfillRequest, list[Interval]]:
    if body.from_date > body.to_date:
        raise InvalidInputError("from_date must not be after to_date.")
    if body.run_on_latest_version is False:
        raise InvalidInputError(
            "run_on_latest_version: Pinflow runs a backfill on the DAG's current version."
        )
    found = dag_queries.get_dag(db, body.dag_id, include_deregistered=False)
    if found.current_version_id is None:
        raise InvalidInputError(f"DAG {body.dag_id!r} has no current version; publish one first.")
    trigger = backfill_queries.current_trigger(db, body.dag_id)
    if trigger.schedule is None or trigger.schedule == "@once":
        raise InvalidInputError(
            f"DAG {body.dag_id!r} has no recurring schedule, so no intervals to backfill; "
            "trigger runs with a logical date instead."
        )
    intervals = backfill_intervals(
        trigger, from_date=body.from_date, to_date=body.to_date, now=now(), limit=MAX_RUNS
    )
    req = BackfillRequest(
        dag_id=body.dag_id,
        from_date=body.from_date,
        to_date=body.to_date,
        run_backwards=body.run_backwards,
        dag_run_conf=body.dag_run_conf,
        reprocess_behavior=body.reprocess_behavior,
        max_active_runs=body.max_active_runs,
    )
    return req, [(i.start, i.end) for i in intervals]


@router.post("", response_model=BackfillResponse)
def create_backfill(db: DbDep, body: BackfillPostBody, principal: PrincipalDep) -> BackfillResponse:
    """Create the backfill's runs at once, queued, pinned to the DAG's current version."""
    _on_dag(db, principal, body.dag_id, Permission.RUN_CREATE)
    req, intervals = _request(db, body)
    view = backfills.create_backfill(db, req, intervals, actor=principal.username)
    return BackfillResponse.of(view)


@router.post("/dry_run", response_model=DryRunBackfillCollectionResponse)
def create_backfill_dry_run(
    db: DbDep, body: BackfillPostBody, principal: PrincipalDep
) -> DryRunBackfillCollectionResponse:
    """The logical dates the backfill would run (new runs and re-runs); nothing changes."""
    _on_dag(db, principal, body.dag_id, Permission.RUN_CREATE)
    req, intervals = _request(db, body)
    planned = backfills.dry_run(db, req, intervals)
    items = [DryRunBackfillResponse(logical_date=p.logical_date) for p in planned]
    return DryRunBackfillCollectionResponse(backfills=items, total_entries=len(items))


@router.get("", response_model=BackfillCollectionResponse)
def list_backfills(
    db: DbDep,
    principal: PrincipalDep,
    paging: PageDep,
    dag_id: Annotated[str, Query(min_length=1, max_length=250)],
) -> BackfillCollectionResponse:
    _on_dag(db, principal, dag_id, Permission.WORKFLOW_READ)
    found, total = backfill_queries.list_backfills(db, dag_id, page=paging)
    return BackfillCollectionResponse(
        backfills=[BackfillResponse.of(b) for b in found], total_entries=total
    )


@router.get("/{backfill_id}", response_model=BackfillResponse)
def get_backfill(db: DbDep, backfill_id: BackfillId, principal: PrincipalDep) -> BackfillResponse:
    _on_backfill(db, principal, backfill_id, Permission.WORKFLOW_READ)
    return BackfillResponse.of(backfill_queries.get_backfill(db, backfill_id))


@router.put("/{backfill_id}/pause", response_model=BackfillResponse)
def pause_backfill(db: DbDep, backfill_id: BackfillId, principal: PrincipalDep) -> BackfillResponse:
    """No run of it starts while paused; runs in flight go on."""
    _on_backfill(db, principal, backfill_id, Permission.RUN_UPDATE)
    view = backfills.set_paused(db, backfill_id, True, actor=principal.username)
    return BackfillResponse.of(view)


@router.put("/{backfill_id}/unpause", response_model=BackfillResponse)
def unpause_backfill(
    db: DbDep, backfill_id: BackfillId, principal: PrincipalDep
) -> BackfillResponse:
    _on_backfill(db, principal, backfill_id, Permission.RUN_UPDATE)
    view = backfills.set_paused(db, backfill_id, False, actor=principal.username)
    return BackfillResponse.of(view)


@router.put("/{backfill_id}/cancel", response_model=BackfillResponse)
def cancel_backfill(
    db: DbDep, backfill_id: BackfillId, principal: PrincipalDep
) -> BackfillResponse:
    """Its queued runs fail and no new one starts; runs in flight go on."""
    _on_backfill(db, principal, backfill_id, Permission.RUN_UPDATE)
    return BackfillResponse.of(backfills.cancel(db, backfill_id, actor=principal.username))
