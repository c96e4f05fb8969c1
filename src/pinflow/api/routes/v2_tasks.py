"""Airflow's task instance endpoints: list (``~`` for every DAG or run), get, mark
(``PATCH``), tries, logs per try, and ``POST /dags/{dag_id}/clearTaskInstances``.

``PATCH …/dry_run`` (Airflow 3's) answers what a mark would change, changing nothing.

Logs: the try's log file, read here from the path its try row records; without
``full_content`` only the last ``LOG_TAIL_BYTES`` are sent, with a first line saying so. With
``Accept: text/plain`` the log is sent as text. Clearing answers Airflow's collection of the
task instances cleared (to be cleared, in a dry run) plus Pinflow's ``plan``. Not supported,
and refused with 400 rather than ignored: ``include_past``/``include_future``,
``only_running``, a date range instead of ``dag_run_id``, ``prevent_running_task``, a note on
a clear. A ``[task_id, map_index]`` pair with an index of 0 or more clears that element of a
mapped task only (sent alone, with ``dag_run_id``; the run keeps its version, the other
elements their results); with ``-1`` it clears the whole task (a mapped task re-expands).
"""

from __future__ import annotations

from pathlib import Path as FilePath
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import PlainTextResponse
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from pinflow.api.auth import DbDep
from pinflow.api.routes.v2_dags import (
    ALL,
    PageDep,
    UpdateMask,
    on_dag,
    on_dag_or_all,
    refuse_unsupported,
    update_fields,
)
from pinflow.api.v2_schemas import (
    ClearedTaskInstances,
    DateRangeQuery,
    NewTaskResponse,
    RunPlan,
    StructuredLogMessage,
    TaskInstanceCollectionResponse,
    TaskInstanceHistoryCollectionResponse,
    TaskInstanceHistoryResponse,
    TaskInstanceResponse,
    TaskInstancesLogResponse,
)
from pinflow.errors import InvalidInputError
from pinflow.lifecycle.permissions import Permission, Principal, projects_with
from pinflow.lifecycle.rebind import PlanAction
from pinflow.lifecycle.states import TaskState
from pinflow.services.commands import ClearResult, clear, task_states
from pinflow.services.reads import TaskFilter, TaskRef, TryInfo, task_queries
from pinflow.store.db import Database

router = APIRouter(prefix="/api/v2/dags/{dag_id}", tags=["TaskInstance"])
TI = "/dagRuns/{dag_run_id}/taskInstances/{task_id}"
LOG_TAIL_BYTES = 1024 * 1024
LOG_MAX_BYTES = 64 * 1024 * 1024  # even with full_content: beyond this, read the file itself
_CHANGED = (PlanAction.RE_EXECUTED, PlanAction.REMOVED)

Reader = Annotated[Principal, on_dag(Permission.WORKFLOW_READ)]
ListReader = Annotated[Principal, on_dag_or_all(Permission.WORKFLOW_READ)]
Operator = Annotated[Principal, on_dag(Permission.RUN_UPDATE)]
MapIndex = Annotated[int, Query(ge=-1, le=2**31 - 1)]
TryNumber = Annotated[int, Path(ge=0, le=2**31 - 1)]


class TaskInstanceQuery(DateRangeQuery):
    order_by: list[str] = Field(["id"], description="`-` first for descending")
    task_id: str | None = Field(None, max_length=250)
    state: list[str] = Field([], description="Airflow's states; `no_status` (or `none`): none")
    pool: list[str] = []
    task_display_name_pattern: str | None = Field(None, max_length=250)
    map_index: int | None = Field(None, ge=-1, le=2**31 - 1)

    def states(self) -> tuple[str, ...]:
        states = tuple("none" if s == "no_status" else s for s in self.state)
        unknown = sorted(set(states) - {s.value for s in TaskState})
        if unknown:
            raise InvalidInputError(f"state: unknown task state(s) {', '.join(unknown)}.")
        return states


class PatchTaskInstanceBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    new_state: Literal["success", "failed", "skipped"] | None = None
    note: str | None = Field(None, max_length=1000)
    include_upstream: bool = False
    include_downstream: bool = False
    include_future: bool = False
    include_past: bool = False


class ClearTaskInstancesBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dry_run: bool = True
    only_failed: bool = True
    only_running: bool = False
    reset_dag_runs: bool = True
    run_on_latest_version: bool | None = None
    include_upstream: bool = False
    include_downstream: bool = False
    include_future: bool = False
    include_past: bool = False
    task_ids: list[str | tuple[str, int]] | None = None
    dag_run_id: str | None = Field(None, max_length=250)
    start_date: AwareDatetime | None = None
    end_date: AwareDatetime | None = None
    note: str | None = Field(None, max_length=1000)
    prevent_running_task: bool = False


# --- clearing, shared with dagRuns/{id}/clear --------------------------------------------------


def clear_plan_response(result: ClearResult) -> list[RunPlan]:
    return [RunPlan.of(r.run_id, r.plan) for r in result.runs]


def cleared_instances(db: DbDep, dag_id: str, result: ClearResult) -> list[TaskInstanceResponse]:
    """The task instances the clear changes (re-executed or removed), run by run."""
    selection = {
        r.run_id: [t for action in _CHANGED for t in r.plan.task_ids(action)] for r in result.runs
    }
    found = task_queries.task_instances_of(db, dag_id, selection)
    return [TaskInstanceResponse.of(ti) for ti in found]


def dry_run_instances(
    db: DbDep, dag_id: str, result: ClearResult
) -> list[TaskInstanceResponse | NewTaskResponse]:
    """As ``cleared_instances``, plus the tasks a re-bind adds (Airflow's new tasks)."""
    new = [
        NewTaskResponse(task_id=t, task_display_name=t)
        for r in result.runs
        for t in r.plan.task_ids(PlanAction.NEW)
    ]
    return [*cleared_instances(db, dag_id, result), *new]


def _mapped_element(body: ClearTaskInstancesBody) -> tuple[str, int] | None:
    """The ``[task_id, map_index]`` pair naming one element (index 0 or more), if any; such an
    element is cleared alone, in the one run named, whatever its state."""
    pairs = [t for t in body.task_ids or [] if not isinstance(t, str) and t[1] >= 0]
    if not pairs:
        return None
    if len(body.task_ids or []) != 1 or body.dag_run_id is None or body.include_upstream:
        raise InvalidInputError(
            "task_ids: a mapped element ([task_id, map_index]) is cleared alone: send only "
            "that pair, with dag_run_id, without include_upstream (or map_index -1 for the "
            "whole task)."
        )
    return pairs[0]


def _clear(
    db: Database,
    dag_id: str,
    body: ClearTaskInstancesBody,
    actor: str,
    element: tuple[str, int] | None,
) -> ClearResult:
    if element is not None:
        assert body.dag_run_id is not None  # _mapped_element checks it
        return clear.clear_mapped_element(
            db,
            dag_id,
            actor=actor,
            dag_run_id=body.dag_run_id,
            task_id=element[0],
            map_index=element[1],
            include_downstream=body.include_downstream,
            reset_dag_runs=body.reset_dag_runs,
            dry_run=body.dry_run,
        )
    task_ids = None
    if body.task_ids is not None:
        task_ids = [t if isinstance(t, str) else t[0] for t in body.task_ids]
    return clear.clear_task_instances(
        db,
        dag_id,
        actor=actor,
        task_ids=task_ids,
        dag_run_id=body.dag_run_id,
        only_failed=body.only_failed,
        include_upstream=body.include_upstream,
        include_downstream=body.include_downstream,
        reset_dag_runs=body.reset_dag_runs,
        run_on_latest_version=body.run_on_latest_version,
        dry_run=body.dry_run,
    )


