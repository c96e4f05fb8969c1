"""Response bodies of Airflow's ``/api/v2``: Airflow 3's datamodels, snake_case, with every
field the official ``apache-airflow-client`` (3.3) requires, plus Pinflow's extensions.

Extensions are extra fields (the client ignores them): a version's ``status``,
``source_workflow_id``, ``snapshot_digest`` and ``is_current``; a run's ``version_id``,
``snapshot_digest`` and ``clear_number``; a clear's ``plan``. Mappings where Airflow has no
such thing: a version's ``bundle_version`` is its snapshot digest (the content-addressed code
it runs), ``bundle_name`` its project; a task instance's ``id`` is a UUID made from its row
id; task state ``none`` is ``null``; a test run (of a draft) has run type ``manual`` and
``triggered_by`` ``test``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, Field

from pinflow.lifecycle.rebind import ClearPlan, PlanAction
from pinflow.lifecycle.states import RunState, RunType, TaskState, VersionStatus
from pinflow.services.reads import (
    RANGE_FIELDS,
    DateRange,
    RunInfo,
    TaskInstanceInfo,
    TryInfo,
    VersionView,
)


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return (end - start).total_seconds() if start is not None and end is not None else None


def _state(state: TaskState) -> TaskState | None:
    return None if state == TaskState.NONE else state


# --- query parameters shared by lists --------------------------------------------------------


class DateRangeQuery(BaseModel):
    """Airflow's date-range filters (``<field>_gte``, ``_gt``, ``_lte``, ``_lt``); aware only."""

    logical_date_gte: AwareDatetime | None = None
    logical_date_gt: AwareDatetime | None = None
    logical_date_lte: AwareDatetime | None = None
    logical_date_lt: AwareDatetime | None = None
    start_date_gte: AwareDatetime | None = None
    start_date_gt: AwareDatetime | None = None
    start_date_lte: AwareDatetime | None = None
    start_date_lt: AwareDatetime | None = None
    end_date_gte: AwareDatetime | None = None
    end_date_gt: AwareDatetime | None = None
    end_date_lte: AwareDatetime | None = None
    end_date_lt: AwareDatetime | None = None
    run_after_gte: AwareDatetime | None = None
    run_after_gt: AwareDatetime | None = None
    run_after_lte: AwareDatetime | None = None
    run_after_lt: AwareDatetime | None = None
    updated_at_gte: AwareDatetime | None = None
    updated_at_gt: AwareDatetime | None = None
    updated_at_lte: AwareDatetime | None = None
    updated_at_lt: AwareDatetime | None = None

    def ranges(self) -> dict[str, DateRange]:
        bounds = {
            name: DateRange(*(getattr(self, f"{name}_{op}") for op in ("gte", "gt", "lte", "lt")))
            for name in RANGE_FIELDS
        }
        return {name: r for name, r in bounds.items() if r != DateRange()}


# --- versions ----------------------------------------------------------------------------------


class DagVersionResponse(BaseModel):
    id: uuid.UUID
    version_number: int
    dag_id: str
    bundle_name: str | None
    bundle_version: str | None
    bundle_url: str | None = None
    created_at: datetime
    dag_display_name: str
    status: VersionStatus = Field(description="Pinflow: draft, active or deprecated")
    source_workflow_id: str | None = Field(description="Pinflow: the version it was cloned from")
    snapshot_digest: str = Field(description="Pinflow: the sha256 of its spec and code")
    is_current: bool = Field(description="Pinflow: whether new runs of the DAG use it")

    @classmethod
    def of(cls, v: VersionView) -> DagVersionResponse:
        return cls(
            id=uuid.UUID(v.id),
            version_number=v.version,
            dag_id=v.dag_id,
            bundle_name=v.project,
            bundle_version=v.snapshot_digest,
            created_at=v.created_at,
            dag_display_name=v.name or v.dag_id,
            status=v.status,
            source_workflow_id=v.source_workflow_id,
            snapshot_digest=v.snapshot_digest,
            is_current=v.is_current,
        )


class DagVersionCollectionResponse(BaseModel):
    dag_versions: list[DagVersionResponse]
    total_entries: int


# --- runs --------------------------------------------------------------------------------------

