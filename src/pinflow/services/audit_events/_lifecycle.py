"""Audit entries of a version's lifecycle (seed 001) and of a DAG's (seed 000).

Seed 001 asks that ``workflow.version_created`` and ``workflow.deprecated`` link the source
and the target versions (``sourceWorkflowId``, ``targetWorkflowId``); the other version
events carry the source too, so that the chain of versions can be followed in the log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from pinflow.lifecycle.dag_rules import Impact
from pinflow.services.audit_events._actions import AuditAction as A
from pinflow.services.audit_events._entry import AuditEntry, on_dag, on_version
from pinflow.store.tables import Dag, WorkflowDefinition

# --- versions ----------------------------------------------------------------------------------


def version_created(source: WorkflowDefinition, row: WorkflowDefinition) -> AuditEntry:
    """A draft ``row`` cloned from ``source`` (create-version)."""
    meta = {
        "sourceWorkflowId": source.id,
        "targetWorkflowId": row.id,
        "sourceVersion": source.version,
        "sourceStatus": source.status,
    }
    return on_version(A.VERSION_CREATED, row, meta)


def version_created_by_push(row: WorkflowDefinition) -> AuditEntry:
    """A version a push created (its dev draft for ``pinflow dev``), from the current one."""
    meta = {
        "sourceWorkflowId": row.source_workflow_id,
        "targetWorkflowId": row.id,
        "via": "dev" if row.is_dev else "push",
    }
    return on_version(A.VERSION_CREATED, row, meta)


def version_edited(row: WorkflowDefinition, *, from_snapshot: str) -> AuditEntry:
    """A draft's new snapshot (``row`` holds it already)."""
    meta = {"fromSnapshot": from_snapshot, "toSnapshot": row.snapshot_digest}
    return on_version(A.VERSION_EDITED, row, meta)


def version_published(row: WorkflowDefinition) -> AuditEntry:
    """Draft -> active, or a version a push published, numbered already."""
    meta = {
        "version": row.version,
        "snapshot": row.snapshot_digest,
        "sourceWorkflowId": row.source_workflow_id,
    }
    return on_version(A.VERSION_PUBLISHED, row, meta)


def version_deprecated(
    row: WorkflowDefinition, *, superseded_by: str | None, current: str | None
) -> AuditEntry:
    """Active -> deprecated; ``superseded_by``: the version whose publishing deprecated it."""
    meta = {
        "sourceWorkflowId": row.source_workflow_id,
        "targetWorkflowId": superseded_by,
        "version": row.version,
        "currentVersionId": current,
    }
    return on_version(A.VERSION_DEPRECATED, row, meta)


def version_reverted_to_draft(
    row: WorkflowDefinition, previous_status: str, *, current: str | None
) -> AuditEntry:
    """Back to draft (seed 001's last resort) from ``previous_status``."""
    meta = {
        "previousStatus": previous_status,
        "version": row.version,
        "sourceWorkflowId": row.source_workflow_id,
        "currentVersionId": current,
    }
    return on_version(A.VERSION_REVERTED_TO_DRAFT, row, meta)


def dev_draft_saved(
    row: WorkflowDefinition, from_snapshot: str, *, previous_current: str | None
) -> AuditEntry:
    """A save of the DAG's dev draft (``row`` holds the new snapshot), now current."""
    meta = {
        "fromSnapshot": from_snapshot,
        "toSnapshot": row.snapshot_digest,
        "previousCurrentVersionId": previous_current,
    }
    return on_version(A.VERSION_DEV_SAVED, row, meta)


def version_deleted(row: WorkflowDefinition, *, current: str | None) -> AuditEntry:
    meta = {"status": row.status, "version": row.version, "currentVersionId": current}
    return on_version(A.VERSION_DELETED, row, meta)


def version_restored(row: WorkflowDefinition) -> AuditEntry:
    return on_version(A.VERSION_RESTORED, row, {"status": row.status, "version": row.version})


def version_purged(row: WorkflowDefinition, *, current: str | None) -> AuditEntry:
    """Built before the row is deleted: the log keeps what the version was."""
    meta = {
        "status": row.status,
        "version": row.version,
        "name": row.name,
        "snapshot": row.snapshot_digest,
        "currentVersionId": current,
    }
    return on_version(A.VERSION_PURGED, row, meta)


def by_policy(entry: AuditEntry, *, rule: str, reason: str) -> AuditEntry:
    """A lifecycle event that a DAG's retirement policy caused (actor ``policy``, ADR 0031):
    the same action and target as by hand, with the rule that asked for it and why."""
    return replace(entry, meta={**entry.meta, "policy": {"rule": rule, "reason": reason}})