@router.post("/clearTaskInstances", response_model=ClearedTaskInstances)
def post_clear_task_instances(
    db: DbDep, dag_id: str, body: ClearTaskInstancesBody, principal: Operator
) -> ClearedTaskInstances:
    """Clear task instances (failed ones by default) and re-bind their runs to the current
    version; a dry run (the default, as in Airflow) returns the plan and changes nothing."""
    unsupported = ("only_running", "include_future", "include_past", "start_date", "end_date")
    refuse_unsupported(body, (*unsupported, "note", "prevent_running_task"))
    element = _mapped_element(body)
    result = _clear(db, dag_id, body, principal.username, element)
    instances = cleared_instances(db, dag_id, result)
    if element is not None:  # of the mapped task, only that element
        task_id, index = element
        instances = [i for i in instances if i.task_id != task_id or i.map_index == index]
    return ClearedTaskInstances(
        task_instances=instances,
        total_entries=len(instances),
        dry_run=body.dry_run,
        plan=clear_plan_response(result),
    )


# --- task instances ----------------------------------------------------------------------------


@router.get("/dagRuns/{dag_run_id}/taskInstances", response_model=TaskInstanceCollectionResponse)
def get_task_instances(
    *,
    db: DbDep,
    dag_id: str,
    dag_run_id: str,
    principal: ListReader,
    paging: PageDep,
    q: Annotated[TaskInstanceQuery, Query()],
) -> TaskInstanceCollectionResponse:
    """Task instances of the run; ``~`` for every run, or every DAG the caller may read."""
    f = TaskFilter(
        dag_id=None if dag_id == ALL else dag_id,
        run_id=None if dag_run_id == ALL else dag_run_id,
        projects=projects_with(principal, Permission.WORKFLOW_READ),
        task_ids=(q.task_id,) if q.task_id else (),
        states=q.states(),
        pools=tuple(q.pool),
        map_index=q.map_index,
        task_id_pattern=q.task_display_name_pattern,
        ranges=q.ranges(),
    )
    found, total = task_queries.list_task_instances(db, f, order_by=q.order_by, page=paging)
    return TaskInstanceCollectionResponse(
        task_instances=[TaskInstanceResponse.of(ti) for ti in found], total_entries=total
    )


@router.get(TI, response_model=TaskInstanceResponse)
def get_task_instance(
    db: DbDep, dag_id: str, dag_run_id: str, task_id: str, _: Reader, map_index: MapIndex = -1
) -> TaskInstanceResponse:
    ref = TaskRef(dag_id, dag_run_id, task_id, map_index)
    ti = task_queries.get_task_instance(db, ref)
    return TaskInstanceResponse.of(ti, task_queries.rendered_fields(db, ti))


@router.patch(TI, response_model=TaskInstanceCollectionResponse)
def patch_task_instance(
    *,
    db: DbDep,
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    body: PatchTaskInstanceBody,
    principal: Operator,
    map_index: MapIndex = -1,
    update_mask: UpdateMask = None,
) -> TaskInstanceCollectionResponse:
    """Mark success, failed or skipped (with up- or downstream tasks), and/or set the note;
    answers the task instances that changed (the named one at least)."""
    refuse_unsupported(body, ("include_future", "include_past"))
    fields = update_fields(update_mask, {"new_state", "note"}, body.model_fields_set)
    ref, actor = TaskRef(dag_id, dag_run_id, task_id, map_index), principal.username
    changed: list[task_queries.TaskInstanceInfo] = []
    if "new_state" in fields:
        if body.new_state is None:
            raise InvalidInputError("new_state: one of success, failed, skipped is required.")
        changed = task_states.set_task_state(
            db,
            ref,
            TaskState(body.new_state),
            actor=actor,
            include_upstream=body.include_upstream,
            include_downstream=body.include_downstream,
        )
    if "note" in fields:
        task_states.set_task_note(db, ref, body.note, actor=actor)
    named = task_queries.get_task_instance(db, ref)
    rest = [ti for ti in changed if ti.id != named.id]
    found = [TaskInstanceResponse.of(ti) for ti in [named, *rest]]
    return TaskInstanceCollectionResponse(task_instances=found, total_entries=len(found))


