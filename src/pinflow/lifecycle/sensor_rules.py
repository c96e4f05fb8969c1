"""What a sensor's poke, or the scheduler's check of a deferred sensor, makes of its task
instance (ADR 0036).

Pure functions of the task's ``SensorSpec``, when its first poke was and how many pokes it
made; ``services.engine`` locks the row, asks, and writes. A sensor that is not done waits
with no process and no slot: ``up_for_reschedule`` until its next poke is due (the scheduler
starts it again), or ``deferred`` until the scheduler sees its trigger hold. Either way its
``timeout`` counts from the first poke, as in Airflow.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, NamedTuple

from pinflow.lifecycle.states import TaskState
from pinflow.spec.models import SensorSpec


class SensorDecision(NamedTuple):
    state: TaskState
    next_try_at: datetime | None = None
    error: str | None = None


def timeout_decision(sensor: SensorSpec, detail: str) -> SensorDecision:
    """A sensor past its timeout: ``failed`` without retrying, or ``skipped`` with
    ``soft_fail``.

    Why: Airflow does not retry an ``AirflowSensorTimeout`` (waiting longer is what the
    timeout forbids); ``soft_fail`` says that the wait failing is not the run failing, so the
    task and what depends on it by ``all_success`` are skipped instead.
    """
    if sensor.soft_fail:
        return SensorDecision(TaskState.SKIPPED, None, f"soft_fail: {detail}")
    return SensorDecision(TaskState.FAILED, None, detail)


def deadline(sensor: SensorSpec, first_poke_at: datetime) -> datetime:
    return first_poke_at + timedelta(seconds=sensor.timeout)


def after_poke(
    sensor: SensorSpec,
    outcome: str,
    *,
    first_poke_at: datetime,
    pokes: int,
    now: datetime,
    trigger: dict[str, Any] | None = None,
) -> SensorDecision:
    """What a try whose sensor reported ``outcome`` (``reschedule``, ``defer``, ``timeout``)
    makes of its task instance; ``pokes`` counts this one.

    Why: a sensor that is not done must not hold a process or a slot while it waits, but it
    must still end by its timeout: the next poke (or check of its trigger) is due after
    ``wait_after(pokes)``, a time trigger's own moment, or the timeout, whichever is first.
    """
    limit = deadline(sensor, first_poke_at)
    if outcome == "timeout" or now >= limit:
        return timeout_decision(sensor, _timed_out(sensor, pokes))
    due = now + timedelta(seconds=sensor.wait_after(pokes))
    if outcome == "defer":
        at = trigger_moment(trigger)
        return SensorDecision(TaskState.DEFERRED, min(at if at is not None else due, limit))
    return SensorDecision(TaskState.UP_FOR_RESCHEDULE, min(due, limit))


def after_check(
    sensor: SensorSpec,
    trigger: dict[str, Any] | None,
    *,
    fired: bool,
    first_poke_at: datetime,
    checks: int,
    now: datetime,
) -> SensorDecision:
    """What the scheduler's check of a deferred sensor's trigger makes of it.

    Why: a deferred sensor resumes only to succeed (Airflow's time and file sensors'
    ``execute_complete`` does nothing else), so the scheduler ends it ``success`` itself when
    the trigger holds and no process is ever started for it; else it waits on, to its
    timeout.
    """
    if fired:
        return SensorDecision(TaskState.SUCCESS)
    return after_poke(
        sensor, "defer", first_poke_at=first_poke_at, pokes=checks, now=now, trigger=trigger
    )


def trigger_moment(trigger: dict[str, Any] | None) -> datetime | None:
    """The moment a time trigger fires; ``None`` for other triggers (checked each poke)."""
    if not trigger or trigger.get("kind") != "time":
        return None
    return datetime.fromisoformat(str(trigger["at"]))


def check_trigger(trigger: dict[str, Any]) -> str | None:
    """What is wrong with a trigger a sensor deferred on; ``None`` when the scheduler can
    check it.

    Why: the scheduler checks deferred sensors itself and runs no user code, so only the
    triggers it knows can be deferred on; anything else must fail the try with a message
    saying what is supported, not wait forever.
    """
    kind = trigger.get("kind")
    if kind == "time":
        try:
            at = datetime.fromisoformat(str(trigger.get("at")))
        except ValueError:
            return f"a time trigger needs 'at' as an ISO 8601 moment, got {trigger.get('at')!r}"
        return None if at.tzinfo is not None else "a time trigger's 'at' needs a time zone"
    if kind == "file":
        path = trigger.get("path")
        return None if isinstance(path, str) and path else "a file trigger needs a 'path'"
    return (
        f"cannot defer on a {kind!r} trigger: the scheduler checks 'time' and 'file' triggers "
        "only (TimeDeltaSensorAsync, DateTimeSensorAsync, deferrable time and file sensors)"
    )


def _timed_out(sensor: SensorSpec, pokes: int) -> str:
    return (
        f"AirflowSensorTimeout: sensor still not done {sensor.timeout:g}s after its first poke "
        f"({pokes} pokes); it is not retried"
    )
