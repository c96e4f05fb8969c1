"""When the scheduler loop acts on its own: its timers and its two rhythms (ADR 0010).

Pure bookkeeping on the monotonic clock: the loop passes ``now``, asks what is due, acts, and
says what it did. While anything runs or waits to run, the sweep keeps ``sweep_interval``. At
rest, and only where events reach the scheduler (the API in its process, PostgreSQL's
``LISTEN``), the sweep waits ``idle_interval`` or until the next scheduled run, whichever comes
first, and the poll for new runs rests with it. A wake-up brings the busy rhythm back at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pinflow.settings import Settings


@dataclass
class Timers:
    """When each timer is next due (monotonic seconds; ``retry`` is ``None`` when no retry
    waits), and ``rhythm``, the sweep's period: ``sweep_interval``, or longer at rest."""

    poll_interval: float
    sweep_interval: float
    idle_interval: float
    heartbeat_interval: float
    poll: float = 0.0
    heartbeat: float = 0.0
    sweep: float = 0.0
    retry: float | None = None
    deadline: float | None = None  # the earliest dagrun_timeout of a running run
    rhythm: float = field(init=False)

    def __post_init__(self) -> None:
        self.rhythm = self.sweep_interval

    @classmethod
    def of(cls, settings: Settings) -> Timers:
        return cls(
            poll_interval=settings.poll_interval,
            sweep_interval=settings.sweep_interval,
            idle_interval=settings.idle_interval,
            heartbeat_interval=settings.heartbeat_interval,
        )

    def reset(self) -> None:
        """Every timer due at once, no retry waiting (what a start does); the rhythm stays."""
        self.poll = self.heartbeat = self.sweep = 0.0
        self.retry = self.deadline = None

    def sweep_in(self, now: float) -> float:
        return max(0.0, self.sweep - now)

    def wait(self, now: float, max_wait: float) -> float:
        """How long the loop may wait: until the first timer due, at most ``max_wait``. The
        heartbeat counts at rest too: it is also this scheduler's own, which says it is alive
        (health, and the recovery of what it claimed), so it must not age past
        ``scheduler_health_threshold`` while the loop sleeps ``idle_interval``."""
        due = [self.poll, self.sweep, self.heartbeat]
        due += [at for at in (self.retry, self.deadline) if at is not None]
        return max(0.0, min(max_wait, min(due) - now))

    def woken(self, now: float) -> None:
        """Something happened elsewhere: back to the busy rhythm."""
        self.rhythm = self.sweep_interval
        self.sweep = min(self.sweep, now + self.rhythm)

    def poll_due(self, now: float) -> bool:
        return now >= self.poll

    def polled(self, now: float, *, events: bool) -> None:
        """The poll for new runs ran. When every queued run wakes the loop (``events``), the
        poll is only a safety net and keeps the sweep's rhythm."""
        self.poll = now + (self.rhythm if events else self.poll_interval)

    def retry_due(self, now: float) -> bool:
        """Whether the earliest retry delay has expired; it is then forgotten until noted again."""
        if self.retry is None or now < self.retry:
            return False
        self.retry = None
        return True

    def note_retry(self, now: float, in_seconds: float) -> None:
        """A retry is due ``in_seconds`` (negative: overdue); the earliest one sets the timer."""
        at = now + max(0.0, in_seconds)
        self.retry = at if self.retry is None else min(self.retry, at)

    def deadline_due(self, now: float) -> bool:
        """Whether a running run's ``dagrun_timeout`` may have expired; then forgotten until
        noted again (what failing the timed-out runs does)."""
        if self.deadline is None or now < self.deadline:
            return False
        self.deadline = None
        return True

    def note_deadline(self, now: float, in_seconds: float | None) -> None:
        """The earliest running run times out ``in_seconds`` from now (``None``: none will).
        Set, not merged: the sweep that computes it sees every running run."""
        self.deadline = None if in_seconds is None else now + max(0.0, in_seconds)

    def sweep_due(self, now: float) -> bool:
        return now >= self.sweep

    def swept(self, now: float, *, resting: bool, schedule_in: float | None = None) -> None:
        """The sweep ran: the next one at the busy rhythm, or when ``resting`` (events reach
        the scheduler and nothing runs or waits) at ``idle_interval`` or the next scheduled
        run (due ``schedule_in`` seconds from now), whichever comes first; never sooner than
        the busy rhythm. The poll rests as long."""
        busy = now + self.sweep_interval
        if not resting:
            self.rhythm = self.sweep_interval
            self.sweep = busy
            return
        self.rhythm = self.idle_interval
        at = now + self.rhythm
        if schedule_in is not None:
            at = min(at, now + schedule_in)
        self.poll = max(self.poll, at)
        self.sweep = max(at, busy)

    def heartbeat_due(self, now: float) -> bool:
        return now >= self.heartbeat

    def heartbeat_sent(self, now: float) -> None:
        self.heartbeat = now + self.heartbeat_interval