@router.patch(f"{TI}/dry_run", response_model=TaskInstanceCollectionResponse)
def patch_task_instance_dry_run(
    *,
    db: DbDep,
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    body: PatchTaskInstanceBody,
    _: Operator,
    map_index: MapIndex = -1,
    update_mask: UpdateMask = None,
) -> TaskInstanceCollectionResponse:
    """What the same ``PATCH`` would change, changing nothing: the task instances a mark
    would move (none when they already have the state); a note alone changes no state."""
    refuse_unsupported(body, ("include_future", "include_past"))
    fields = update_fields(update_mask, {"new_state", "note"}, body.model_fields_set)
    found: list[TaskInstanceResponse] = []
    if "new_state" in fields:
        if body.new_state is None:
            raise InvalidInputError("new_state: one of success, failed, skipped is required.")
        changing = task_states.set_task_state(
            db,
            TaskRef(dag_id, dag_run_id, task_id, map_index),
            TaskState(body.new_state),
            actor="",
            include_upstream=body.include_upstream,
            include_downstream=body.include_downstream,
            dry_run=True,
        )
        found = [TaskInstanceResponse.of(ti) for ti in changing]
    return TaskInstanceCollectionResponse(task_instances=found, total_entries=len(found))


@router.get(f"{TI}/tries", response_model=TaskInstanceHistoryCollectionResponse)
def get_task_instance_tries(
    db: DbDep, dag_id: str, dag_run_id: str, task_id: str, _: Reader, map_index: MapIndex = -1
) -> TaskInstanceHistoryCollectionResponse:
    """Every try, oldest first, each with the snapshot (and version) it ran on."""
    tries = task_queries.list_tries(db, TaskRef(dag_id, dag_run_id, task_id, map_index))
    found = [TaskInstanceHistoryResponse.of(t) for t in tries]
    return TaskInstanceHistoryCollectionResponse(task_instances=found, total_entries=len(found))


@router.get(f"{TI}/tries/{{task_try_number}}", response_model=TaskInstanceHistoryResponse)
def get_task_instance_try_details(
    *,
    db: DbDep,
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    task_try_number: TryNumber,
    _: Reader,
    map_index: MapIndex = -1,
) -> TaskInstanceHistoryResponse:
    ref = TaskRef(dag_id, dag_run_id, task_id, map_index)
    return TaskInstanceHistoryResponse.of(task_queries.get_try(db, ref, task_try_number))


def _read_log(db: Database, found: TryInfo, full: bool) -> list[str]:
    """The try's log: what its remote worker sent (kept in the database, the same on every API
    server), else its file (a local try's)."""
    limit = LOG_MAX_BYTES if full else LOG_TAIL_BYTES
    sent = task_queries.sent_log(db, found.ti.id, found.try_number, limit=limit)
    if sent is not None:
        return _lines(sent.text, sent.size, limit, "characters")
    path = found.log_path
    if path is None or not FilePath(path).is_file():
        return ["*** No log file for this try (it never reached a worker, or it was removed)."]
    file = FilePath(path)
    size = file.stat().st_size
    with file.open("rb") as handle:
        if size > limit:
            handle.seek(size - limit)
        data = handle.read(limit)
    return _lines(data.decode("utf-8", errors="replace"), size, limit, "bytes")


def _lines(text: str, size: int, limit: int, unit: str) -> list[str]:
    lines = text.splitlines()
    if size > limit and lines:
        lines[0] = f"*** Showing the last {limit} of {size} {unit}; full_content=true for more."
    return lines


@router.get(
    f"{TI}/logs/{{try_number}}",
    response_model=TaskInstancesLogResponse,
    responses={200: {"content": {"text/plain": {}}}},
)
def get_log(
    *,
    request: Request,
    db: DbDep,
    dag_id: str,
    dag_run_id: str,
    task_id: str,
    try_number: TryNumber,
    _: Reader,
    full_content: bool = False,
    map_index: MapIndex = -1,
    token: Annotated[str | None, Query(max_length=1000)] = None,
) -> TaskInstancesLogResponse | PlainTextResponse:
    """The log of one try: JSON lines as Airflow 3 sends them, or text (``Accept``)."""
    ref = TaskRef(dag_id, dag_run_id, task_id, map_index)
    lines = _read_log(db, task_queries.get_try(db, ref, try_number), full_content)
    if "text/plain" in request.headers.get("accept", ""):
        return PlainTextResponse("\n".join(lines) + "\n")
    return TaskInstancesLogResponse(content=[StructuredLogMessage(event=line) for line in lines])
