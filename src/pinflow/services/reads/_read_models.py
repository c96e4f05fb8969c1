"""Read models only the pages need, each one bounded (paged) so a page stays quick at scale.

Everything else the pages show comes from the services' queries. These few are page-shaped
(a grid of runs x tasks, the runs pinned to one version), read-only; the audit page's query is
``audit_log``'s. They live here, not in the UI, so that pages never query the store.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pinflow.errors import InvalidInputError
from pinflow.lifecycle.states import UNFINISHED_RUN_STATES, TaskState
from pinflow.services.reads._queries import total_of
from pinflow.services.reads._views import RunView, run_view
from pinflow.spec.models import DagSpec
from pinflow.spec.validation import topological_order
from pinflow.store.db import Database
from pinflow.store.repo import cached_spec
from pinflow.store.tables import DagRun, TaskInstance

_LIVE_RUNS = tuple(s.value for s in UNFINISHED_RUN_STATES)
# Which state a cell shows when a mapped task's elements differ: the one to look at first.
_CELL_PRIORITY = [
    TaskState.FAILED,
    TaskState.UPSTREAM_FAILED,
    TaskState.RUNNING,
    TaskState.UP_FOR_RETRY,
    TaskState.UP_FOR_RESCHEDULE,
    TaskState.DEFERRED,
    TaskState.QUEUED,
    TaskState.SCHEDULED,
    TaskState.NONE,
    TaskState.SKIPPED,
    TaskState.REMOVED,
    TaskState.SUCCESS,
]
_RANK = {state.value: rank for rank, state in enumerate(_CELL_PRIORITY)}


def cell_rank(state: str) -> int:
    """Lower shows first: of a mapped task's elements, the cell shows the lowest-ranked."""
    return _RANK.get(state, 0)


# --- runs pinned to one version ----------------------------------------------------------------


def runs_of_version(
    db: Database, version_id: str, *, limit: int, offset: int = 0
) -> tuple[list[RunView], int, int]:
    """The runs pinned to the version, newest first; the total; how many are unfinished."""
    stmt = select(DagRun).where(DagRun.version_id == version_id)
    with db.read() as s:
        total = total_of(s, stmt)
        live = s.scalars(
            select(func.count())
            .select_from(DagRun)
            .where(DagRun.version_id == version_id, DagRun.state.in_(_LIVE_RUNS))
        ).one()
        rows = s.scalars(stmt.order_by(DagRun.id.desc()).limit(limit).offset(offset)).all()
        return [run_view(r) for r in rows], total, int(live)


def live_runs_by_version(db: Database, version_ids: Collection[str]) -> dict[str, int]:
    """How many queued or running runs each version has (for the Deprecate dialog's impact)."""
    if not version_ids:
        return {}
    with db.read() as s:
        rows = s.execute(
            select(DagRun.version_id, func.count())
            .where(DagRun.version_id.in_(list(version_ids)), DagRun.state.in_(_LIVE_RUNS))
            .group_by(DagRun.version_id)
        ).all()
        return {str(version_id): int(n) for version_id, n in rows}


def spec_of_snapshot(db: Database, digest: str) -> DagSpec:
    """The definition a run executes (its snapshot may differ from its version's current one)."""
    with db.read() as s:
        return cached_spec(s, digest)


# --- the grid: runs x tasks --------------------------------------------------------------------


@dataclass(frozen=True)
class Grid:
    runs: list[RunView]  # oldest first, as Airflow's grid reads left to right
    task_ids: list[str]  # in graph order (layer, then row) of the newest run's definition
    cells: dict[tuple[int, str], str]  # (run pk, task id) -> state
    total: int

    @property
    def live(self) -> bool:
        return any(r.state.value in _LIVE_RUNS for r in self.runs)


def task_order(s: Session, runs: list[RunView], seen: Collection[str]) -> list[str]:
    """The runs' tasks in graph order (newest definition first), then any others by name."""
    ordered: list[str] = []
    for digest in dict.fromkeys(r.snapshot_digest for r in reversed(runs)):
        spec = cached_spec(s, digest)
        try:
            task_ids = topological_order(spec)
        except InvalidInputError:  # a draft with a cycle: declaration order
            task_ids = spec.task_ids
        ordered.extend(t for t in task_ids if t not in ordered)
    return ordered + sorted(t for t in seen if t not in ordered)


def grid(db: Database, dag_id: str, *, limit: int, offset: int = 0) -> Grid:
    """``limit`` runs of the DAG, newest first by page, and the state of each of their tasks."""
    stmt = select(DagRun).where(DagRun.dag_id == dag_id)
    with db.read() as s:
        total = total_of(s, stmt)
        rows = s.scalars(stmt.order_by(DagRun.id.desc()).limit(limit).offset(offset)).all()
        runs = [run_view(r) for r in reversed(rows)]
        cells: dict[tuple[int, str], str] = {}
        found = s.execute(
            select(TaskInstance.run_pk, TaskInstance.task_id, TaskInstance.state).where(
                TaskInstance.run_pk.in_([r.id for r in runs])
            )
        )
        for run_pk, task_id, state in found:
            shown = cells.get((run_pk, task_id))
            if shown is None or _RANK.get(state, 0) < _RANK.get(shown, 0):
                cells[(run_pk, task_id)] = state
        order = task_order(s, runs, {t for _, t in cells})
        return Grid(runs, order, cells, total)


# --- the audit log -----------------------------------------------------------------------------
