"""A time axis for the charts: a linear scale from instants to pixels, and ticks at round
clock times (every 1, 2, 5, 10, 15, 30 s, 1, 2, 5, ... min, ... hours, days) so that a
reader can tell the time of a bar at a glance. Pure: no clock is read here."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pinflow.ui.templating import fmt_seconds

MAX_TICKS = 6
_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200)
_DAY = 86400
_MINUTE = 60


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class TimeScale:
    """``start`` .. ``end`` onto 0 .. ``width`` pixels (an empty span is one second long)."""

    start: datetime
    end: datetime
    width: float

    @property
    def seconds(self) -> float:
        return max((self.end - self.start).total_seconds(), 1.0)

    def x(self, at: datetime) -> float:
        offset = (at - self.start).total_seconds()
        return round(min(max(offset / self.seconds, 0.0), 1.0) * self.width, 2)

    def ticks(self) -> list[Tick]:
        step = tick_step(self.seconds)
        first = math.ceil(self.start.timestamp() / step) * step
        ticks = []
        at = first
        while at <= self.end.timestamp():
            moment = datetime.fromtimestamp(at, UTC)
            ticks.append(Tick(self.x(moment), tick_label(moment, step)))
            at += step
        return ticks


def tick_step(seconds: float) -> int:
    """The smallest round step that cuts ``seconds`` into at most ``MAX_TICKS`` pieces."""
    for step in _STEPS:
        if seconds / step <= MAX_TICKS:
            return step
    return _DAY * max(1, math.ceil(seconds / _DAY / MAX_TICKS))


def tick_label(at: datetime, step: int) -> str:
    if step < _MINUTE:
        return at.strftime("%H:%M:%S")
    if step < _DAY:
        return at.strftime("%H:%M")
    return at.strftime("%m-%d")


def span_of(instants: list[datetime]) -> tuple[datetime, datetime] | None:
    """The earliest and the latest of ``instants`` (``None`` when there are none); a span
    shorter than a second is widened to one, so that a bar never divides by zero."""
    if not instants:
        return None
    start, end = min(instants), max(instants)
    return start, max(end, start + timedelta(seconds=1))


def fmt_span(seconds: float | None) -> str:
    """A duration as the charts write it: below a second in milliseconds (tasks that take
    0.03 s and 0.4 s must not both read ``0.0s``), else as the tables do."""
    if seconds is not None and 0 <= seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    return fmt_seconds(seconds)