def canary_started(
    source: WorkflowDefinition,
    target: WorkflowDefinition,
    batch_id: str,
    runs: Sequence[Mapping[str, Any]],
    *,
    reuse: bool,
) -> AuditEntry:
    """A canary action (ADR 0030): the runs of ``source`` replayed on ``target``; each of
    ``runs`` names its source run, its canary run and the tasks it reused."""
    meta = {
        "sourceWorkflowId": source.id,
        "targetWorkflowId": target.id,
        "sourceVersion": source.version,
        "targetStatus": target.status,
        "batchId": batch_id,
        "reuse": reuse,
        "runs": [dict(r) for r in runs],
    }
    return on_version(A.VERSION_CANARY_STARTED, target, meta)


# --- DAGs --------------------------------------------------------------------------------------


def dag_registered(dag_id: str, *, project: str, paused: bool = False) -> AuditEntry:
    """A push created the DAG; ``paused``: it starts paused (``dags_are_paused_at_creation``)."""
    return on_dag(A.DAG_REGISTERED, dag_id, {"project": project, "paused": paused})


def dag_pushed(row: WorkflowDefinition, *, mode: str, version_created: bool) -> AuditEntry:
    """A push that stored something new; ``row``: the version it placed the snapshot in."""
    meta = {
        "snapshot": row.snapshot_digest,
        "mode": str(mode),
        "versionId": row.id,
        "versionCreated": version_created,
    }
    return on_dag(A.DAG_PUSHED, row.dag_id, meta)


def current_version_set(row: WorkflowDefinition, *, previous: str | None) -> AuditEntry:
    """The DAG's current version set to ``row`` (a rollback or roll-forward)."""
    meta = {"fromVersionId": previous, "toVersionId": row.id, "version": row.version}
    return on_dag(A.DAG_CURRENT_VERSION_SET, row.dag_id, meta)


def current_version_set_by_push(row: WorkflowDefinition, *, previous: str | None) -> AuditEntry:
    """Re-pushing what an active version holds made it current again."""
    meta = {"fromVersionId": previous, "toVersionId": row.id, "via": "push"}
    return on_dag(A.DAG_CURRENT_VERSION_SET, row.dag_id, meta)


def _impact(impact: Impact, forced: bool) -> dict[str, Any]:
    return {
        "runs": impact.runs_total,
        "runsInFlight": list(impact.runs_in_flight),
        "runningTasks": impact.running_tasks,
        "taskInstances": impact.task_instances,
        "versions": impact.versions,
        "xcoms": impact.xcoms,
        "stagingDirs": len(impact.staging_dirs),
        "logFiles": len(impact.log_paths),
        "forced": forced,
    }


def dag_history_cleared(impact: Impact, *, forced: bool) -> AuditEntry:
    return on_dag(A.DAG_HISTORY_CLEARED, impact.dag_id, _impact(impact, forced))


def dag_deregistered(impact: Impact, *, forced: bool, tasks_failed: int) -> AuditEntry:
    meta = _impact(impact, forced) | {"tasksFailed": tasks_failed}
    return on_dag(A.DAG_DEREGISTERED, impact.dag_id, meta)


def dag_purged(impact: Impact, *, forced: bool, snapshots: int) -> AuditEntry:
    meta = _impact(impact, forced) | {"snapshots": snapshots}
    return on_dag(A.DAG_PURGED, impact.dag_id, meta)


def dag_restored(dag: Dag) -> AuditEntry:
    """Built before the restore: the log keeps who deregistered the DAG, and when."""
    at = dag.deregistered_at.isoformat() if dag.deregistered_at else None
    meta = {"reason": "restored", "deregisteredBy": dag.deregistered_by, "deregisteredAt": at}
    return on_dag(A.DAG_RESTORED, dag.dag_id, meta)


def dag_restored_by_push(dag_id: str) -> AuditEntry:
    """A push of a deregistered DAG brings it back."""
    return on_dag(A.DAG_RESTORED, dag_id, {"reason": "re-pushed"})


def dag_pause_set(dag_id: str, paused: bool) -> AuditEntry:
    """``dag.paused`` or ``dag.unpaused`` (only on a change: setting the same value is silent)."""
    return on_dag(A.DAG_PAUSED if paused else A.DAG_UNPAUSED, dag_id, {})


def rerun_with_latest_version_set(dag_id: str, value: bool) -> AuditEntry:
    return on_dag(A.DAG_RERUN_WITH_LATEST_VERSION_SET, dag_id, {"from": not value, "to": value})


def import_error_reported(filename: str, *, bundle: str | None) -> AuditEntry:
    """A DAG file that does not compile; it names no DAG (the file could not say which)."""
    meta = {"bundle": bundle} if bundle else {}
    return AuditEntry(A.DAG_IMPORT_ERROR, "import_error", filename, None, meta)


def retirement_policy_set(
    dag_id: str, *, policy: dict[str, Any], previous: dict[str, Any] | None
) -> AuditEntry:
    """A DAG's retirement policy set (``previous``: None when it had none)."""
    return on_dag(A.DAG_RETIREMENT_POLICY_SET, dag_id, {"from": previous, "to": policy})
