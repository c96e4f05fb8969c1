"""Runs as Airflow's ``/api/v2`` shows them (the changes to one run are
``commands.run_states``'s)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pinflow.errors import NotFoundError
from pinflow.services.reads._dag_queries import versions_by_id
from pinflow.services.reads._queries import Page, dag_ids_in, order_clauses, paged, pattern
from pinflow.services.reads._views import RunView, VersionView, run_view
from pinflow.store.db import Database
from pinflow.store.tables import Dag, DagRun, TaskInstance, TaskInstanceTry

RUN_ORDER: dict[str, Any] = {
    "id": DagRun.id,
    "state": DagRun.state,
    "dag_id": DagRun.dag_id,
    "run_id": DagRun.run_id,
    "dag_run_id": DagRun.run_id,
    "logical_date": DagRun.logical_date,
    "run_after": DagRun.run_after,
    "start_date": DagRun.start_date,
    "end_date": DagRun.end_date,
    "updated_at": DagRun.updated_at,
}
RANGE_FIELDS = ("logical_date", "start_date", "end_date", "run_after", "updated_at")


@dataclass(frozen=True)
class DateRange:
    gte: datetime | None = None
    gt: datetime | None = None
    lte: datetime | None = None
    lt: datetime | None = None


@dataclass(frozen=True)
class RunFilter:
    """``dag_id`` ``None``: every DAG (Airflow's ``~``), within ``projects`` (``None``: all)."""

    dag_id: str | None = None
    projects: Collection[str] | None = None
    states: tuple[str, ...] = ()
    run_types: tuple[str, ...] = ()
    run_id_pattern: str | None = None
    ranges: Mapping[str, DateRange] = field(default_factory=dict)


@dataclass(frozen=True)
class RunInfo:
    """A run, its DAG's display name, and the versions it ran on: those of its tries in the
    order they were first used, then the one it is pinned to now (a clear may re-bind it)."""

    run: RunView
    dag_display_name: str
    versions: list[VersionView]
    updated_at: datetime | None = None


# --- reads -------------------------------------------------------------------------------------


def in_range(stmt: Any, column: Any, r: DateRange) -> Any:
    """``stmt`` restricted to ``column`` within ``r`` (each bound optional)."""
    for bound, op in ((r.gte, "__ge__"), (r.gt, "__gt__"), (r.lte, "__le__"), (r.lt, "__lt__")):
        if bound is not None:
            stmt = stmt.where(getattr(column, op)(bound))
    return stmt


def _run_select(f: RunFilter) -> Any:
    stmt = select(DagRun)
    if f.dag_id is not None:
        stmt = stmt.where(DagRun.dag_id == f.dag_id)
    if f.projects is not None:
        stmt = stmt.where(DagRun.dag_id.in_(dag_ids_in(f.projects)))
    if f.states:
        stmt = stmt.where(DagRun.state.in_(f.states))
    if f.run_types:
        stmt = stmt.where(DagRun.run_type.in_(f.run_types))
    if f.run_id_pattern:
        stmt = stmt.where(DagRun.run_id.ilike(pattern(f.run_id_pattern)))
    for name, bounds in f.ranges.items():
        stmt = in_range(stmt, getattr(DagRun, name), bounds)
    return stmt


def _infos(s: Session, runs: Sequence[DagRun]) -> list[RunInfo]:
    pks = [r.id for r in runs]
    used = s.execute(
        select(TaskInstance.run_pk, TaskInstanceTry.version_id, func.min(TaskInstanceTry.id))
        .join(TaskInstance, TaskInstance.id == TaskInstanceTry.ti_id)
        .where(TaskInstance.run_pk.in_(pks), TaskInstanceTry.version_id.is_not(None))
        .group_by(TaskInstance.run_pk, TaskInstanceTry.version_id)
        .order_by(func.min(TaskInstanceTry.id))
    ).all()
    per_run: dict[int, list[str]] = {pk: [] for pk in pks}
    for run_pk, version_id, _ in used:
        per_run[run_pk].append(str(version_id))
    for run in runs:
        if run.version_id is not None and run.version_id not in per_run[run.id]:
            per_run[run.id].append(run.version_id)
    views = versions_by_id(s, {v for ids in per_run.values() for v in ids})
    infos = []
    for run in runs:
        versions = [views[v] for v in per_run[run.id] if v in views]
        pinned = views.get(run.version_id or "")
        name = pinned.name if pinned is not None and pinned.name else run.dag_id
        infos.append(RunInfo(run_view(run), name, versions, run.updated_at))
    return infos


def list_runs(
    db: Database, f: RunFilter, *, order_by: Sequence[str] = ("id",), page: Page = (50, 0)
) -> tuple[list[RunInfo], int]:
    """Runs matching ``f`` and the total before paging; a named DAG must exist."""
    order = order_clauses(order_by, RUN_ORDER, DagRun.id.asc())
    with db.read() as s:
        if f.dag_id is not None and s.get(Dag, f.dag_id) is None:
            raise NotFoundError(f"DAG {f.dag_id!r} was not found.")
        rows, total = paged(s, _run_select(f), order, page)
        return _infos(s, [row for (row,) in rows]), total


def run_row(s: Session, dag_id: str, run_id: str) -> DagRun:
    row = s.scalars(
        select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
    ).one_or_none()
    if row is None:
        raise NotFoundError(f"DAG run {run_id!r} of DAG {dag_id!r} was not found.")
    return row


def get_run(db: Database, dag_id: str, run_id: str) -> RunInfo:
    with db.read() as s:
        return _infos(s, [run_row(s, dag_id, run_id)])[0]


def run_info_in(s: Session, run: DagRun) -> RunInfo:
    s.flush()
    return _infos(s, [run])[0]


# --- writes ------------------------------------------------------------------------------------


# --- XComs: a run's outputs --------------------------------------------------------------------
