"""Airflow's ``/api/v2/dags/{dag_id}/dagRuns``: list (``~`` for every DAG), get, trigger,
mark (``PATCH``), delete and clear a run; and the XCom entries of its task instances.

Where Pinflow differs from Airflow, on purpose:

- ``logical_date`` may be omitted or ``null`` (Airflow 3.0 required the key; the 3.x client
  leaves it out); Pinflow then stamps the trigger time. A custom data interval, ``run_after``
  and ``partition_key`` are refused (400) rather than silently ignored.
- A run whose tasks are live is deleted only with ``?force=true`` (409 otherwise, seed 000).
- Clearing re-binds the run to the DAG's current version (seed 000); the dry run says how,
  in ``plan``, and lists the tasks a re-bind adds as Airflow's ``NewTaskResponse``.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from pinflow.api.auth import ArtifactsDep, DbDep
from pinflow.api.routes.v2_dags import (
    ALL,
    PageDep,
    UpdateMask,
    on_dag,
    on_dag_or_all,
    refuse_unsupported,
    update_fields,
)
from pinflow.api.routes.v2_tasks import clear_plan_response, dry_run_instances
from pinflow.api.v2_schemas import (
    ClearDagRunDryRun,
    DagRunCollectionResponse,
    DagRunResponse,
    DateRangeQuery,
)
from pinflow.errors import InvalidInputError
from pinflow.lifecycle.permissions import Permission, Principal, projects_with
from pinflow.lifecycle.states import RunState, RunType
from pinflow.lifecycle.version_rules import PreventRunOnDeprecated
from pinflow.services.commands import clear, run_states, runs
from pinflow.services.engine import xcom_store
from pinflow.services.reads import (
    RunFilter,
    XComFilter,
    XComInfo,
    dag_queries,
    run_callback_queries,
    run_queries,
    xcoms,
)

router = APIRouter(prefix="/api/v2/dags/{dag_id}/dagRuns", tags=["DagRun"])

Reader = Annotated[Principal, on_dag(Permission.WORKFLOW_READ)]
ListReader = Annotated[Principal, on_dag_or_all(Permission.WORKFLOW_READ)]
Starter = Annotated[Principal, on_dag(Permission.RUN_CREATE)]
Operator = Annotated[Principal, on_dag(Permission.RUN_UPDATE)]
Deleter = Annotated[Principal, on_dag(Permission.WORKFLOW_DELETE)]
RunId = Annotated[str, Path(description="The run's run_id")]
_NOTE = 1000


AirflowRunType = Literal[
    "manual",
    "scheduled",
    "backfill",
    "operator_triggered",
    "asset_triggered",
    "asset_materialization",
]


class RunQuery(DateRangeQuery):
    """Airflow's filters of ``GET …/dagRuns``; dates must carry a timezone."""

    order_by: list[str] = Field(["id"], description="`-` first for descending")
    state: list[RunState] = []
    run_type: list[AirflowRunType] = []
    run_id_pattern: str | None = Field(None, max_length=250)

    def run_types(self) -> tuple[str, ...]:
        """Test runs (of drafts) are Airflow's ``manual`` runs."""
        extra = (RunType.TEST.value,) if "manual" in self.run_type else ()
        return (*self.run_type, *extra)


class TriggerDagRunBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dag_run_id: str | None = Field(None, max_length=250)
    logical_date: AwareDatetime | None = None
    conf: dict[str, Any] | None = None
    note: str | None = Field(None, max_length=_NOTE)
    data_interval_start: AwareDatetime | None = None
    data_interval_end: AwareDatetime | None = None
    run_after: AwareDatetime | None = None
    partition_key: str | None = None


class DagRunPatchBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    state: Literal["queued", "success", "failed"] | None = None
    note: str | None = Field(None, max_length=_NOTE)


class DagRunClearBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dry_run: bool = True
    only_failed: bool = False
    only_new: bool = False
    run_on_latest_version: bool | None = None
    note: str | None = Field(None, max_length=_NOTE)


@router.get("", response_model=DagRunCollectionResponse)
def get_dag_runs(
    db: DbDep,
    dag_id: str,
    principal: ListReader,
    paging: PageDep,
    q: Annotated[RunQuery, Query()],
) -> DagRunCollectionResponse:
    """Runs of the DAG, or of every DAG the caller may read (``~``)."""
    f = RunFilter(
        dag_id=None if dag_id == ALL else dag_id,
        projects=projects_with(principal, Permission.WORKFLOW_READ),
        states=tuple(s.value for s in q.state),
        run_types=q.run_types(),
        run_id_pattern=q.run_id_pattern,
        ranges=q.ranges(),
    )
    found, total = run_queries.list_runs(db, f, order_by=q.order_by, page=paging)
    return DagRunCollectionResponse(
        dag_runs=[DagRunResponse.of(r) for r in found], total_entries=total
    )


