"""XComs as Airflow's ``/api/v2`` shows them: listed with filters, or one with its value (read
from the artifact store when it is there)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select

from pinflow.errors import NotFoundError
from pinflow.runtime.artifacts import ArtifactRef, ArtifactStore
from pinflow.services import xcom_values
from pinflow.services.reads._queries import Page, dag_ids_in, paged
from pinflow.services.reads._run_queries import run_row
from pinflow.store.db import Database
from pinflow.store.tables import DagRun, XCom


@dataclass(frozen=True)
class XComFilter:
    """``None`` for the DAG, the run or the task: every one (Airflow's ``~``)."""

    dag_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None
    projects: Collection[str] | None = None
    key: str | None = None
    map_index: int | None = None


@dataclass(frozen=True)
class XComInfo:
    """One XCom. A value in the artifact store has ``stored`` set and ``value`` ``None`` in
    lists; ``get_xcom`` reads it."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    key: str
    value: Any
    size: int
    timestamp: datetime
    logical_date: datetime | None
    run_after: datetime
    stored: ArtifactRef | None = None


def _xcom_select(f: XComFilter) -> Any:
    stmt = select(XCom, DagRun).join(DagRun, DagRun.id == XCom.run_pk)
    for column, value in (
        (DagRun.dag_id, f.dag_id),
        (DagRun.run_id, f.run_id),
        (XCom.task_id, f.task_id),
        (XCom.key, f.key),
        (XCom.map_index, f.map_index),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if f.projects is not None:
        stmt = stmt.where(DagRun.dag_id.in_(dag_ids_in(f.projects)))
    return stmt


def list_xcoms(db: Database, f: XComFilter, *, page: Page = (50, 0)) -> tuple[list[XComInfo], int]:
    """The XComs ``f`` selects, in run, task, map index and key order; a named run must exist."""
    order: list[Any] = [DagRun.id, XCom.task_id, XCom.map_index, XCom.key]
    with db.read() as s:
        if f.dag_id is not None and f.run_id is not None:
            run_row(s, f.dag_id, f.run_id)
        rows, total = paged(s, _xcom_select(f), order, page)
        return [_xcom_info(x, run) for x, run in rows], total


def _xcom_info(x: XCom, run: DagRun) -> XComInfo:
    return XComInfo(
        dag_id=run.dag_id,
        run_id=run.run_id,
        task_id=x.task_id,
        map_index=x.map_index,
        key=x.key,
        value=x.value,
        size=x.size,
        timestamp=x.created_at,
        logical_date=run.logical_date,
        run_after=run.run_after,
        stored=xcom_values.artifact_of(x),
    )


def get_xcom(
    db: Database,
    dag_id: str,
    run_id: str,
    task_id: str,
    *,
    key: str,
    map_index: int = -1,
    artifacts: ArtifactStore,
) -> XComInfo:
    """One XCom with its value, read from ``artifacts`` when it is stored there
    (``DataLostError`` when the artifact is missing or altered)."""
    f = XComFilter(dag_id, run_id, task_id, key=key, map_index=map_index)
    found, _ = list_xcoms(db, f, page=(1, 0))
    if not found:
        raise NotFoundError(f"XCom {key!r} of task {task_id!r} in run {run_id!r} was not found.")
    x = found[0]
    if x.stored is None:
        return x
    mapped = f"[{map_index}]" if map_index >= 0 else ""
    what = f"XCom {key!r} of task {task_id!r}{mapped} in run {run_id!r}"
    return replace(x, value=xcom_values.read_artifact(artifacts, x.stored, what))