_TRIGGERED_BY = {
    RunType.SCHEDULED: "timetable",
    RunType.BACKFILL: "backfill",
    RunType.TEST: "test",
    RunType.ASSET_TRIGGERED: "asset",
}


class DagRunResponse(BaseModel):
    dag_run_id: str
    dag_id: str
    dag_display_name: str
    logical_date: datetime | None
    queued_at: datetime | None
    start_date: datetime | None
    end_date: datetime | None
    duration: float | None
    data_interval_start: datetime | None
    data_interval_end: datetime | None
    run_after: datetime
    last_scheduling_decision: datetime | None = None
    run_type: str
    state: RunState
    triggered_by: str | None
    triggering_user_name: str | None
    conf: dict[str, Any] | None
    note: str | None
    dag_versions: list[DagVersionResponse]
    bundle_version: str | None
    partition_key: str | None = None
    version_id: str | None = Field(description="Pinflow: the version the run is pinned to")
    snapshot_digest: str = Field(description="Pinflow: the snapshot the run is pinned to")
    clear_number: int = Field(description="Pinflow: how many times the run was cleared")

    @classmethod
    def of(cls, info: RunInfo) -> DagRunResponse:
        r, kind = info.run, RunType(info.run.run_type)
        return cls(
            dag_run_id=r.run_id,
            dag_id=r.dag_id,
            dag_display_name=info.dag_display_name,
            logical_date=r.logical_date,
            queued_at=r.created_at,
            start_date=r.start_date,
            end_date=r.end_date,
            duration=_seconds(r.start_date, r.end_date),
            data_interval_start=r.data_interval_start,
            data_interval_end=r.data_interval_end,
            run_after=r.run_after,
            run_type=RunType.MANUAL.value if kind == RunType.TEST else kind.value,
            state=r.state,
            triggered_by=_TRIGGERED_BY.get(kind, "rest_api"),
            triggering_user_name=r.triggered_by,
            conf=r.conf,
            note=r.note,
            dag_versions=[DagVersionResponse.of(v) for v in info.versions],
            bundle_version=r.snapshot_digest,
            version_id=r.version_id,
            snapshot_digest=r.snapshot_digest,
            clear_number=r.clear_number,
        )


class DagRunCollectionResponse(BaseModel):
    dag_runs: list[DagRunResponse]
    total_entries: int


# --- task instances ----------------------------------------------------------------------------


class _TaskInstanceBase(BaseModel):
    task_id: str
    task_display_name: str
    dag_id: str
    dag_display_name: str
    dag_run_id: str
    map_index: int
    start_date: datetime | None
    end_date: datetime | None
    duration: float | None
    state: TaskState | None = Field(description="Airflow's state; null for none")
    try_number: int
    max_tries: int
    hostname: str | None
    unixname: str | None = None
    pool: str
    pool_slots: int
    queue: str | None = None
    priority_weight: int | None = None
    operator: str | None
    operator_name: str | None
    queued_when: datetime | None
    scheduled_when: datetime | None = None
    pid: int | None
    executor: str | None = None
    executor_config: str = "{}"
    dag_version: DagVersionResponse | None


def _ti_fields(ti: TaskInstanceInfo) -> dict[str, Any]:
    return {
        "task_id": ti.task_id,
        "task_display_name": ti.task_id,
        "dag_id": ti.dag_id,
        "dag_display_name": ti.dag_display_name,
        "dag_run_id": ti.run_id,
        "map_index": ti.map_index,
        "max_tries": ti.max_tries,
        "pool": ti.pool,
        "pool_slots": ti.pool_slots,
        "queue": ti.queue,
        "operator": ti.operator,
        "operator_name": ti.operator,
        "queued_when": ti.queued_at,
    }