@router.get("/{dag_run_id}", response_model=DagRunResponse)
def get_dag_run(db: DbDep, dag_id: str, dag_run_id: RunId, _: Reader) -> DagRunResponse:
    return DagRunResponse.of(run_queries.get_run(db, dag_id, dag_run_id))


class RunCallbackResponse(BaseModel):
    """One end of the run and its DAG's callbacks for it (ADR 0044)."""

    id: int
    kind: Literal["on_success", "on_failure"]
    reason: str = Field(description="success, task_failure or timed_out (Airflow's reason)")
    state: Literal["pending", "running", "success", "failed"]
    attempts: int = Field(description="claims by a scheduler (more than 1: one died)")
    created_at: datetime
    end_date: datetime | None
    error: str | None = Field(description="what the callbacks that raised said")
    output: str | None = Field(description="the tail of what the callbacks printed")


class RunCallbackCollectionResponse(BaseModel):
    callbacks: list[RunCallbackResponse]
    total_entries: int


@router.get("/{dag_run_id}/callbacks", response_model=RunCallbackCollectionResponse)
def get_run_callbacks(
    db: DbDep, dag_id: str, dag_run_id: RunId, _: Reader
) -> RunCallbackCollectionResponse:
    """The DAG's ``on_success_callback``/``on_failure_callback`` calls for this run: one per
    end of the run (a cleared run that ends again has another), oldest first. Pinflow's own:
    Airflow keeps DAG callbacks' output in its DAG processor's logs only."""
    found = run_callback_queries.run_callbacks(db, dag_id, dag_run_id)
    callbacks = [RunCallbackResponse.model_validate(c, from_attributes=True) for c in found]
    return RunCallbackCollectionResponse(callbacks=callbacks, total_entries=len(callbacks))


@router.post("", response_model=DagRunResponse)
def trigger_dag_run(
    db: DbDep, dag_id: str, body: TriggerDagRunBody, principal: Starter
) -> DagRunResponse:
    """Start a run of the DAG's current version; ``conf`` is checked against its params."""
    fields = ("data_interval_start", "data_interval_end", "run_after", "partition_key")
    refuse_unsupported(body, fields, "; the data interval follows logical_date")
    try:
        run = runs.trigger_run(
            db,
            dag_id=dag_id,
            conf=body.conf,
            run_id=body.dag_run_id,
            logical_date=body.logical_date,
            note=body.note,
            actor=principal.username,
        )
    except InvalidInputError as exc:
        if exc.details.get("rule") != PreventRunOnDeprecated.name:
            raise
        # Airflow's body ({"detail": …}) with the seed's message, not the seed's own body.
        raise InvalidInputError(exc.message) from None
    return DagRunResponse.of(run_queries.get_run(db, dag_id, run.run_id))


@router.patch("/{dag_run_id}", response_model=DagRunResponse)
def patch_dag_run(
    *,
    db: DbDep,
    dag_id: str,
    dag_run_id: RunId,
    body: DagRunPatchBody,
    principal: Operator,
    update_mask: UpdateMask = None,
) -> DagRunResponse:
    """Mark the run success, failed or queued, and/or set its note."""
    fields = update_fields(update_mask, {"state", "note"}, body.model_fields_set)
    actor = principal.username
    info = run_queries.get_run(db, dag_id, dag_run_id)
    if "note" in fields:
        info = run_states.set_run_note(db, dag_id, dag_run_id, body.note, actor=actor)
    if "state" in fields:
        if body.state is None:
            raise InvalidInputError("state: one of queued, success, failed is required.")
        state = RunState(body.state)
        info = run_states.set_run_state(db, dag_id, dag_run_id, state, actor=actor)
    return DagRunResponse.of(info)


@router.delete("/{dag_run_id}", status_code=204, response_class=Response)
def delete_dag_run(
    *,
    request: Request,
    db: DbDep,
    artifacts: ArtifactsDep,
    dag_id: str,
    dag_run_id: RunId,
    principal: Deleter,
    force: Annotated[bool, Query(description="Pinflow: even while tasks are live")] = False,
) -> Response:
    """Delete the run with its task instances, tries, XComs (and their artifacts), logs and
    staging dir."""
    deleted = run_states.delete_run(db, dag_id, dag_run_id, actor=principal.username, force=force)
    settings = request.app.state.settings
    dag_queries.discard_files(
        deleted.log_paths,
        deleted.staging_dirs,
        logs_root=settings.logs_dir,
        staging_root=settings.staging_dir,
        shared_store_url=settings.shared_store_url,
    )
    xcom_store.discard_artifacts(artifacts, dag_id, [deleted.run_id])
    return Response(status_code=204)


