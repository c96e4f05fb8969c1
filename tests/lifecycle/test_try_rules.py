"""What a start, heartbeat or report of a try may do, and what a report makes of its try."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from tests.lifecycle.test_run_planning import NOW
from tests.lifecycle.test_run_planning import task as planning_task

from pinflow.lifecycle.states import TaskState
from pinflow.lifecycle.try_rules import (
    TryPosition,
    after_failure,
    is_stale,
    keeps_return_value,
    position_to_start,
    position_while_running,
    report_outcome,
)
from pinflow.spec.models import ResolvedTask


def task(**fields: Any) -> ResolvedTask:
    """The run-planning tests' task, with two retries."""
    return planning_task(**{"retries": 2, **fields})


def test_a_try_starts_from_queued_at_the_previous_number() -> None:
    assert position_to_start(1) == TryPosition(TaskState.QUEUED, 0)
    assert position_to_start(3) == TryPosition(TaskState.QUEUED, 2)


def test_a_try_claimed_and_started_at_once_starts_from_scheduled() -> None:
    assert position_to_start(2, claimed=True) == TryPosition(TaskState.SCHEDULED, 1)


def test_only_the_running_try_heartbeats_or_reports() -> None:
    assert position_while_running(2) == TryPosition(TaskState.RUNNING, 2)


@pytest.mark.parametrize(
    ("state", "try_number", "stale"),
    [
        ("running", 2, False),  # the try that runs now
        ("running", 3, True),  # superseded by a later try
        ("running", 1, True),  # a report from the future (never written by Pinflow)
        ("none", 2, True),  # cleared while running
        ("success", 2, True),  # a duplicate of a report already recorded
        ("up_for_retry", 2, True),
    ],
)
def test_a_message_for_another_try_or_state_is_stale(
    state: str, try_number: int, stale: bool
) -> None:
    assert is_stale(state, try_number, position_while_running(2)) is stale


def test_a_second_start_of_the_same_try_is_stale() -> None:
    expected = position_to_start(2)
    assert not is_stale("queued", 1, expected)
    assert is_stale("running", 2, expected)  # the first start went through
    assert is_stale("scheduled", 1, expected)  # not queued for it (yet)


@pytest.mark.parametrize(
    ("success", "skipped", "state"),
    [
        (True, False, TaskState.SUCCESS),
        (True, True, TaskState.SKIPPED),  # the skip wins
        (False, True, TaskState.SKIPPED),
        (False, False, None),  # a failure: the retry policy decides
    ],
)
def test_what_a_report_ends_its_try_in(
    success: bool, skipped: bool, state: TaskState | None
) -> None:
    assert report_outcome(success=success, skipped=skipped) == state


@pytest.mark.parametrize(
    ("success", "skipped", "kept"),
    [(True, False, True), (True, True, False), (False, False, False), (False, True, False)],
)
def test_only_a_successful_try_keeps_its_value(success: bool, skipped: bool, kept: bool) -> None:
    assert keeps_return_value(success=success, skipped=skipped) is kept


def test_a_failure_is_retried_while_tries_remain() -> None:
    decision = after_failure(task(), 1, NOW, max_tries=2)
    assert decision == (TaskState.UP_FOR_RETRY, NOW + timedelta(seconds=10))
    assert after_failure(task(), 2, NOW, max_tries=2).state == TaskState.UP_FOR_RETRY
    assert after_failure(task(), 3, NOW, max_tries=2) == (TaskState.FAILED, None)


def test_the_task_instance_max_tries_counts_not_the_spec_retries() -> None:
    # A clear granted further tries: try 4 of a task with two retries may still retry.
    assert after_failure(task(retries=2), 4, NOW, max_tries=6).state == TaskState.UP_FOR_RETRY
    assert after_failure(task(retries=6), 4, NOW, max_tries=3) == (TaskState.FAILED, None)


def test_a_failure_of_a_task_the_version_no_longer_has_is_final() -> None:
    assert after_failure(None, 1, NOW, max_tries=5) == (TaskState.FAILED, None)


def test_the_retry_delay_follows_the_task_backoff() -> None:
    backoff = task(retry_exponential_backoff=True, retries=5)
    assert after_failure(backoff, 3, NOW, max_tries=5).next_try_at == NOW + timedelta(seconds=40)
