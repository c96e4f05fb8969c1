"""Read models returned by services: frozen, detached from any session."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pinflow.lifecycle.states import RunState, VersionStatus
from pinflow.store.tables import AuditEvent, DagRun, WorkflowDefinition


@dataclass(frozen=True)
class VersionView:
    id: str
    dag_id: str
    version: int
    status: VersionStatus
    source_workflow_id: str | None
    snapshot_digest: str
    name: str
    description: str | None
    error_strategy: str
    project: str
    workflow_set: str | None
    is_dev: bool
    is_current: bool
    deleted_at: datetime | None
    created_at: datetime
    created_by: str | None
    updated_at: datetime
    published_at: datetime | None
    published_by: str | None
    deprecated_at: datetime | None
    deprecated_by: str | None

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None


def version_view(
    row: WorkflowDefinition, *, project: str, workflow_set: str | None, current_id: str | None
) -> VersionView:
    return VersionView(
        id=row.id,
        dag_id=row.dag_id,
        version=row.version,
        status=VersionStatus(row.status),
        source_workflow_id=row.source_workflow_id,
        snapshot_digest=row.snapshot_digest,
        name=row.name,
        description=row.description,
        error_strategy=row.error_strategy,
        project=project,
        workflow_set=workflow_set,
        is_dev=row.is_dev,
        is_current=row.id == current_id,
        deleted_at=row.deleted_at,
        created_at=row.created_at,
        created_by=row.created_by,
        updated_at=row.updated_at,
        published_at=row.published_at,
        published_by=row.published_by,
        deprecated_at=row.deprecated_at,
        deprecated_by=row.deprecated_by,
    )


@dataclass(frozen=True)
class RunView:
    id: int
    dag_id: str
    run_id: str
    version_id: str | None
    snapshot_digest: str
    run_type: str
    state: RunState
    logical_date: datetime | None
    data_interval_start: datetime | None
    data_interval_end: datetime | None
    run_after: datetime
    conf: dict[str, Any]
    params: dict[str, Any]
    note: str | None
    triggered_by: str | None
    clear_number: int
    created_at: datetime
    start_date: datetime | None
    end_date: datetime | None


def run_view(row: DagRun) -> RunView:
    return RunView(
        id=row.id,
        dag_id=row.dag_id,
        run_id=row.run_id,
        version_id=row.version_id,
        snapshot_digest=row.snapshot_digest,
        run_type=row.run_type,
        state=RunState(row.state),
        logical_date=row.logical_date,
        data_interval_start=row.data_interval_start,
        data_interval_end=row.data_interval_end,
        run_after=row.run_after,
        conf=dict(row.conf or {}),
        params=dict(row.params or {}),
        note=row.note,
        triggered_by=row.triggered_by,
        clear_number=row.clear_number,
        created_at=row.created_at,
        start_date=row.start_date,
        end_date=row.end_date,
    )


@dataclass(frozen=True)
class AuditEventView:
    id: int
    at: datetime
    actor: str
    action: str
    target_type: str
    target_id: str
    dag_id: str | None
    meta: dict[str, Any] = field(default_factory=dict)


def audit_view(row: AuditEvent) -> AuditEventView:
    return AuditEventView(
        id=row.id,
        at=row.at,
        actor=row.actor,
        action=row.action,
        target_type=row.target_type,
        target_id=row.target_id,
        dag_id=row.dag_id,
        meta=dict(row.meta or {}),
    )
