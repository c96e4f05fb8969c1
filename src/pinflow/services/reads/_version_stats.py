"""Per-version run statistics (issue #18, point 1): how a version's runs and tasks went, and
how two versions compare ("load p95 4.1 s -> 0.9 s, failures 12% -> 0%").

Every figure is a SQL aggregate (``GROUP BY``; percentiles through ``DialectOps.percentiles``),
so reading a version's statistics costs four grouped queries whatever its number of runs; no
row is loaded into Python (ADR 0024). What counts:

- a version's runs are the runs pinned to it now (a clear may re-bind a run to a newer version,
  then it counts there); finished runs are those that succeeded or failed; a run's duration is
  ``end_date - start_date`` of a finished run;
- a version's tries are the task tries that ran its code (``task_instance_try.version_id``):
  a try of a re-bound run stays with the version it ran on. Retries are the tries that were
  not their task instance's first (``try_number > 1``: retried or cleared), failures the
  tries that failed, a try's duration ``end_date - start_date`` of a try with both;
- p50/p95 are continuous percentiles (PostgreSQL's ``percentile_cont``: linear interpolation
  between the closest ranks, numpy's default), the same on SQLite; rounded to milliseconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from pinflow.lifecycle.states import RunState, TaskState
from pinflow.services.reads._queries import get_version
from pinflow.services.reads._views import VersionView
from pinflow.store.db import Database
from pinflow.store.dialect import dialect_ops
from pinflow.store.tables import DagRun, TaskInstance, TaskInstanceTry

FRACTIONS = (0.5, 0.95)
_FINISHED = (RunState.SUCCESS.value, RunState.FAILED.value)


@dataclass(frozen=True)
class TaskStats:
    """One task's tries on a version."""

    task_id: str
    tries: int
    retries: int  # tries that were not their task instance's first (retried or cleared)
    failures: int  # tries that failed
    p50_seconds: float | None
    p95_seconds: float | None

    @property
    def failure_rate(self) -> float | None:
        return self.failures / self.tries if self.tries else None


@dataclass(frozen=True)
class VersionStats:
    """One version's runs and, per task, its tries (task ids in name order)."""

    version: VersionView
    runs: int
    finished_runs: int
    succeeded_runs: int
    failed_runs: int
    p50_seconds: float | None  # of finished runs
    p95_seconds: float | None
    first_run_at: datetime | None  # the earliest start of its runs
    last_run_at: datetime | None  # the latest start
    tasks: list[TaskStats]

    @property
    def success_rate(self) -> float | None:
        """Succeeded / finished runs; ``None`` before any run finished."""
        return self.succeeded_runs / self.finished_runs if self.finished_runs else None


@dataclass(frozen=True)
class Change:
    """One figure of two versions: ``old`` (the version compared to) and ``new``."""

    subject: str  # "runs" or a task id
    figure: str  # "p95", "p50", "failures", "success rate"
    old: float | None
    new: float | None
    unit: str  # "s" or "%" (rates are fractions, shown as percentages)

    @property
    def delta(self) -> float | None:
        return None if self.old is None or self.new is None else self.new - self.old

    @property
    def changed(self) -> bool:
        """The figure moved as people read it (to 0.1 s, or to 1%)."""
        return _show(self.old, self.unit) != _show(self.new, self.unit)

    @property
    def text(self) -> str:
        """e.g. ``load p95 4.1 s → 0.9 s`` or ``runs failures 12% → 0%``."""
        old, new = _show(self.old, self.unit), _show(self.new, self.unit)
        return f"{self.subject} {self.figure} {old} → {new}"


@dataclass(frozen=True)
class StatsComparison:
    """``new`` against ``old``: the run figures, then each task's of either version."""

    old: VersionStats
    new: VersionStats
    changes: list[Change]

    @property
    def summary(self) -> str:
        """The changed figures in one line, e.g. ``v7 vs v6: load p95 4.1 s → 0.9 s``."""
        moved = [c.text for c in self.changes if c.changed]
        head = f"v{self.new.version.version} vs v{self.old.version.version}"
        return f"{head}: {', '.join(moved)}" if moved else f"{head}: no change"


def _show(value: float | None, unit: str) -> str:
    if value is None:
        return "n/a"
    return f"{value * 100:.0f}%" if unit == "%" else f"{value:.1f} s"


def _seconds(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)


# --- the queries -------------------------------------------------------------------------------


