"""Audit entries of runs and task instances: started, finished, marked, annotated, cleared."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pinflow.lifecycle.mapping import Expansion
from pinflow.lifecycle.rebind import ClearPlan, PlanAction
from pinflow.lifecycle.states import RunState, RunType, TaskState
from pinflow.services.audit_events._actions import AuditAction as A
from pinflow.services.audit_events._entry import (
    AuditEntry,
    RunKey,
    StoredRun,
    TaskKey,
    on_run,
    on_task,
)
from pinflow.store.tables import TaskInstance, WorkflowDefinition

# --- runs --------------------------------------------------------------------------------------


def run_triggered(
    run: RunKey,
    version: WorkflowDefinition,
    run_type: RunType,
    extra: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """A queued run, pinned to ``version``; ``extra``: what the trigger adds (conf keys, the
    data interval of a scheduled run)."""
    meta = {
        "versionId": version.id,
        "version": version.version,
        "snapshot": version.snapshot_digest,
        "runType": run_type.value,
        **(extra or {}),
    }
    return on_run(A.RUN_TRIGGERED, run, meta)


def run_finished(
    run: StoredRun,
    outcome: RunState,
    failed_tasks: Sequence[str],
    *,
    reason: str | None = None,
    stopped_tasks: int | None = None,
) -> AuditEntry:
    """The scheduler's verdict on a run, with the version and snapshot that produced it;
    ``reason`` when it is not the tasks' outcome (``timed out``: its ``dagrun_timeout``, which
    stopped ``stopped_tasks`` task instances)."""
    meta: dict[str, Any] = {
        "outcome": outcome.value,
        "versionId": run.version_id,
        "snapshot": run.snapshot_digest,
        "failedTasks": list(failed_tasks),
    }
    if reason is not None:
        meta.update(reason=reason, stoppedTasks=stopped_tasks or 0)
    return on_run(A.RUN_FINISHED, run, meta)


def run_state_set(run: RunKey, *, old: str, new: RunState, tasks: int) -> AuditEntry:
    """An operator's mark; ``tasks``: how many task instances it changed."""
    return on_run(A.RUN_STATE_SET, run, {"from": old, "to": new.value, "tasks": tasks})


def run_note_set(run: RunKey, note: str | None) -> AuditEntry:
    """Only the note's length: a note is free text, and may hold what a log should not."""
    return on_run(A.RUN_NOTE_SET, run, {"length": len(note or "")})


def run_tasks_cleared(
    run: RunKey, plan: ClearPlan, *, elements: dict[str, int] | None = None
) -> AuditEntry:
    """A clear, with the version it moved the run from and to, and what each task became;
    ``elements``: the mapped tasks of which only one element was cleared (its map index)."""
    meta: dict[str, object] = {
        "fromVersionId": plan.from_version_id,
        "toVersionId": plan.to_version_id,
        "fromSnapshot": plan.from_snapshot,
        "toSnapshot": plan.to_snapshot,
        "reExecuted": plan.task_ids(PlanAction.RE_EXECUTED),
        "new": plan.task_ids(PlanAction.NEW),
        "removed": plan.task_ids(PlanAction.REMOVED),
    }
    if elements:
        meta["mapIndexes"] = elements
    return on_run(A.RUN_TASKS_CLEARED, run, meta)


def run_deleted(run: StoredRun, *, live_tasks: int, forced: bool) -> AuditEntry:
    meta = {"state": run.state, "versionId": run.version_id, "liveTasks": live_tasks}
    return on_run(A.RUN_DELETED, run, meta | {"forced": forced})


# --- task instances ----------------------------------------------------------------------------


def task_state_set(ref: TaskKey, new: TaskState, changing: Sequence[TaskInstance]) -> AuditEntry:
    """Built before the marks are written: it records the states they replace."""
    tasks = [{"taskId": t.task_id, "mapIndex": t.map_index, "from": t.state} for t in changing]
    meta = {"mapIndex": ref.map_index, "to": new.value, "tasks": tasks}
    return on_task(A.TASK_STATE_SET, ref, ref.task_id, meta)


def task_note_set(ref: TaskKey, note: str | None) -> AuditEntry:
    meta = {"mapIndex": ref.map_index, "length": len(note or "")}
    return on_task(A.TASK_NOTE_SET, ref, ref.task_id, meta)


def task_expand_failed(run: StoredRun, expansion: Expansion) -> AuditEntry:
    """A mapped task whose input could not be expanded (the scheduler failed or skipped it)."""
    meta = {"state": expansion.state.value, "error": expansion.error, "runPk": run.id}
    return on_task(A.TASK_EXPAND_FAILED, run, expansion.task_id, meta)


def asset_event_created(uri: str, event_id: int, queued_for: Sequence[str]) -> AuditEntry:
    """A manual asset event, and the DAGs scheduled on the asset it was queued for."""
    meta = {"eventId": event_id, "queuedFor": list(queued_for)}
    return AuditEntry(A.ASSET_EVENT_CREATED, "asset", uri, None, meta)