class TaskInstanceResponse(_TaskInstanceBase):
    id: uuid.UUID = Field(description="Made from the task instance's row id")
    logical_date: datetime | None
    run_after: datetime
    note: str | None
    rendered_map_index: str | None = None
    rendered_fields: dict[str, Any] = Field(
        default_factory=dict,
        description="The templated fields of its latest try as rendered when it ran (an Airflow "
        "task's bash_command, env, op_kwargs, templates_dict...); read for one task instance, "
        "empty in lists",
    )
    snapshot_digest: str | None = Field(description="Pinflow: the snapshot of its latest try")

    @classmethod
    def of(
        cls, ti: TaskInstanceInfo, rendered_fields: dict[str, Any] | None = None
    ) -> TaskInstanceResponse:
        return cls(
            rendered_fields=rendered_fields or {},
            **_ti_fields(ti),
            id=uuid.UUID(int=ti.id),
            start_date=ti.start_date,
            end_date=ti.end_date,
            duration=_seconds(ti.start_date, ti.end_date),
            state=_state(ti.state),
            try_number=ti.try_number,
            hostname=ti.hostname,
            pid=ti.pid,
            dag_version=DagVersionResponse.of(ti.version) if ti.version else None,
            logical_date=ti.logical_date,
            run_after=ti.run_after,
            note=ti.note,
            snapshot_digest=ti.snapshot_digest,
        )


class TaskInstanceHistoryResponse(_TaskInstanceBase):
    snapshot_digest: str = Field(description="Pinflow: the snapshot this try ran on")
    error: str | None = Field(description="Pinflow: how the try failed")
    interrupted: bool = Field(
        default=False,
        description="Pinflow: the infrastructure ended this try (its executor or worker stopped, "
        "its process was killed from outside); it was retried at once without spending a retry",
    )
    rendered_fields: dict[str, Any] = Field(
        default_factory=dict,
        description="Pinflow: this try's templated fields as it rendered them",
    )

    @classmethod
    def of(cls, t: TryInfo) -> TaskInstanceHistoryResponse:
        return cls(
            **_ti_fields(t.ti),
            start_date=t.start_date,
            end_date=t.end_date,
            duration=_seconds(t.start_date, t.end_date),
            state=_state(t.state),
            try_number=t.try_number,
            hostname=t.hostname,
            pid=t.pid,
            dag_version=DagVersionResponse.of(t.version) if t.version else None,
            snapshot_digest=t.snapshot_digest,
            error=t.error,
            interrupted=t.interrupted,
            rendered_fields=t.rendered_fields or {},
        )


class TaskInstanceCollectionResponse(BaseModel):
    task_instances: list[TaskInstanceResponse]
    total_entries: int


class TaskInstanceHistoryCollectionResponse(BaseModel):
    task_instances: list[TaskInstanceHistoryResponse]
    total_entries: int


class StructuredLogMessage(BaseModel):
    event: str
    timestamp: datetime | None = None


class TaskInstancesLogResponse(BaseModel):
    content: list[StructuredLogMessage]
    continuation_token: str | None = None


# --- clearing: the plan ------------------------------------------------------------------------


class PlannedTask(BaseModel):
    task_id: str
    action: PlanAction = Field(description="reused, re_executed, new or removed")
    state_before: TaskState | None
    in_target_version: bool


class RunPlan(BaseModel):
    """Pinflow: what clearing does to one run, and the version move (seed 000)."""

    dag_run_id: str
    from_version_id: str | None
    to_version_id: str | None
    from_snapshot: str
    to_snapshot: str
    rebinds: bool
    tasks: list[PlannedTask]

    @classmethod
    def of(cls, run_id: str, plan: ClearPlan) -> RunPlan:
        return cls(
            dag_run_id=run_id,
            from_version_id=plan.from_version_id,
            to_version_id=plan.to_version_id,
            from_snapshot=plan.from_snapshot,
            to_snapshot=plan.to_snapshot,
            rebinds=plan.rebinds,
            tasks=[
                PlannedTask(
                    task_id=e.task_id,
                    action=e.action,
                    state_before=e.state_before,
                    in_target_version=e.in_target_version,
                )
                for e in plan.entries
            ],
        )


class ClearedTaskInstances(TaskInstanceCollectionResponse):
    """Airflow's collection of the task instances cleared (to be cleared, in a dry run)."""

    dry_run: bool = Field(description="Pinflow: true when nothing was changed")
    plan: list[RunPlan] = Field(description="Pinflow: per run, per task, and the version move")


class NewTaskResponse(BaseModel):
    task_id: str
    task_display_name: str


class ClearDagRunDryRun(BaseModel):
    """Airflow's dry run of a run's clear: its task instances, and the tasks a re-bind adds."""

    task_instances: list[TaskInstanceResponse | NewTaskResponse]
    total_entries: int
    plan: list[RunPlan] = Field(description="Pinflow: per task, and the version move")
