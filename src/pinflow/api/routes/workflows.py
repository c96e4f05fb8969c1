"""Seed 001's lifecycle endpoints under ``/api/workflows``: paths, bodies and messages as given.

Each route checks the permission in the version's project ("project authority"), calls one
service, and maps the result. Lifecycle refusals come back from the services' named rules
with the seed's exact messages; ``pinflow.api.errors`` turns them into the seed's bodies.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request

from pinflow.api.auth import DbDep, authorize, require
from pinflow.api.schemas import (
    CreatedVersion,
    EditedWorkflow,
    MessageWithId,
    ProblemOut,
    PublishBody,
    Published,
    RevertBody,
    Run,
    RunBody,
    StartedRun,
    Workflow,
    WorkflowDetail,
    WorkflowFilter,
    WorkflowList,
    WorkflowWithMessage,
)
from pinflow.api.stats_schemas import VersionStatsReply
from pinflow.errors import NotFoundError
from pinflow.lifecycle.permissions import Permission, Principal, projects_with
from pinflow.services.commands import runs, version_deletes, versions
from pinflow.services.reads import queries, version_stats
from pinflow.spec.canonical import spec_to_dict
from pinflow.spec.validation import parse_spec
from pinflow.store.db import Database

router = APIRouter(prefix="/api/workflows", tags=["workflows"])


def version_project(db: Database, request: Request) -> str:
    """The project of the version named in the path: where authority is checked."""
    return queries.get_version(db, request.path_params["workflow_id"]).project


def _version_not_found(request: Request) -> str:
    return f"Workflow version {request.path_params['workflow_id']!r} was not found."


def _can(permission: Permission) -> Any:
    return require(permission, project=version_project, hidden=_version_not_found)


Reader = Annotated[Principal, _can(Permission.WORKFLOW_READ)]
Creator = Annotated[Principal, _can(Permission.WORKFLOW_CREATE)]
Updater = Annotated[Principal, _can(Permission.WORKFLOW_UPDATE)]
Deleter = Annotated[Principal, _can(Permission.WORKFLOW_DELETE)]
RunStarter = Annotated[Principal, _can(Permission.RUN_CREATE)]
ListReader = Annotated[Principal, require(Permission.WORKFLOW_READ)]


@router.get("", response_model=WorkflowList)
def list_workflows(
    db: DbDep, principal: ListReader, query: Annotated[WorkflowFilter, Query()]
) -> WorkflowList:
    """Versions, newest first per DAG; soft-deleted ones only with ``includeDeleted=true``."""
    found, total = queries.list_versions(
        db,
        dag_id=query.dag_id,
        status=query.status,
        include_deleted=query.include_deleted,
        search=query.search,
        projects=projects_with(principal, Permission.WORKFLOW_READ),
        limit=query.limit,
        offset=query.offset,
    )
    workflows = [Workflow.of(v) for v in found]
    return WorkflowList(workflows=workflows, total=total, limit=query.limit, offset=query.offset)


@router.get("/{workflow_id}", response_model=WorkflowDetail)
def get_workflow(db: DbDep, workflow_id: str, _: Reader) -> WorkflowDetail:
    """One version with its definition (trigger, variables, steps, transitions)."""
    view = queries.get_version(db, workflow_id)
    return WorkflowDetail.of_spec(view, queries.get_version_spec(db, workflow_id))


@router.get("/{workflow_id}/stats", response_model=VersionStatsReply)
def get_workflow_stats(
    db: DbDep,
    workflow_id: str,
    principal: Reader,
    compare_to: Annotated[
        str | None,
        Query(
            alias="compareTo",
            max_length=250,
            description="Another version's id: its figures, and each one's change to this one.",
        ),
    ] = None,
) -> VersionStatsReply:
    """Run statistics of this version: runs, success rate, p50/p95 durations of runs and of
    each task, tries, retries and failures per task, first and last run (ADR 0024)."""
    if compare_to is None:
        return VersionStatsReply.of(version_stats.version_stats(db, workflow_id))
    hidden = f"Workflow version {compare_to!r} (compareTo) was not found."
    try:
        other = queries.get_version(db, compare_to)
    except NotFoundError:
        raise NotFoundError(hidden) from None
    authorize(principal, Permission.WORKFLOW_READ, other.project, hidden=hidden)
    return VersionStatsReply.of_comparison(version_stats.compare(db, workflow_id, compare_to))


@router.patch("/{workflow_id}", response_model=EditedWorkflow)
def edit_workflow(
    db: DbDep,
    workflow_id: str,
    principal: Updater,
    changes: Annotated[dict[str, Any], Body(description="Spec fields to change (drafts only)")],
) -> EditedWorkflow:
    """Edit a draft: the given spec fields replace the current ones; problems are warnings."""
    merged = {**spec_to_dict(queries.get_version_spec(db, workflow_id)), **changes}
    spec = parse_spec(merged)
    authorize(principal, Permission.WORKFLOW_UPDATE, spec.project)
    result = versions.edit_draft(db, workflow_id, spec, actor=principal.username)
    return EditedWorkflow(
        workflow=WorkflowDetail.of_spec(result.version, spec),
        snapshot_created=result.snapshot_created,
        warnings=[ProblemOut.of(p) for p in result.warnings],
    )


@router.post("/{workflow_id}/create-version", status_code=201, response_model=CreatedVersion)
def create_version(db: DbDep, workflow_id: str, principal: Creator) -> CreatedVersion:
    """Clone an active or deprecated version into a new draft linked to it."""
    view = versions.create_version(db, workflow_id, actor=principal.username)
    return CreatedVersion(new_workflow=Workflow.of(view), source_workflow_id=workflow_id)


@router.post("/{workflow_id}/publish", response_model=Published)
def publish(
    db: DbDep, workflow_id: str, principal: Updater, body: PublishBody | None = None
) -> Published:
    """Draft -> active (strict validation); optionally deprecate the previous version with it."""
    result = versions.publish(
        db,
        workflow_id,
        actor=principal.username,
        deprecate_previous_version_id=body.deprecate_previous_version_id if body else None,
    )
    return Published(
        workflow=Workflow.of(result.version),
        source_workflow_id=result.source_workflow_id,
        source_still_active=result.source_still_active,
        deprecated_previous_version_id=result.deprecated_previous_id,
    )


@router.post("/{workflow_id}/deprecate", response_model=MessageWithId)
def deprecate(db: DbDep, workflow_id: str, principal: Updater) -> MessageWithId:
    """Active -> deprecated: no new runs; runs in flight finish normally."""
    view = versions.deprecate(db, workflow_id, actor=principal.username)
    return MessageWithId(message="Workflow deprecated", id=view.id)


@router.post("/{workflow_id}/revert-to-draft", response_model=WorkflowWithMessage)
def revert_to_draft(
    db: DbDep, workflow_id: str, principal: Updater, body: RevertBody | None = None
) -> WorkflowWithMessage:
    """Last resort: back to draft, only with ``confirmationName`` equal to the name."""
    view = versions.revert_to_draft(
        db,
        workflow_id,
        confirmation_name=body.confirmation_name if body else None,
        actor=principal.username,
    )
    return WorkflowWithMessage(message="Workflow reverted to draft", workflow=Workflow.of(view))


@router.post("/{workflow_id}/restore", response_model=WorkflowWithMessage)
def restore(db: DbDep, workflow_id: str, principal: Deleter) -> WorkflowWithMessage:
    """Undo a soft delete."""
    view = version_deletes.restore(db, workflow_id, actor=principal.username)
    return WorkflowWithMessage(message="Workflow restored", workflow=Workflow.of(view))


@router.delete("/{workflow_id}", response_model=MessageWithId)
def delete_workflow(
    db: DbDep, workflow_id: str, principal: Deleter, permanent: bool = False
) -> MessageWithId:
    """Soft delete (restorable); ``?permanent=true`` purges (409 while runs are in flight)."""
    if permanent:
        version_deletes.purge(db, workflow_id, actor=principal.username)
        return MessageWithId(message="Workflow permanently deleted", id=workflow_id)
    version_deletes.soft_delete(db, workflow_id, actor=principal.username)
    return MessageWithId(message="Workflow deleted", id=workflow_id)


@router.post("/{workflow_id}/runs", status_code=201, response_model=StartedRun)
def start_run(
    db: DbDep, workflow_id: str, principal: RunStarter, body: RunBody | None = None
) -> StartedRun:
    """Start a run of this version: a test run for a draft; refused for a deprecated one."""
    body = body or RunBody()
    run = runs.trigger_run(
        db,
        version_id=workflow_id,
        conf=body.conf,
        run_id=body.run_id,
        logical_date=body.logical_date,
        note=body.note,
        actor=principal.username,
    )
    return StartedRun(run=Run.of(run))


@router.post("/{workflow_id}/set-current", response_model=WorkflowWithMessage)
def set_current(db: DbDep, workflow_id: str, principal: Updater) -> WorkflowWithMessage:
    """Make this active version the DAG's current one (rollback or roll forward)."""
    view = versions.set_current_version(db, workflow_id, actor=principal.username)
    return WorkflowWithMessage(message="Current version set", workflow=Workflow.of(view))