@router.post("/{dag_run_id}/clear", response_model=ClearDagRunDryRun | DagRunResponse)
def clear_dag_run(
    db: DbDep, dag_id: str, dag_run_id: RunId, body: DagRunClearBody, principal: Operator
) -> ClearDagRunDryRun | DagRunResponse:
    """Clear the run's tasks (its failed ones with ``only_failed``) and re-bind it to the
    current version; a dry run (the default) returns what would happen and changes nothing."""
    refuse_unsupported(body, ("only_new",), "; clear the tasks, or trigger a new run")
    result = clear.clear_task_instances(
        db,
        dag_id,
        actor=principal.username,
        dag_run_id=dag_run_id,
        only_failed=body.only_failed,
        run_on_latest_version=body.run_on_latest_version,
        dry_run=body.dry_run,
    )
    if body.dry_run:
        instances = dry_run_instances(db, dag_id, result)
        plan = clear_plan_response(result)
        return ClearDagRunDryRun(task_instances=instances, total_entries=len(instances), plan=plan)
    if body.note is not None:
        run_states.set_run_note(db, dag_id, dag_run_id, body.note, actor=principal.username)
    return DagRunResponse.of(run_queries.get_run(db, dag_id, dag_run_id))


class XComResponse(BaseModel):
    key: str
    timestamp: datetime
    logical_date: datetime | None
    map_index: int
    task_id: str
    task_display_name: str
    dag_id: str
    dag_display_name: str
    run_id: str
    run_after: datetime
    size: int = Field(description="Pinflow: bytes of JSON")

    @classmethod
    def fields_of(cls, x: XComInfo) -> dict[str, Any]:
        return {
            "key": x.key,
            "timestamp": x.timestamp,
            "logical_date": x.logical_date,
            "map_index": x.map_index,
            "task_id": x.task_id,
            "task_display_name": x.task_id,
            "dag_id": x.dag_id,
            "dag_display_name": x.dag_id,
            "run_id": x.run_id,
            "run_after": x.run_after,
            "size": x.size,
        }


class XComResponseNative(XComResponse):
    value: Any


class XComCollectionResponse(BaseModel):
    xcom_entries: list[XComResponse]
    total_entries: int


# --- XComs: a run's outputs --------------------------------------------------------------------


@router.get(
    "/{dag_run_id}/taskInstances/{task_id}/xcomEntries", response_model=XComCollectionResponse
)
def get_xcom_entries(
    *,
    db: DbDep,
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    principal: ListReader,
    paging: PageDep,
    xcom_key: Annotated[str | None, Query(max_length=250)] = None,
    map_index: Annotated[int | None, Query(ge=-1, le=2**31 - 1)] = None,
) -> XComCollectionResponse:
    """XComs of the task instance; ``~`` for every DAG, run or task."""
    f = XComFilter(
        dag_id=None if dag_id == ALL else dag_id,
        run_id=None if dag_run_id == ALL else dag_run_id,
        task_id=None if task_id == ALL else task_id,
        projects=projects_with(principal, Permission.WORKFLOW_READ),
        key=xcom_key,
        map_index=map_index,
    )
    found, total = xcoms.list_xcoms(db, f, page=paging)
    entries = [XComResponse(**XComResponse.fields_of(x)) for x in found]
    return XComCollectionResponse(xcom_entries=entries, total_entries=total)


@router.get(
    "/{dag_run_id}/taskInstances/{task_id}/xcomEntries/{xcom_key}",
    response_model=XComResponseNative,
)
def get_xcom_entry(
    *,
    db: DbDep,
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    xcom_key: str,
    _: Reader,
    artifacts: ArtifactsDep,
    map_index: Annotated[int, Query(ge=-1, le=2**31 - 1)] = -1,
    deserialize: bool = False,
    stringify: bool = False,
) -> XComResponseNative:
    """One XCom's value: as stored (JSON), or as a string with ``stringify=true``. A large
    value is read from the artifact store; a missing or altered artifact is a 410."""
    x = xcoms.get_xcom(
        db, dag_id, dag_run_id, task_id, key=xcom_key, map_index=map_index, artifacts=artifacts
    )
    value = x.value
    if stringify and not isinstance(value, str):
        value = json.dumps(value)
    return XComResponseNative(**XComResponse.fields_of(x), value=value)
