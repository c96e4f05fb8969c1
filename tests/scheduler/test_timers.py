"""The loop's timers and rhythms (ADR 0010), on a clock the tests hold: no sleep, no database."""

from __future__ import annotations

import pytest

from pinflow.scheduler.timers import Timers

NOW = 1000.0


def timers() -> Timers:
    return Timers(poll_interval=5.0, sweep_interval=1.0, idle_interval=30.0, heartbeat_interval=2.0)


def test_everything_is_due_at_start_and_a_reset_keeps_the_rhythm() -> None:
    t = timers()
    assert t.poll_due(NOW)
    assert t.sweep_due(NOW)
    assert t.heartbeat_due(NOW)
    assert not t.retry_due(NOW)
    t.swept(NOW, resting=True)
    t.note_retry(NOW, 3.0)
    t.reset()
    assert (t.poll, t.sweep, t.heartbeat, t.retry) == (0.0, 0.0, 0.0, None)
    assert t.rhythm == 30.0


def test_the_wait_ends_at_the_first_timer_due_and_never_after_max_wait() -> None:
    t = timers()
    t.poll, t.sweep, t.heartbeat = NOW + 4.0, NOW + 3.0, NOW + 1.0
    # The heartbeat counts even with no live try: it is the scheduler's own too.
    assert t.wait(NOW, 10.0) == 1.0
    assert t.wait(NOW, 0.5) == 0.5
    t.note_retry(NOW, 0.25)
    assert t.wait(NOW, 10.0) == 0.25
    assert t.wait(NOW + 9.0, 10.0) == 0.0  # overdue: at once, never negative


def test_the_poll_keeps_the_sweeps_rhythm_only_where_events_wake_the_loop() -> None:
    t = timers()
    t.swept(NOW, resting=True)
    t.polled(NOW, events=True)
    assert t.poll == NOW + 30.0
    t.polled(NOW, events=False)
    assert t.poll == NOW + 5.0


def test_a_busy_sweep_keeps_the_sweep_interval() -> None:
    t = timers()
    t.swept(NOW, resting=False, schedule_in=600.0)
    assert (t.sweep, t.rhythm) == (NOW + 1.0, 1.0)


@pytest.mark.parametrize(
    ("schedule_in", "expected"),
    [(None, 30.0), (120.0, 30.0), (12.0, 12.0), (0.2, 1.0), (-5.0, 1.0)],
)
def test_at_rest_the_sweep_waits_for_the_idle_interval_or_the_next_schedule(
    schedule_in: float | None, expected: float
) -> None:
    t = timers()
    t.swept(NOW, resting=True, schedule_in=schedule_in)
    assert t.sweep == NOW + expected  # never sooner than the busy rhythm
    assert t.rhythm == 30.0
    assert t.poll == NOW + min(30.0, schedule_in if schedule_in is not None else 30.0)


def test_at_rest_the_poll_rests_as_long_but_a_later_poll_stays() -> None:
    t = timers()
    t.poll = NOW + 100.0
    t.swept(NOW, resting=True)
    assert t.poll == NOW + 100.0


def test_a_wake_up_brings_the_busy_rhythm_back_at_once() -> None:
    t = timers()
    t.swept(NOW, resting=True)
    t.woken(NOW + 2.0)
    assert (t.sweep, t.rhythm) == (NOW + 3.0, 1.0)
    t.sweep = NOW + 2.5
    t.woken(NOW + 2.0)  # a sweep already sooner is not put off
    assert t.sweep == NOW + 2.5


def test_the_earliest_retry_sets_the_timer_and_fires_once() -> None:
    t = timers()
    t.note_retry(NOW, 10.0)
    t.note_retry(NOW, 20.0)
    t.note_retry(NOW, -3.0)  # already due
    assert t.retry == NOW
    t.note_retry(NOW, 1.0)
    assert t.retry == NOW
    assert t.retry_due(NOW)
    assert t.retry is None
    assert not t.retry_due(NOW + 100.0)


def test_a_retry_not_yet_due_stays() -> None:
    t = timers()
    t.note_retry(NOW, 10.0)
    assert not t.retry_due(NOW + 9.0)
    assert t.retry == NOW + 10.0


def test_the_heartbeat_comes_every_heartbeat_interval() -> None:
    t = timers()
    t.heartbeat_sent(NOW)
    assert not t.heartbeat_due(NOW + 1.9)
    assert t.heartbeat_due(NOW + 2.0)


def test_a_runs_dagrun_timeout_has_a_timer_of_its_own() -> None:
    t = timers()
    t.swept(NOW, resting=True)  # at rest: the sweep is 30 s away
    t.heartbeat_sent(NOW)
    t.polled(NOW, events=True)
    t.note_deadline(NOW, 0.25)
    assert t.wait(NOW, 60.0) == pytest.approx(0.25)  # the loop wakes for the deadline
    assert not t.deadline_due(NOW)
    assert t.deadline_due(NOW + 0.25)
    assert t.deadline is None  # forgotten until the next computation notes one again
    t.note_deadline(NOW, -5.0)  # overdue: due at once
    assert t.deadline_due(NOW)
    t.note_deadline(NOW, None)
    assert t.deadline is None
