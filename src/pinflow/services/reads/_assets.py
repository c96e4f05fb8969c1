"""Assets as the API and the UI show them (ADR 0037): each with the DAGs scheduled on it, the
tasks that update it (outlets) and read it (inlets), its latest event; and asset events with
the runs they triggered.

Visibility follows the DAGs: a caller sees an asset that a DAG of a project they may read
mentions (``projects`` ``None``: every project, and assets nobody mentions), and of it only
those DAGs; an event is seen with its asset.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from pinflow.errors import NotFoundError
from pinflow.services.reads._queries import Page, dag_ids_in, order_clauses, paged, pattern
from pinflow.store.db import Database
from pinflow.store.tables import (
    Asset,
    AssetEvent,
    AssetQueue,
    AssetReference,
    AssetTriggeredRun,
    Dag,
    DagRun,
    Project,
)

Projects = Collection[str] | None  # None: every project
Sel = TypeVar("Sel", bound=Select[*tuple[Any, ...]])


@dataclass(frozen=True)
class AssetInfo:
    id: int
    uri: str
    name: str
    group: str
    extra: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    scheduled_dags: list[str] = field(default_factory=list)
    producing_tasks: list[tuple[str, str]] = field(default_factory=list)  # dag, task
    consuming_tasks: list[tuple[str, str]] = field(default_factory=list)  # inlets
    last_event: tuple[int, datetime] | None = None


@dataclass(frozen=True)
class TriggeredRun:
    dag_id: str
    run_id: str
    state: str
    logical_date: datetime | None
    start_date: datetime | None
    end_date: datetime | None
    data_interval_start: datetime | None
    data_interval_end: datetime | None


@dataclass(frozen=True)
class AssetEventInfo:
    id: int
    asset_id: int
    uri: str
    name: str
    group: str
    extra: dict[str, Any]
    source_dag_id: str | None
    source_run_id: str | None
    source_task_id: str | None
    source_map_index: int
    created_by: str | None
    timestamp: datetime
    created_dagruns: list[TriggeredRun] = field(default_factory=list)


def _visible(stmt: Sel, projects: Projects) -> Sel:
    if projects is None:
        return stmt
    mentioned = select(AssetReference.asset_id).where(
        AssetReference.dag_id.in_(dag_ids_in(projects))
    )
    return stmt.where(Asset.id.in_(mentioned))


_ASSET_ORDER = {"id": Asset.id, "uri": Asset.uri, "name": Asset.name, "group": Asset.group}


def list_assets(
    db: Database,
    projects: Projects,
    *,
    page: Page,
    uri_pattern: str | None = None,
    name_pattern: str | None = None,
    dag_ids: Sequence[str] = (),
    order_by: Sequence[str] = ("id",),
) -> tuple[list[AssetInfo], int]:
    """The assets the caller may see, one page of them, and how many there are."""
    stmt = _visible(select(Asset), projects)
    if uri_pattern:
        stmt = stmt.where(Asset.uri.ilike(pattern(uri_pattern)))
    if name_pattern:
        stmt = stmt.where(Asset.name.ilike(pattern(name_pattern)))
    if dag_ids:
        refs = select(AssetReference.asset_id).where(AssetReference.dag_id.in_(list(dag_ids)))
        stmt = stmt.where(Asset.id.in_(refs))
    with db.read() as s:
        order = order_clauses(order_by, _ASSET_ORDER, Asset.id.asc())
        rows, total = paged(s, stmt, order, page)
        return [_info(s, row[0], projects) for row in rows], total


def get_asset(db: Database, asset_id: int, projects: Projects) -> AssetInfo:
    with db.read() as s:
        asset = s.scalars(_visible(select(Asset).where(Asset.id == asset_id), projects)).first()
        if asset is None:
            raise NotFoundError(f"Asset {asset_id} was not found.")
        return _info(s, asset, projects)


def _info(s: Session, asset: Asset, projects: Projects) -> AssetInfo:
    refs = select(AssetReference.kind, AssetReference.dag_id, AssetReference.task_id).where(
        AssetReference.asset_id == asset.id
    )
    if projects is not None:
        refs = refs.where(AssetReference.dag_id.in_(dag_ids_in(projects)))
    rows = s.execute(refs.order_by(AssetReference.dag_id, AssetReference.task_id)).all()
    last = s.execute(
        select(AssetEvent.id, AssetEvent.timestamp)
        .where(AssetEvent.asset_id == asset.id)
        .order_by(AssetEvent.id.desc())
        .limit(1)
    ).first()
    return AssetInfo(
        id=asset.id,
        uri=asset.uri,
        name=asset.name,
        group=asset.group,
        extra=dict(asset.extra or {}),
        created_at=asset.created_at,
        updated_at=asset.updated_at,
        scheduled_dags=[dag for kind, dag, _ in rows if kind == "schedule"],
        producing_tasks=[(dag, task) for kind, dag, task in rows if kind == "outlet"],
        consuming_tasks=[(dag, task) for kind, dag, task in rows if kind == "inlet"],
        last_event=None if last is None else (last[0], last[1]),
    )


@dataclass(frozen=True)
class EventFilter:
    asset_id: int | None = None
    source_dag_id: str | None = None
    source_task_id: str | None = None
    source_run_id: str | None = None
    timestamp_gte: datetime | None = None
    timestamp_lte: datetime | None = None


_EVENT_ORDER = {"id": AssetEvent.id, "timestamp": AssetEvent.timestamp}


def list_events(
    db: Database,
    projects: Projects,
    f: EventFilter,
    *,
    page: Page,
    order_by: Sequence[str] = ("timestamp",),
) -> tuple[list[AssetEventInfo], int]:
    """Events of the assets the caller may see, filtered, one page, and the total."""
    stmt = _visible(
        select(AssetEvent, Asset.uri, Asset.name, Asset.group).join(
            Asset, Asset.id == AssetEvent.asset_id
        ),
        projects,
    )
    for column, value in (
        (AssetEvent.asset_id, f.asset_id),
        (AssetEvent.source_dag_id, f.source_dag_id),
        (AssetEvent.source_task_id, f.source_task_id),
        (AssetEvent.source_run_id, f.source_run_id),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if f.timestamp_gte is not None:
        stmt = stmt.where(AssetEvent.timestamp >= f.timestamp_gte)
    if f.timestamp_lte is not None:
        stmt = stmt.where(AssetEvent.timestamp <= f.timestamp_lte)
    with db.read() as s:
        order = order_clauses(order_by, _EVENT_ORDER, AssetEvent.id.asc())
        rows, total = paged(s, stmt, order, page)
        runs = _triggered(s, [row[0].id for row in rows], projects)
        return [_event(row, runs.get(row[0].id, [])) for row in rows], total


def _event(row: Any, runs: list[TriggeredRun]) -> AssetEventInfo:
    event, uri, name, group = row
    return AssetEventInfo(
        id=event.id,
        asset_id=event.asset_id,
        uri=uri,
        name=name,
        group=group,
        extra=dict(event.extra or {}),
        source_dag_id=event.source_dag_id,
        source_run_id=event.source_run_id,
        source_task_id=event.source_task_id,
        source_map_index=event.source_map_index,
        created_by=event.created_by,
        timestamp=event.timestamp,
        created_dagruns=runs,
    )


def _triggered(
    s: Session, event_ids: list[int], projects: Projects
) -> dict[int, list[TriggeredRun]]:
    if not event_ids:
        return {}
    stmt = (
        select(AssetTriggeredRun.event_id, DagRun)
        .join(DagRun, DagRun.id == AssetTriggeredRun.run_pk)
        .where(AssetTriggeredRun.event_id.in_(event_ids))
        .order_by(DagRun.id)
    )
    if projects is not None:
        stmt = stmt.where(DagRun.dag_id.in_(dag_ids_in(projects)))
    found: dict[int, list[TriggeredRun]] = {}
    for event_id, run in s.execute(stmt).all():
        found.setdefault(event_id, []).append(
            TriggeredRun(
                run.dag_id,
                run.run_id,
                run.state,
                run.logical_date,
                run.start_date,
                run.end_date,
                run.data_interval_start,
                run.data_interval_end,
            )
        )
    return found


def consumers_of(db: Database, asset_id: int) -> list[tuple[str, str]]:
    """The DAGs scheduled on the asset, with their projects (who a manual event reaches)."""
    with db.read() as s:
        rows = s.execute(
            select(AssetReference.dag_id, Project.name)
            .join(Dag, Dag.dag_id == AssetReference.dag_id)
            .join(Project, Project.id == Dag.project_id)
            .where(AssetReference.asset_id == asset_id, AssetReference.kind == "schedule")
            .order_by(AssetReference.dag_id)
        ).all()
        return [(dag_id, project) for dag_id, project in rows]


@dataclass(frozen=True)
class QueuedEventInfo:
    asset_id: int
    uri: str
    dag_id: str
    created_at: datetime


def queued_events(db: Database, dag_id: str) -> list[QueuedEventInfo]:
    """The events waiting for ``dag_id``'s next asset-triggered run (per asset: the latest)."""
    with db.read() as s:
        rows = s.execute(
            select(AssetQueue.asset_id, Asset.uri, func.max(AssetQueue.created_at))
            .join(Asset, Asset.id == AssetQueue.asset_id)
            .where(AssetQueue.target_dag_id == dag_id)
            .group_by(AssetQueue.asset_id, Asset.uri)
            .order_by(AssetQueue.asset_id)
        ).all()
        return [QueuedEventInfo(a, uri, dag_id, at) for a, uri, at in rows]
