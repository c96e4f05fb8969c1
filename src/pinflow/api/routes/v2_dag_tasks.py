"""Airflow's ``GET /api/v2/dags/{dag_id}/tasks`` and ``…/tasks/{task_id}``: the tasks of the
DAG's current version (``?version=N``: of published version N), with the DAG's defaults
applied. Readable by whoever may read the DAG, as the other v2 DAG reads."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from pinflow.api.auth import DbDep
from pinflow.api.routes.v2_dags import OrderBy, Reader
from pinflow.api.schemas import MAX_INT
from pinflow.services.reads import DagTasks, TaskDefinition, dag_tasks

router = APIRouter(prefix="/api/v2", tags=["Task"])
Version = Annotated[
    int | None,
    Query(ge=0, le=MAX_INT, description="Pinflow: a published version number (default: current)"),
]


class TimeDelta(BaseModel):
    """Airflow's duration object."""

    model_config = {"populate_by_name": True}

    type: str = Field("TimeDelta", alias="__type", serialization_alias="__type")
    days: int
    seconds: int
    microseconds: int

    @classmethod
    def of(cls, seconds: float | None) -> TimeDelta | None:
        if seconds is None:
            return None
        d = timedelta(seconds=seconds)
        return cls(days=d.days, seconds=d.seconds, microseconds=d.microseconds)


class TaskResponse(BaseModel):
    task_id: str
    task_display_name: str
    owner: str
    start_date: datetime | None
    end_date: datetime | None
    trigger_rule: str
    depends_on_past: bool = False
    wait_for_downstream: bool = False
    retries: int
    queue: str
    pool: str
    pool_slots: int
    execution_timeout: TimeDelta | None
    retry_delay: TimeDelta | None
    retry_exponential_backoff: float = Field(description="2 when the delay doubles, else 0")
    priority_weight: int = 1
    weight_rule: str = "downstream"
    ui_color: str = "#fff"
    ui_fgcolor: str = "#000"
    template_fields: list[str] = []
    downstream_task_ids: list[str]
    doc_md: str | None
    operator_name: str
    params: dict[str, Any]
    class_ref: dict[str, Any] | None = None
    is_mapped: bool
    extra_links: list[str] = []
    kind: str = Field(description="Pinflow: python, bash or http")
    max_retry_delay: TimeDelta | None = Field(description="Pinflow: the cap on backed-off delays")
    version_number: int | None = Field(description="Pinflow: the DAG version read")

    @classmethod
    def of(cls, found: DagTasks, task: TaskDefinition) -> TaskResponse:
        spec, resolved, trigger = task.spec, task.resolved, found.dag.trigger
        return cls(
            task_id=spec.task_id,
            task_display_name=spec.task_id,
            owner=task.owner,
            start_date=trigger.start_date,
            end_date=trigger.end_date,
            trigger_rule=resolved.trigger_rule.value,
            depends_on_past=found.dag.depends_on_past(spec),
            retries=resolved.retries,
            queue=resolved.queue,
            pool=resolved.pool,
            pool_slots=resolved.pool_slots,
            execution_timeout=TimeDelta.of(resolved.execution_timeout),
            retry_delay=TimeDelta.of(resolved.retry_delay),
            retry_exponential_backoff=2.0 if resolved.retry_exponential_backoff else 0.0,
            downstream_task_ids=task.downstream_task_ids,
            doc_md=spec.doc,
            operator_name=task.operator_name,
            params={k: p.model_dump(mode="json") for k, p in found.dag.params.items()},
            is_mapped=task.is_mapped,
            kind=spec.kind,
            max_retry_delay=TimeDelta.of(resolved.max_retry_delay),
            version_number=found.version_number,
        )


class TaskCollectionResponse(BaseModel):
    tasks: list[TaskResponse]
    total_entries: int


@router.get(
    "/dags/{dag_id}/tasks", response_model=TaskCollectionResponse, response_model_by_alias=True
)
def get_tasks(
    db: DbDep, dag_id: str, _: Reader, version: Version = None, order_by: OrderBy = None
) -> TaskCollectionResponse:
    """Every task of the version, ordered by ``task_id`` unless ``order_by`` says otherwise."""
    found = dag_tasks.dag_tasks(
        db, dag_id, version_number=version, order_by=order_by or ["task_id"]
    )
    tasks = [TaskResponse.of(found, t) for t in found.tasks]
    return TaskCollectionResponse(tasks=tasks, total_entries=len(tasks))


@router.get(
    "/dags/{dag_id}/tasks/{task_id}", response_model=TaskResponse, response_model_by_alias=True
)
def get_task(
    db: DbDep, dag_id: str, task_id: str, _: Reader, version: Version = None
) -> TaskResponse:
    found, task = dag_tasks.dag_task(db, dag_id, task_id, version_number=version)
    return TaskResponse.of(found, task)
