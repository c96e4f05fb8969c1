"""The sensor rules (ADR 0036): what a poke that is not done, a timeout, and the scheduler's
check of a deferred sensor make of its task instance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pinflow.lifecycle.sensor_rules import (
    after_check,
    after_poke,
    check_trigger,
    timeout_decision,
    trigger_moment,
)
from pinflow.lifecycle.states import TaskState
from pinflow.spec.models import SensorMode, SensorSpec

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
RESCHEDULE = SensorSpec(poke_interval=10, timeout=60, mode=SensorMode.RESCHEDULE)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_poke_not_done_waits_its_interval_for_the_next() -> None:
    decision = after_poke(RESCHEDULE, "reschedule", first_poke_at=T0, pokes=1, now=at(1))
    assert decision.state == TaskState.UP_FOR_RESCHEDULE
    assert decision.next_try_at == at(11)


def test_the_next_poke_is_never_after_the_timeout() -> None:
    decision = after_poke(RESCHEDULE, "reschedule", first_poke_at=T0, pokes=5, now=at(55))
    assert decision.next_try_at == at(60)


def test_past_the_timeout_counted_from_the_first_poke_the_sensor_fails() -> None:
    decision = after_poke(RESCHEDULE, "reschedule", first_poke_at=T0, pokes=7, now=at(60))
    assert decision.state == TaskState.FAILED
    assert decision.error is not None
    assert decision.error.startswith("AirflowSensorTimeout")


def test_soft_fail_skips_instead() -> None:
    soft = RESCHEDULE.model_copy(update={"soft_fail": True})
    assert timeout_decision(soft, "late").state == TaskState.SKIPPED
    decision = after_poke(soft, "timeout", first_poke_at=T0, pokes=1, now=at(1))
    assert decision.state == TaskState.SKIPPED


def test_exponential_backoff_doubles_up_to_max_wait() -> None:
    sensor = SensorSpec(poke_interval=1, exponential_backoff=True, max_wait=5)
    assert [sensor.wait_after(n) for n in (1, 2, 3, 4, 50_000)] == [1, 2, 4, 5, 5]
    assert SensorSpec(poke_interval=3).wait_after(9) == 3


def test_a_time_trigger_is_checked_at_its_moment_within_the_timeout() -> None:
    trigger = {"kind": "time", "at": at(30).isoformat()}
    decision = after_poke(
        RESCHEDULE, "defer", first_poke_at=T0, pokes=1, now=at(1), trigger=trigger
    )
    assert decision == (TaskState.DEFERRED, at(30), None)
    far = {"kind": "time", "at": at(3600).isoformat()}
    late = after_poke(RESCHEDULE, "defer", first_poke_at=T0, pokes=1, now=at(1), trigger=far)
    assert late.next_try_at == at(60)


def test_a_file_trigger_is_checked_every_poke_interval() -> None:
    trigger = {"kind": "file", "path": "/data/*.csv"}
    decision = after_poke(
        RESCHEDULE, "defer", first_poke_at=T0, pokes=1, now=at(1), trigger=trigger
    )
    assert decision == (TaskState.DEFERRED, at(11), None)
    assert trigger_moment(trigger) is None


def test_a_deferred_sensor_succeeds_when_its_trigger_fires_else_waits_to_its_timeout() -> None:
    trigger = {"kind": "file", "path": "/data/*.csv"}
    check = {"first_poke_at": T0, "checks": 2, "now": at(20)}
    assert after_check(RESCHEDULE, trigger, fired=True, **check).state == TaskState.SUCCESS
    waiting = after_check(RESCHEDULE, trigger, fired=False, **check)
    assert waiting == (TaskState.DEFERRED, at(30), None)
    late = {**check, "now": at(61)}
    assert after_check(RESCHEDULE, trigger, fired=False, **late).state == TaskState.FAILED


@pytest.mark.parametrize(
    ("trigger", "problem"),
    [
        ({"kind": "time", "at": "2026-01-01T00:00:00+00:00"}, None),
        ({"kind": "file", "path": "/x"}, None),
        ({"kind": "time", "at": "soon"}, "a time trigger needs 'at' as an ISO 8601 moment"),
        ({"kind": "time", "at": "2026-01-01T00:00:00"}, "a time trigger's 'at' needs a time"),
        ({"kind": "file"}, "a file trigger needs a 'path'"),
        ({"kind": "http"}, "cannot defer on a 'http' trigger: the scheduler checks 'time'"),
    ],
)
def test_only_triggers_the_scheduler_can_check_are_accepted(
    trigger: dict[str, object], problem: str | None
) -> None:
    found = check_trigger(trigger)
    assert (found is None) if problem is None else (found or "").startswith(problem)
