"""Soft delete, restore and permanent delete of one version (seed 001)."""

from __future__ import annotations

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from pinflow.errors import ConflictError
from pinflow.lifecycle import version_rules as rules
from pinflow.lifecycle.states import VersionStatus
from pinflow.services import audit_events as events
from pinflow.services.audit_events import record
from pinflow.services.commands._versions import facts, make_current, move_current_away, view
from pinflow.services.common import dag_id_of, enforce, lock_dag, lock_version, now
from pinflow.services.reads._views import VersionView
from pinflow.store import repo
from pinflow.store.db import Database
from pinflow.store.tables import WorkflowDefinition


def set_deleted(s: Session, row: WorkflowDefinition, *, deleted: bool, actor: str) -> None:
    """Guarded flip of the soft-delete mark: 0 rows means it was already in that state."""
    stamp = now()
    mark = WorkflowDefinition.deleted_at
    result = s.execute(
        update(WorkflowDefinition)
        .where(WorkflowDefinition.id == row.id, mark.is_(None) if deleted else mark.is_not(None))
        .values(
            deleted_at=stamp if deleted else None,
            deleted_by=actor if deleted else None,
            updated_at=stamp,
        )
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise ConflictError(
            "This workflow version is already deleted."
            if deleted
            else "This workflow version is not deleted; there is nothing to restore."
        )
    s.refresh(row)


def soft_delete(db: Database, version_id: str, *, actor: str) -> VersionView:
    """Hide a version from default lists at any status; restorable. Runs are untouched."""
    with db.transaction() as s:
        dag = lock_dag(s, dag_id_of(s, version_id))
        row = lock_version(s, version_id)
        set_deleted(s, row, deleted=True, actor=actor)
        current = move_current_away(s, dag, row.id)
        record(s, actor, events.version_deleted(row, current=current))
        return view(s, row)


def restore(db: Database, version_id: str, *, actor: str) -> VersionView:
    """Undo a soft delete. An active version becomes current again if the DAG has none."""
    with db.transaction() as s:
        dag = lock_dag(s, dag_id_of(s, version_id))
        row = lock_version(s, version_id)
        set_deleted(s, row, deleted=False, actor=actor)
        if dag.current_version_id is None and row.status == VersionStatus.ACTIVE:
            make_current(dag, row.id)
        s.flush()
        record(s, actor, events.version_restored(row))
        return view(s, row)


def purge(db: Database, version_id: str, *, actor: str) -> None:
    """Delete a version for good; refused while it has queued or running runs.

    Finished runs keep their snapshot digest (their version link becomes NULL), and versions
    cloned from this one lose their ``sourceWorkflowId`` (ON DELETE SET NULL, seed 001).
    """
    with db.transaction() as s:
        dag = lock_dag(s, dag_id_of(s, version_id))
        row = lock_version(s, version_id)
        enforce(rules.PURGE, facts(row, live_runs=repo.count_live_runs(s, version_id=row.id)))
        current = move_current_away(s, dag, row.id)
        purged = events.version_purged(row, current=current)  # while the row still exists
        s.flush()
        s.execute(delete(WorkflowDefinition).where(WorkflowDefinition.id == row.id))
        record(s, actor, purged)