def _run_counts(s: Session, version_id: str) -> Any:
    finished = DagRun.state.in_(_FINISHED)
    return s.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((finished, 1), else_=0)), 0),
            func.coalesce(func.sum(case((DagRun.state == RunState.SUCCESS.value, 1), else_=0)), 0),
            func.coalesce(func.sum(case((DagRun.state == RunState.FAILED.value, 1), else_=0)), 0),
            func.min(DagRun.start_date),
            func.max(DagRun.start_date),
        ).where(DagRun.version_id == version_id)
    ).one()


def _run_percentiles(s: Session, version_id: str) -> Sequence[Any]:
    ops = dialect_ops(s)
    samples = (
        select(ops.seconds_between(DagRun.start_date, DagRun.end_date).label("d"))
        .where(
            DagRun.version_id == version_id,
            DagRun.state.in_(_FINISHED),
            DagRun.start_date.is_not(None),
            DagRun.end_date.is_not(None),
        )
        .subquery("samples")
    )
    row = s.execute(ops.percentiles(samples, (), "d", FRACTIONS)).one_or_none()
    return tuple(row) if row is not None else (None,) * len(FRACTIONS)


def _tries_of(version_id: str, *columns: Any) -> Select[Any]:
    return (
        select(*columns)
        .join(TaskInstance, TaskInstance.id == TaskInstanceTry.ti_id)
        .where(TaskInstanceTry.version_id == version_id)
    )


def _task_stats(s: Session, version_id: str) -> list[TaskStats]:
    failed = case((TaskInstanceTry.state == TaskState.FAILED.value, 1), else_=0)
    counts = s.execute(
        _tries_of(
            version_id,
            TaskInstance.task_id,
            func.count(),
            func.sum(case((TaskInstanceTry.try_number > 1, 1), else_=0)),
            func.sum(failed),
        ).group_by(TaskInstance.task_id)
    ).all()
    ops = dialect_ops(s)
    samples = (
        _tries_of(
            version_id,
            TaskInstance.task_id.label("task_id"),
            ops.seconds_between(TaskInstanceTry.start_date, TaskInstanceTry.end_date).label("d"),
        )
        .where(TaskInstanceTry.start_date.is_not(None), TaskInstanceTry.end_date.is_not(None))
        .subquery("samples")
    )
    spread = {
        row[0]: row[1:] for row in s.execute(ops.percentiles(samples, ["task_id"], "d", FRACTIONS))
    }
    stats = []
    for task_id, tries, retries, failures in sorted(counts):
        p50, p95 = spread.get(task_id, (None, None))
        stats.append(
            TaskStats(
                task_id,
                int(tries),
                int(retries or 0),
                int(failures or 0),
                _seconds(p50),
                _seconds(p95),
            )
        )
    return stats


def version_stats(db: Database, version_id: str) -> VersionStats:
    """The statistics of one version (``NotFoundError`` for an unknown one)."""
    version = get_version(db, version_id)
    with db.read() as s:
        runs, finished, succeeded, failed, first, last = _run_counts(s, version_id)
        p50, p95 = _run_percentiles(s, version_id)
        return VersionStats(
            version=version,
            runs=int(runs),
            finished_runs=int(finished),
            succeeded_runs=int(succeeded),
            failed_runs=int(failed),
            p50_seconds=_seconds(p50),
            p95_seconds=_seconds(p95),
            first_run_at=first,
            last_run_at=last,
            tasks=_task_stats(s, version_id),
        )


# --- two versions ------------------------------------------------------------------------------


def _run_failure_rate(v: VersionStats) -> float | None:
    rate = v.success_rate
    return None if rate is None else 1 - rate


def _changes(old: VersionStats, new: VersionStats) -> list[Change]:
    changes = [
        Change("runs", "p50", old.p50_seconds, new.p50_seconds, "s"),
        Change("runs", "p95", old.p95_seconds, new.p95_seconds, "s"),
        Change("runs", "failures", _run_failure_rate(old), _run_failure_rate(new), "%"),
    ]
    before = {t.task_id: t for t in old.tasks}
    after = {t.task_id: t for t in new.tasks}
    for task_id in sorted(before.keys() | after.keys()):
        a, b = before.get(task_id), after.get(task_id)
        changes += [
            Change(task_id, "p95", a.p95_seconds if a else None, b.p95_seconds if b else None, "s"),
            Change(
                task_id,
                "failures",
                a.failure_rate if a else None,
                b.failure_rate if b else None,
                "%",
            ),
        ]
    return changes


def compare(db: Database, version_id: str, old_version_id: str) -> StatsComparison:
    """``version_id``'s statistics against ``old_version_id``'s (any two versions)."""
    old, new = version_stats(db, old_version_id), version_stats(db, version_id)
    return StatsComparison(old=old, new=new, changes=_changes(old, new))
