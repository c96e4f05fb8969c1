"""Version, run and task states, and which moves between them are legal."""

from __future__ import annotations

from enum import StrEnum


class VersionStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    DEPRECATED = "deprecated"


PUBLISHED_STATUSES = frozenset({VersionStatus.ACTIVE, VersionStatus.DEPRECATED})


class RunState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"


UNFINISHED_RUN_STATES = frozenset({RunState.QUEUED, RunState.RUNNING})


class RunType(StrEnum):
    MANUAL = "manual"
    SCHEDULED = "scheduled"
    BACKFILL = "backfill"
    TEST = "test"  # a run of a draft version
    ASSET_TRIGGERED = "asset_triggered"  # its DAG's asset condition held (ADR 0037)


class TaskState(StrEnum):
    """Airflow's task instance states (``none`` is Airflow's ``None``)."""

    NONE = "none"
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    UP_FOR_RETRY = "up_for_retry"
    UPSTREAM_FAILED = "upstream_failed"
    SKIPPED = "skipped"
    REMOVED = "removed"
    # A sensor between pokes (ADR 0036): no process, no slot; due again at ``next_try_at``.
    UP_FOR_RESCHEDULE = "up_for_reschedule"
    # A sensor whose condition the scheduler checks itself (time, a file): no process, no slot.
    DEFERRED = "deferred"


FINISHED_TASK_STATES = frozenset(
    {
        TaskState.SUCCESS,
        TaskState.FAILED,
        TaskState.UPSTREAM_FAILED,
        TaskState.SKIPPED,
        TaskState.REMOVED,
    }
)
# A task in one of these states has (or may at any moment have) a live process.
LIVE_TASK_STATES = frozenset({TaskState.QUEUED, TaskState.RUNNING})
FAILED_TASK_STATES = frozenset({TaskState.FAILED, TaskState.UPSTREAM_FAILED})
# Waiting for their ``next_try_at``, then ``scheduled`` again: a retry, or a sensor's next poke.
DUE_AGAIN_STATES = frozenset({TaskState.UP_FOR_RETRY, TaskState.UP_FOR_RESCHEDULE})
# Waiting with no process for a moment the scheduler knows: the scheduler wakes for these.
TIMED_WAIT_STATES = DUE_AGAIN_STATES | {TaskState.DEFERRED}

# Moves an executor may report. Anything else is a conflict: a stale or duplicate report
# (e.g. a result arriving after the task was cleared) must never overwrite newer state.
REPORTABLE_TRANSITIONS: dict[TaskState, frozenset[TaskState]] = {
    TaskState.SCHEDULED: frozenset({TaskState.QUEUED}),
    TaskState.QUEUED: frozenset({TaskState.RUNNING, TaskState.FAILED, TaskState.UP_FOR_RETRY}),
    TaskState.RUNNING: frozenset(
        {
            TaskState.SUCCESS,
            TaskState.FAILED,
            TaskState.UP_FOR_RETRY,
            TaskState.SKIPPED,
            TaskState.UP_FOR_RESCHEDULE,
            TaskState.DEFERRED,
        }
    ),
}


def can_report(current: TaskState, new: TaskState) -> bool:
    return new in REPORTABLE_TRANSITIONS.get(current, frozenset())
