"""The comparison of a canary action: per run, the source's state against the canary's, and
per task what changed (state, duration, tries; new or removed tasks). Two SQL reads: the
batch's runs with their links, then the task instances of those runs (ADR 0030)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from pinflow.errors import NotFoundError
from pinflow.lifecycle.canary import Outcome, outcome, summary, version_label
from pinflow.lifecycle.states import RunState
from pinflow.store.db import Database
from pinflow.store.dialect import dialect_ops
from pinflow.store.tables import CanaryRun, DagRun, TaskInstance, WorkflowDefinition


@dataclass(frozen=True)
class TaskSide:
    state: str
    duration: float | None  # seconds, end - start
    tries: int


@dataclass(frozen=True)
class TaskComparison:
    task_id: str
    map_index: int
    source: TaskSide | None  # None: the task is new in the target version
    canary: TaskSide | None  # None: the target version removed it
    reused: bool

    @property
    def change(self) -> str:
        """``new``, ``removed``, ``reused``, ``state`` (changed), ``tries``, ``same``."""
        if self.source is None:
            return "new"
        if self.canary is None:
            return "removed"
        if self.reused:
            return "reused"
        if self.source.state != self.canary.state:
            return "state"
        return "tries" if self.source.tries != self.canary.tries else "same"


@dataclass(frozen=True)
class RunComparison:
    source_run_id: str
    source_state: str
    canary_run_id: str
    canary_state: str
    outcome: Outcome
    tasks: tuple[TaskComparison, ...]


@dataclass(frozen=True)
class CanaryComparison:
    batch_id: str
    dag_id: str
    source_version_id: str | None
    source_label: str
    target_version_id: str
    target_label: str
    started_at: datetime
    started_by: str | None
    runs: tuple[RunComparison, ...]

    @property
    def summary(self) -> str:
        outcomes = [r.outcome for r in self.runs]
        return summary(self.target_label, self.source_label, outcomes)


def latest_comparison(
    db: Database, target_version_id: str, batch_id: str | None = None
) -> CanaryComparison:
    """The comparison of ``batch_id``, or of the latest canary action on this version."""
    with db.read() as s:
        batch = batch_id or _latest_batch(s, target_version_id)
        if batch is None:
            raise NotFoundError(
                f"Workflow version {target_version_id!r} has no canary runs: start a canary "
                "(POST /api/workflows/{id}/canary) first."
            )
        return _comparison(s, target_version_id, batch)


def _latest_batch(s: Session, version_id: str) -> str | None:
    return s.scalars(
        select(CanaryRun.batch_id)
        .where(CanaryRun.target_version_id == version_id)
        .order_by(CanaryRun.created_at.desc(), CanaryRun.run_pk.desc())
        .limit(1)
    ).first()


def _comparison(s: Session, version_id: str, batch: str) -> CanaryComparison:
    canary_run = aliased(DagRun)
    rows = s.execute(
        select(CanaryRun, canary_run.run_id, canary_run.state, canary_run.dag_id)
        .join(canary_run, canary_run.id == CanaryRun.run_pk)
        .where(CanaryRun.batch_id == batch, CanaryRun.target_version_id == version_id)
        .order_by(CanaryRun.run_pk)
    ).all()
    if not rows:
        raise NotFoundError(f"Canary {batch!r} of workflow version {version_id!r} was not found.")
    links = [link for link, *_ in rows]
    sides = _task_sides(s, [pk for link in links for pk in (link.run_pk, link.source_run_pk)])
    runs = tuple(_run(link, run_id, state, sides) for link, run_id, state, _dag in rows)
    first = links[0]
    return CanaryComparison(
        batch,
        rows[0][3],
        first.source_version_id,
        _label(s, first.source_version_id),
        version_id,
        _label(s, version_id),
        first.created_at,
        first.created_by,
        runs,
    )


def _label(s: Session, version_id: str | None) -> str:
    row = s.get(WorkflowDefinition, version_id) if version_id else None
    return version_label(row.status, row.version) if row is not None else "a deleted version"


_Sides = dict[int, dict[tuple[str, int], TaskSide]]


def _task_sides(s: Session, run_pks: Sequence[int | None]) -> _Sides:
    wanted = sorted({pk for pk in run_pks if pk is not None})
    out: _Sides = {pk: {} for pk in wanted}
    if not wanted:
        return out
    seconds = dialect_ops(s).seconds_between(TaskInstance.start_date, TaskInstance.end_date)
    for run_pk, task_id, map_index, state, tries, duration in s.execute(
        select(
            TaskInstance.run_pk,
            TaskInstance.task_id,
            TaskInstance.map_index,
            TaskInstance.state,
            TaskInstance.try_number,
            seconds,
        ).where(TaskInstance.run_pk.in_(wanted))
    ):
        value = None if duration is None else round(float(duration), 3)
        out[run_pk][(task_id, map_index)] = TaskSide(state, value, tries)
    return out


def _run(link: CanaryRun, run_id: str, state: str, sides: _Sides) -> RunComparison:
    canary_tasks = sides.get(link.run_pk, {})
    source_tasks = sides.get(link.source_run_pk, {}) if link.source_run_pk is not None else {}
    reused = set(link.reused_task_ids or [])
    keys = list(canary_tasks) + [k for k in source_tasks if k not in canary_tasks]
    tasks = tuple(
        TaskComparison(
            task_id,
            index,
            source_tasks.get((task_id, index)),
            canary_tasks.get((task_id, index)),
            task_id in reused,
        )
        for task_id, index in sorted(keys)
    )
    return RunComparison(
        link.source_run_id,
        link.source_state,
        run_id,
        state,
        outcome(RunState(link.source_state), RunState(state)),
        tasks,
    )
