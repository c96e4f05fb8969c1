"""The geometry of one run's Gantt chart, from the ``charts.gantt`` read model: one line per
task instance (a mapped task's elements grouped under a summary line), a bar per try from
its start to its end coloured by the try's state, the latest try's wait in the queue as a
thin bar before it, and a time axis. The template only places what this computes.

Pure: ``now`` is given (unfinished tries and waits reach it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from pinflow.services.reads import RunView, charts
from pinflow.services.reads import read_models as reads
from pinflow.ui.chart_axis import Tick, TimeScale, fmt_span, span_of
from pinflow.ui.templating import fmt_datetime

TRACK_W = 600  # px: the time track; the label column is the stylesheet's
LINE_H = 24
BAR_H = 14
WAIT_H = 6
MIN_BAR_W = 2.0  # px: an instant try stays visible
# A mapped task's elements drawn beneath its summary: a run page of 10,000 lines would weigh
# megabytes at every live refresh; the summary spans them all, the API lists every one.
MAX_ELEMENTS = 200
_TRY_Y = (LINE_H - BAR_H) / 2
_WAIT_Y = (LINE_H - WAIT_H) / 2
_WAITING = ("queued", "scheduled")


@dataclass(frozen=True)
class Segment:
    """A bar: ``kind`` is ``try`` (a try, start to end) or ``queued`` (the wait before)."""

    kind: str
    state: str
    try_number: int
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(frozen=True)
class Line:
    task_id: str
    map_index: int
    label: str
    state: str
    anchor: str  # the id of the task's row in the run page's table
    segments: list[Segment] = field(default_factory=list)


@dataclass(frozen=True)
class Group:
    """A mapped task: a summary line spanning all its elements, and a line for each of the
    first ``MAX_ELEMENTS`` (``more``: how many are not drawn)."""

    summary: Line
    elements: list[Line]
    more: int = 0


@dataclass(frozen=True)
class GanttChart:
    width: int
    line_h: int
    ticks: list[Tick]
    entries: list[Line | Group]  # in graph order
    start: datetime | None
    end: datetime | None

    @property
    def lines(self) -> int:
        return sum(1 if isinstance(e, Line) else 1 + len(e.elements) for e in self.entries)


def _label(t: charts.GanttTask) -> str:
    return t.task_id if t.map_index < 0 else f"{t.task_id}[{t.map_index}]"


def _anchor(t: charts.GanttTask) -> str:
    return f"task-{t.task_id}" if t.map_index < 0 else f"task-{t.task_id}-{t.map_index}"


def _wait(t: charts.GanttTask, now: datetime) -> tuple[datetime, datetime] | None:
    """The latest try's wait: from being queued to its start (or to now, still waiting)."""
    if t.queued_at is None:
        return None
    last = t.tries[-1] if t.tries else None
    if last is not None and last.start_date is not None and last.start_date >= t.queued_at:
        return t.queued_at, last.start_date
    return (t.queued_at, max(now, t.queued_at)) if t.state in _WAITING else None


def _instants(tasks: list[charts.GanttTask], run: RunView, now: datetime) -> list[datetime]:
    found = [d for d in (run.start_date, run.end_date) if d is not None]
    for t in tasks:
        found += [d for d in (t.queued_at, t.start_date, t.end_date) if d is not None]
        for tr in t.tries:
            found += [d for d in (tr.start_date, tr.end_date) if d is not None]
            if tr.start_date is not None and tr.end_date is None:
                found.append(now)
        wait = _wait(t, now)
        if wait is not None:
            found += wait
    return found


def _bar(scale: TimeScale, start: datetime, end: datetime) -> tuple[float, float]:
    x = scale.x(start)
    return x, max(round(scale.x(end) - x, 2), MIN_BAR_W)


def _try_title(label: str, tr: charts.TrySpan, end: datetime | None) -> str:
    how = " (interrupted, retried at once)" if tr.interrupted else ""
    until = fmt_datetime(end) if tr.end_date is not None else "still running"
    took = fmt_span(tr.seconds if tr.end_date is not None else None)
    return (
        f"{label}, try {tr.try_number}: {tr.state}{how}\n"
        f"{fmt_datetime(tr.start_date)} → {until}\nduration {took}"
    )


def _segments(t: charts.GanttTask, scale: TimeScale, now: datetime) -> list[Segment]:
    label, segments = _label(t), []
    wait = _wait(t, now)
    if wait is not None:
        x, w = _bar(scale, *wait)
        waited = fmt_span((wait[1] - wait[0]).total_seconds())
        title = f"{label}, try {max(t.try_number, 1)}: queued at {fmt_datetime(wait[0])}\n"
        title += f"waited {waited}" if t.state not in _WAITING else f"waiting for {waited}"
        segments.append(Segment("queued", "queued", t.try_number, x, _WAIT_Y, w, WAIT_H, title))
    for tr in t.tries:
        if tr.start_date is None:
            continue
        end = tr.end_date or max(now, tr.start_date)
        x, w = _bar(scale, tr.start_date, end)
        title = _try_title(label, tr, end)
        segments.append(Segment("try", tr.state, tr.try_number, x, _TRY_Y, w, BAR_H, title))
    return sorted(segments, key=lambda s: s.x)  # a wait is drawn before (under) its try


def _line(t: charts.GanttTask, scale: TimeScale | None, now: datetime) -> Line:
    segments = [] if scale is None else _segments(t, scale, now)
    return Line(t.task_id, t.map_index, _label(t), t.state, _anchor(t), segments)


def _summary(task_id: str, elements: list[Line]) -> Line:
    """The mapped task's line: one bar from its first element's first bar to its last's
    end, in the state the grid shows for it (failures first)."""
    state = min((e.state for e in elements), key=reads.cell_rank)
    bars = [s for e in elements for s in e.segments]
    line = Line(task_id, -1, f"{task_id} [{len(elements)}]", state, f"task-{task_id}-0")
    if bars:
        x = min(s.x for s in bars)
        end = max(s.x + s.width for s in bars)
        title = f"{task_id}: {len(elements)} mapped element(s), {state}"
        line.segments.append(Segment("span", state, 0, x, _TRY_Y, round(end - x, 2), BAR_H, title))
    return line


def gantt_chart(g: charts.Gantt, now: datetime) -> GanttChart:
    span = span_of(_instants(g.tasks, g.run, now))
    scale = None if span is None else TimeScale(span[0], span[1], TRACK_W)
    entries: list[Line | Group] = []
    groups: dict[str, Group] = {}
    for t in g.tasks:
        line = _line(t, scale, now)
        if t.map_index < 0:
            entries.append(line)
            continue
        group = groups.get(t.task_id)
        if group is None:
            group = groups[t.task_id] = Group(Line(t.task_id, -1, "", "", ""), [])
            entries.append(group)
        group.elements.append(line)
    entries = [
        Group(
            _summary(e.elements[0].task_id, e.elements),
            e.elements[:MAX_ELEMENTS],
            max(len(e.elements) - MAX_ELEMENTS, 0),
        )
        if isinstance(e, Group)
        else e
        for e in entries
    ]
    ticks = [] if scale is None else scale.ticks()
    start, end = (None, None) if span is None else span
    return GanttChart(TRACK_W, LINE_H, ticks, entries, start, end)
