"""An audit entry (what happened, to which target, with which details) and ``record``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from pinflow.services.audit_events._actions import AuditAction
from pinflow.store import tables


@dataclass(frozen=True)
class AuditEntry:
    """One event as a use case states it; ``record`` adds who did it and when.

    Built only by the constructors of this package, so that each action always has the
    target and the metadata keys that the API, the UI and the seeds expect of it.
    """

    action: AuditAction
    target_type: str
    target_id: str
    dag_id: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)


def record(session: Session, actor: str, entry: AuditEntry) -> None:
    """Append ``entry`` in the caller's transaction (so it commits or rolls back with it)."""
    session.add(
        tables.AuditEvent(
            at=datetime.now(UTC),  # common.now(), which cannot be imported: common imports us
            actor=actor,
            action=entry.action.value,
            target_type=entry.target_type,
            target_id=entry.target_id,
            dag_id=entry.dag_id,
            meta=dict(entry.meta),
        )
    )


class RunKey(Protocol):
    """A run by name: a ``DagRun`` row, the engine's ``RunRow``."""

    @property
    def dag_id(self) -> str: ...
    @property
    def run_id(self) -> str: ...


class StoredRun(RunKey, Protocol):
    """A run as its row holds it (``DagRun``, or the engine's ``RunRow``)."""

    @property
    def id(self) -> int: ...
    @property
    def state(self) -> str: ...
    @property
    def snapshot_digest(self) -> str: ...
    @property
    def version_id(self) -> str | None: ...


class TaskKey(RunKey, Protocol):
    """A task instance by name (the reads' ``TaskRef``)."""

    @property
    def task_id(self) -> str: ...
    @property
    def map_index(self) -> int: ...


def on_version(
    action: AuditAction, row: tables.WorkflowDefinition, meta: Mapping[str, Any]
) -> AuditEntry:
    return AuditEntry(action, "workflow", row.id, row.dag_id, meta)


def on_dag(action: AuditAction, dag_id: str, meta: Mapping[str, Any]) -> AuditEntry:
    return AuditEntry(action, "dag", dag_id, dag_id, meta)


def on_run(action: AuditAction, run: RunKey, meta: Mapping[str, Any]) -> AuditEntry:
    return AuditEntry(action, "dag_run", f"{run.dag_id}/{run.run_id}", run.dag_id, meta)


def on_task(action: AuditAction, run: RunKey, task_id: str, meta: Mapping[str, Any]) -> AuditEntry:
    target = f"{run.dag_id}/{run.run_id}/{task_id}"
    return AuditEntry(action, "task_instance", target, run.dag_id, meta)


def on_user(action: AuditAction, username: str, meta: Mapping[str, Any]) -> AuditEntry:
    return AuditEntry(action, "user", username, None, meta)
