"""What a start, a heartbeat or a report of a try may do, and what a report makes of its try.

The decisions behind ``services.engine``'s start, heartbeat and report paths, as pure
functions of the task instance's row. A try is known by its task instance and its number;
the task instance records its state and the number of its latest try. Every start,
heartbeat and report names the try it is for and is checked against that record before
anything is written (``is_stale``), and the write is still guarded on it in SQL, so the check
never becomes a race.
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from pinflow.lifecycle.run_planning import RetryDecision, retry_decision
from pinflow.lifecycle.states import TaskState
from pinflow.spec.models import ResolvedTask


class TryPosition(NamedTuple):
    """Where a task instance stands: its state and the number of its latest try."""

    state: TaskState
    try_number: int


def position_to_start(try_number: int, *, claimed: bool = False) -> TryPosition:
    """Where a task instance must stand for try ``try_number`` to start.

    Why: a try starts from ``queued`` (or from ``scheduled`` when it is claimed and started in
    one transaction), the task instance still at the previous try's number. A second start of
    the same try (a duplicate, a second executor) finds the number moved on and is refused, so
    a try starts at most once and try numbers grow one by one.
    """
    return TryPosition(TaskState.SCHEDULED if claimed else TaskState.QUEUED, try_number - 1)


def position_while_running(try_number: int) -> TryPosition:
    """Where a task instance must stand for try ``try_number`` to heartbeat or report.

    Why: only the try that runs now may say that it is alive or how it ended. A try that was
    cleared, or superseded by a later try, is fenced off by its number: its heartbeat tells
    its worker to stop, and its late result never overwrites newer state.
    """
    return TryPosition(TaskState.RUNNING, try_number)


def is_stale(state: str, try_number: int, expected: TryPosition) -> bool:
    """Whether a start, heartbeat or report must be refused: the task instance (in ``state``
    at try ``try_number``) is not where the try it names expects it.

    Why: executors and workers report over a network and may repeat or delay a message; a
    duplicate or stale one must change nothing (a ``ConflictError``), never be a lost update.
    """
    return state != expected.state or try_number != expected.try_number


def report_outcome(*, success: bool, skipped: bool) -> TaskState | None:
    """The state a try that did not fail ends in; ``None`` when it failed (``after_failure``).

    Why: a task that asks to be skipped ends normally, but ``skipped`` must win over the
    ``success`` it would otherwise be, so that downstream trigger rules see the skip.
    """
    if skipped:
        return TaskState.SKIPPED
    return TaskState.SUCCESS if success else None


def keeps_return_value(*, success: bool, skipped: bool) -> bool:
    """Whether a report's value is stored as its try's ``return_value``.

    Why: only a successful try's value is an output downstream tasks may read. What a failed
    or skipped try returned is dropped, so that a skipped upstream resolves to ``None`` (as in
    Airflow) and no failure leaves a result behind.
    """
    return success and not skipped


def after_failure(
    task: ResolvedTask | None, try_number: int, now: datetime, *, max_tries: int
) -> RetryDecision:
    """What the failed try ``try_number`` makes of its task instance: ``up_for_retry`` (with
    the moment the next try is due) while tries remain, else ``failed``.

    Why: the retry policy is the task's in the version the run is pinned to now, with the task
    instance's own ``max_tries`` (a clear may have granted more). ``task`` is ``None`` when
    that version has no such task (the run was re-bound to one without it): no policy is left
    to retry by, so the failure is final.
    """
    if task is None:
        return RetryDecision(TaskState.FAILED, None)
    return retry_decision(task, try_number, now, max_tries=max_tries)


def after_interruption(
    task: ResolvedTask | None, now: datetime, *, in_a_row: int, max_interruptions: int
) -> RetryDecision | None:
    """What an interrupted try makes of its task instance: ``up_for_retry`` due at once (the
    caller grants one more try), or ``None`` when the interruption counts as a failure.

    Why: an interruption (the executor or worker stopped, the supervisor died, the process was
    killed from outside) is the infrastructure's fault, not the task's, so it must not spend
    one of the task's retries nor wait out its ``retry_delay`` (Temporal's promise that a crash
    costs a workflow nothing). ``in_a_row`` interruptions of this task instance were already
    forgiven just before this one: past ``max_interruptions`` the task itself is the likely
    cause (it exhausts memory, it kills itself), so the normal retry policy applies. A task
    that its version no longer has cannot be retried at all.
    """
    if task is None or in_a_row >= max_interruptions:
        return None
    return RetryDecision(TaskState.UP_FOR_RETRY, now)
