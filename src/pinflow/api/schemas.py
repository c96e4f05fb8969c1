"""Request and response bodies of Pinflow's own ``/api/*`` routes: camelCase, as seed 001.

Airflow's ``/api/v2`` keeps Airflow's snake_case; everything under ``/api/`` that is Pinflow's
own (the seed's lifecycle routes, push, users, tokens) speaks camelCase, so one client never
mixes the two within a namespace.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from pinflow.errors import Problem
from pinflow.lifecycle.states import RunState, RunType, VersionStatus
from pinflow.services.reads import MAX_PAGE, RunView, VersionView
from pinflow.spec.models import DagSpec, ParamSpec, TaskSpec, TriggerSpec

MAX_INT = 2**63 - 1  # the largest integer both databases store (a bigger one must be a 422)


class Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class Workflow(Camel):
    """One version of a workflow (the seed's ``workflow_definition``)."""

    id: str
    dag_id: str
    version: int
    status: VersionStatus
    source_workflow_id: str | None
    name: str
    description: str | None
    error_strategy: str
    project_id: str = Field(description="The project's identifier (its name).")
    project: str
    workflow_set: str | None
    is_current: bool = Field(description="Whether new runs of the DAG use this version.")
    is_dev: bool
    snapshot_digest: str
    deleted: bool
    created_at: datetime
    created_by: str | None
    updated_at: datetime
    published_at: datetime | None
    published_by: str | None
    deprecated_at: datetime | None
    deprecated_by: str | None
    deleted_at: datetime | None

    @classmethod
    def of(cls, v: VersionView) -> Workflow:
        return cls(
            id=v.id,
            dag_id=v.dag_id,
            version=v.version,
            status=v.status,
            source_workflow_id=v.source_workflow_id,
            name=v.name,
            description=v.description,
            error_strategy=v.error_strategy,
            project_id=v.project,
            project=v.project,
            workflow_set=v.workflow_set,
            is_current=v.is_current,
            is_dev=v.is_dev,
            snapshot_digest=v.snapshot_digest,
            deleted=v.deleted,
            created_at=v.created_at,
            created_by=v.created_by,
            updated_at=v.updated_at,
            published_at=v.published_at,
            published_by=v.published_by,
            deprecated_at=v.deprecated_at,
            deprecated_by=v.deprecated_by,
            deleted_at=v.deleted_at,
        )


class Transition(BaseModel):
    """An edge of the graph: ``to`` waits for ``from`` (a dependency or a data binding)."""

    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from")
    to: str


class WorkflowDetail(Workflow):
    """A version with its definition: the seed's trigger, variables, steps and transitions,
    and the whole ``spec`` (what ``PATCH`` takes back)."""

    trigger: TriggerSpec
    variables: dict[str, ParamSpec]
    steps: list[TaskSpec]
    transitions: list[Transition]
    requirements: list[str] = Field(
        default_factory=list,
        description="the version's PEP 508 requirements; its tasks run in an environment "
        "built for them (ADR 0032)",
    )
    spec: DagSpec

    @classmethod
    def of_spec(cls, v: VersionView, spec: DagSpec) -> WorkflowDetail:
        edges = [
            Transition(from_=up, to=task.task_id)
            for task in spec.tasks
            for up in task.upstream_task_ids
        ]
        base = Workflow.of(v).model_dump()
        return cls(
            **base,
            trigger=spec.trigger,
            variables=dict(spec.params),
            steps=list(spec.tasks),
            transitions=edges,
            requirements=list(spec.requirements),
            spec=spec,
        )


class WorkflowFilter(Camel):
    """The query of ``GET /api/workflows``."""

    status: VersionStatus | None = None
    include_deleted: bool = Field(default=False, description="Also soft-deleted versions")
    search: str | None = Field(default=None, max_length=MAX_PAGE, description="Name or DAG id")
    dag_id: str | None = None
    limit: int = Field(default=100, ge=1, le=MAX_PAGE)
    offset: int = Field(default=0, ge=0, le=MAX_INT)


class WorkflowList(Camel):
    workflows: list[Workflow]
    total: int
    limit: int
    offset: int


class ProblemOut(BaseModel):
    location: str
    message: str

    @classmethod
    def of(cls, p: Problem) -> ProblemOut:
        return cls(location=p.location, message=p.message)


class EditedWorkflow(Camel):
    message: str = "Workflow updated"
    workflow: WorkflowDetail
    snapshot_created: bool
    warnings: list[ProblemOut]


class CreatedVersion(Camel):
    message: str = "New draft version created"
    new_workflow: Workflow
    source_workflow_id: str


class PublishBody(Camel):
    deprecate_previous_version_id: str | None = None


class Published(Camel):
    message: str = "Workflow published"
    workflow: Workflow
    source_workflow_id: str | None
    source_still_active: bool = Field(
        description="The source version is still active: ask whether to deprecate it."
    )
    deprecated_previous_version_id: str | None


class MessageWithId(Camel):
    message: str
    id: str


class RevertBody(Camel):
    confirmation_name: str | None = None


class WorkflowWithMessage(Camel):
    message: str
    workflow: Workflow


class RunBody(Camel):
    conf: dict[str, Any] = Field(default_factory=dict)
    run_id: str | None = None
    logical_date: AwareDatetime | None = None
    note: str | None = None


class Run(Camel):
    id: int
    dag_id: str
    run_id: str
    workflow_id: str | None
    snapshot_digest: str
    run_type: RunType
    is_test_run: bool
    state: RunState
    conf: dict[str, Any]
    params: dict[str, Any]
    logical_date: datetime | None
    note: str | None
    triggered_by: str | None
    created_at: datetime

    @classmethod
    def of(cls, r: RunView) -> Run:
        return cls(
            id=r.id,
            dag_id=r.dag_id,
            run_id=r.run_id,
            workflow_id=r.version_id,
            snapshot_digest=r.snapshot_digest,
            run_type=RunType(r.run_type),
            is_test_run=r.run_type == RunType.TEST,
            state=r.state,
            conf=r.conf,
            params=r.params,
            logical_date=r.logical_date,
            note=r.note,
            triggered_by=r.triggered_by,
            created_at=r.created_at,
        )


class StartedRun(Camel):
    message: str = "Workflow run started"
    run: Run
