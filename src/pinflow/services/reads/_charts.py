"""Read models of the charts: one run's task instances with every try (its Gantt chart), and
how long a DAG's recent runs and each of their tasks took (its duration chart).

Times only, no geometry: the UI draws them (``pinflow.ui.charts``), the API serves them as
they are. Both reads are bounded: one run's task instances; one page of runs.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from pinflow.services.reads._queries import total_of
from pinflow.services.reads._read_models import cell_rank, task_order
from pinflow.services.reads._run_queries import run_row
from pinflow.services.reads._views import RunView, run_view
from pinflow.store.db import Database
from pinflow.store.tables import DagRun, TaskInstance, TaskInstanceTry

MAX_RUNS = 100


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    """A finished span's length in seconds; ``None`` while either end is unknown."""
    if start is None or end is None:
        return None
    return max((end - start).total_seconds(), 0.0)


def median(values: Iterable[float | None]) -> float | None:
    """The p50 (the continuous median, as the version statistics compute it) of the known
    values; ``None`` when there are none."""
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


# --- one run: its Gantt chart ------------------------------------------------------------------


@dataclass(frozen=True)
class TrySpan:
    """One try of a task instance: when it started and ended (``None``: still running)."""

    try_number: int
    state: str
    start_date: datetime | None
    end_date: datetime | None
    interrupted: bool

    @property
    def seconds(self) -> float | None:
        return seconds_between(self.start_date, self.end_date)


@dataclass(frozen=True)
class GanttTask:
    """A task instance (a mapped task's element has ``map_index`` >= 0) and its tries, oldest
    first. ``queued_at`` is its latest try's: a try's own row begins when it starts."""

    task_id: str
    map_index: int
    state: str
    try_number: int
    queued_at: datetime | None
    start_date: datetime | None
    end_date: datetime | None
    tries: tuple[TrySpan, ...]


@dataclass(frozen=True)
class Gantt:
    run: RunView
    tasks: list[GanttTask]  # in graph order (layer, then row), then by map index


def gantt(db: Database, dag_id: str, run_id: str) -> Gantt:
    """The run's task instances with every try, in the order the run's graph reads."""
    with db.read() as s:
        run = run_view(run_row(s, dag_id, run_id))
        tis = s.scalars(select(TaskInstance).where(TaskInstance.run_pk == run.id)).all()
        tries: dict[int, list[TrySpan]] = {}
        found = s.scalars(
            select(TaskInstanceTry)
            .where(TaskInstanceTry.ti_id.in_([ti.id for ti in tis]))
            .order_by(TaskInstanceTry.ti_id, TaskInstanceTry.try_number)
        )
        for t in found:
            span = TrySpan(t.try_number, t.state, t.start_date, t.end_date, t.interrupted)
            tries.setdefault(t.ti_id, []).append(span)
        order = {t: i for i, t in enumerate(task_order(s, [run], {ti.task_id for ti in tis}))}
    rows = [
        GanttTask(
            task_id=ti.task_id,
            map_index=ti.map_index,
            state=ti.state,
            try_number=ti.try_number,
            queued_at=ti.queued_at,
            start_date=ti.start_date,
            end_date=ti.end_date,
            tries=tuple(tries.get(ti.id, ())),
        )
        for ti in tis
    ]
    rows.sort(key=lambda r: (order.get(r.task_id, len(order)), r.task_id, r.map_index))
    return Gantt(run, rows)


# --- recent runs: the duration chart -----------------------------------------------------------


@dataclass(frozen=True)
class TaskPoint:
    """A task in one run: its state (a mapped task's most telling element's, as in the grid)
    and how long it took, from its first element's start to its last one's end (``None``
    while any of them is unfinished, or when it never ran)."""

    run_id: str
    state: str | None  # None: the run has no instance of the task
    seconds: float | None


@dataclass(frozen=True)
class TaskDurations:
    task_id: str
    points: list[TaskPoint]  # one per run, in the runs' order
    p50_seconds: float | None


@dataclass(frozen=True)
class Durations:
    runs: list[RunView]  # oldest first, as the grid
    run_seconds: list[float | None]  # per run: finished runs only
    run_p50_seconds: float | None
    tasks: list[TaskDurations]  # in graph order
    total: int  # the DAG's runs in all


@dataclass
class _Span:
    state: str
    start: datetime | None = None
    end: datetime | None = None
    unfinished: bool = False

    def add(self, state: str, start: datetime | None, end: datetime | None) -> None:
        if cell_rank(state) < cell_rank(self.state):
            self.state = state
        if start is not None and (self.start is None or start < self.start):
            self.start = start
        if end is None:
            self.unfinished = True
        elif self.end is None or end > self.end:
            self.end = end

    @property
    def seconds(self) -> float | None:
        return None if self.unfinished else seconds_between(self.start, self.end)


_SpanRow = tuple[int, str, str, datetime | None, datetime | None]


def _spans(rows: Iterable[_SpanRow]) -> dict[tuple[int, str], _Span]:
    """Per (run, task): the span and the most telling state of its instances."""
    spans: dict[tuple[int, str], _Span] = {}
    for run_pk, task_id, state, start, end in rows:
        spans.setdefault((run_pk, task_id), _Span(state)).add(state, start, end)
    return spans


def durations(db: Database, dag_id: str, *, limit: int, offset: int = 0) -> Durations:
    """``limit`` runs of the DAG (the newest first by page, shown oldest first), how long each
    took, and how long each of their tasks took; the p50 of each over those runs."""
    stmt = select(DagRun).where(DagRun.dag_id == dag_id)
    with db.read() as s:
        total = total_of(s, stmt)
        found = s.scalars(stmt.order_by(DagRun.id.desc()).limit(limit).offset(offset)).all()
        runs = [run_view(r) for r in reversed(found)]
        rows = s.execute(
            select(
                TaskInstance.run_pk,
                TaskInstance.task_id,
                TaskInstance.state,
                TaskInstance.start_date,
                TaskInstance.end_date,
            ).where(TaskInstance.run_pk.in_([r.id for r in runs]))
        ).all()
        spans = _spans((pk, t, st, b, e) for pk, t, st, b, e in rows)
        order = task_order(s, runs, {t for _, t in spans})
    run_seconds = [seconds_between(r.start_date, r.end_date) for r in runs]
    tasks = []
    for task_id in order:
        points = []
        for r in runs:
            span = spans.get((r.id, task_id))
            state = None if span is None else span.state
            points.append(TaskPoint(r.run_id, state, None if span is None else span.seconds))
        tasks.append(TaskDurations(task_id, points, median(p.seconds for p in points)))
    return Durations(runs, run_seconds, median(run_seconds), tasks, total)
