"""The geometry of the duration charts, from read models:

- ``run_bars``: the grid's bar over each run's column, as tall as the run took (the page's
  longest run is the full height; a live run counts until now), like Airflow 3's grid.
- ``duration_chart``: the recent runs' durations as small multiples, one strip for the
  whole run and one per task, a bar per run coloured by state on the strip's own scale, with
  a dashed p50 line, so a slow task or a slowing trend shows without reading a number.

Pure: ``now`` is given."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pinflow.lifecycle.states import UNFINISHED_RUN_STATES
from pinflow.services.reads import RunView, charts
from pinflow.ui.chart_axis import fmt_span

RUN_BAR_H = 48  # px: the grid's tallest run bar
RUN_BAR_W = 22
MIN_BAR_H = 3.0
STRIP_H = 36  # px: a strip's tallest bar
STRIP_PAD = 4  # px above it, so that a p50 at the top stays visible
BAR_W = 14
GAP = 4
_BOTTOM = STRIP_PAD + STRIP_H
_LIVE = {s.value for s in UNFINISHED_RUN_STATES}


@dataclass(frozen=True)
class RunBar:
    y: float
    height: float
    seconds: float | None
    title: str


def _elapsed(run: RunView, now: datetime) -> float | None:
    if run.start_date is None:
        return None
    end = run.end_date or (now if run.state.value in _LIVE else None)
    return charts.seconds_between(run.start_date, end)


def run_bars(runs: list[RunView], now: datetime) -> dict[int, RunBar]:
    """Per run (by its pk): its bar over the grid's column."""
    elapsed = {r.id: _elapsed(r, now) for r in runs}
    longest = max((s for s in elapsed.values() if s), default=0.0)
    bars = {}
    for r in runs:
        seconds = elapsed[r.id]
        height = MIN_BAR_H
        if seconds and longest:
            height = max(round(seconds / longest * RUN_BAR_H, 2), MIN_BAR_H)
        so_far = " so far" if r.end_date is None and seconds is not None else ""
        title = f"{r.run_id}: {r.state.value}, {fmt_span(seconds)}{so_far}"
        bars[r.id] = RunBar(round(RUN_BAR_H - height, 2), height, seconds, title)
    return bars


@dataclass(frozen=True)
class Bar:
    run_id: str
    state: str
    seconds: float
    x: float
    y: float
    height: float
    title: str


@dataclass(frozen=True)
class Strip:
    """One series: ``label`` (the whole run or a task), a bar per run that has a duration,
    the p50 line's height (``None``: nothing finished) and the figures written beside."""

    label: str
    task_id: str | None  # None: the whole run
    bars: list[Bar]
    p50_y: float | None
    p50_seconds: float | None
    max_seconds: float | None

    @property
    def figures(self) -> str:
        return f"p50 {fmt_span(self.p50_seconds)} · max {fmt_span(self.max_seconds)}"


@dataclass(frozen=True)
class DurationChart:
    width: int
    height: int
    bar_w: int
    runs: int
    strips: list[Strip]


def _y(seconds: float, longest: float) -> float:
    """Where a bar of ``seconds`` begins, on a strip whose longest bar is ``longest``."""
    height = seconds / longest * STRIP_H if longest else 0.0
    return round(STRIP_PAD + STRIP_H - height, 2)


def _strip(
    label: str,
    task_id: str | None,
    points: Sequence[tuple[str, str | None, float | None]],
    p50: float | None,
) -> Strip:
    longest = max((s for _, _, s in points if s is not None), default=None)
    bars = []
    for i, (run_id, state, seconds) in enumerate(points):
        if seconds is None or state is None or longest is None:
            continue
        y = min(_y(seconds, longest), _BOTTOM - MIN_BAR_H)
        title = f"{label} in {run_id}: {state}, {fmt_span(seconds)}"
        bars.append(Bar(run_id, state, seconds, i * (BAR_W + GAP), y, _BOTTOM - y, title))
    p50_y = None if p50 is None or longest is None else _y(p50, longest)
    return Strip(label, task_id, bars, p50_y, p50, longest)


def duration_chart(d: charts.Durations) -> DurationChart:
    run_points = [(r.run_id, r.state.value, s) for r, s in zip(d.runs, d.run_seconds, strict=True)]
    strips = [_strip("whole run", None, run_points, d.run_p50_seconds)]
    for t in d.tasks:
        points = [(p.run_id, p.state, p.seconds) for p in t.points]
        strips.append(_strip(t.task_id, t.task_id, points, t.p50_seconds))
    width = max(len(d.runs) * (BAR_W + GAP) - GAP, BAR_W)
    return DurationChart(width, _BOTTOM, BAR_W, len(d.runs), strips)
