"""The DAG read model (one, for the API's ``/api/v2`` and ``/api/workflows``, the UI and the CLI):
DAGs with the definition they run on now and their counts, and their versions as Airflow's
``dagVersions``.

Every list takes ``projects``: the projects whose objects the caller may see (``None``: all),
so a list never reveals what exists elsewhere. Reads record no audit event.

Choices:

- A DAG is described by its current version's spec; a DAG without a current version (every
  version deprecated) by its newest remaining version's, so it still has a name and tags.
- A deregistered DAG is Airflow's *stale* DAG: hidden from lists unless asked for (the trash
  view), still readable one by one, with ``is_stale`` set.
- ``dagVersions`` lists published versions (active and deprecated): their numbers are unique
  per DAG, as Airflow's are. Drafts share the number they inherited, so they are listed only
  on request and cannot be fetched by number (their id is their address).
"""

from __future__ import annotations

import shutil
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, aliased

from pinflow.errors import NotFoundError
from pinflow.lifecycle.states import VersionStatus
from pinflow.runtime import staging
from pinflow.services.reads._queries import (
    _LIVE_RUNS,
    AnySelect,
    Page,
    check_paging,
    contains,
    order_clauses,
    paged,
    pattern,
    search_term,
)
from pinflow.services.reads._views import VersionView, version_view
from pinflow.spec.canonical import spec_from_dict
from pinflow.spec.models import DagSpec
from pinflow.store.db import Database
from pinflow.store.tables import (
    Dag,
    DagRun,
    Project,
    Snapshot,
    WorkflowDefinition,
    WorkflowSet,
)

_CURRENT = aliased(WorkflowDefinition)
_DISPLAY_NAME = func.coalesce(func.nullif(_CURRENT.name, ""), Dag.dag_id)
_PUBLISHED = (VersionStatus.ACTIVE.value, VersionStatus.DEPRECATED.value)


# --- DAGs --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DagInfo:
    """A DAG and the spec that describes it (see the module doc)."""

    dag_id: str
    project: str
    is_paused: bool
    deregistered_at: datetime | None
    deregistered_by: str | None
    rerun_with_latest_version: bool
    next_dagrun_after: datetime | None
    current_version_id: str | None
    current_version: int | None
    current_status: VersionStatus | None
    current_name: str | None
    versions: int  # not soft-deleted
    runs: int
    runs_in_flight: int  # queued or running
    spec: DagSpec | None
    spec_version_id: str | None
    spec_digest: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def deregistered(self) -> bool:
        return self.deregistered_at is not None

    @property
    def display_name(self) -> str:
        return self.spec.display_name if self.spec is not None else self.dag_id


@dataclass(frozen=True)
class DagDetails:
    info: DagInfo
    latest_version: VersionView | None


@dataclass(frozen=True)
class DagFilter:
    projects: Collection[str] | None = None
    include_stale: bool = False
    paused: bool | None = None
    dag_id_pattern: str | None = None
    dag_id_prefix: str | None = None
    display_name_pattern: str | None = None
    tags: tuple[str, ...] = ()
    tags_match_all: bool = False
    owners: tuple[str, ...] = ()
    search: str | None = None  # in the dag_id or the current version's name; literal text


DAG_ORDER: dict[str, Any] = {
    "dag_id": Dag.dag_id,
    "dag_display_name": _DISPLAY_NAME,
    "next_dagrun": Dag.next_dagrun_after,
    "created_at": Dag.created_at,
    "updated_at": Dag.updated_at,
}


def _dag_select(f: DagFilter) -> AnySelect:
    stmt = (
        select(Dag, Project.name, _CURRENT)
        .join(Project, Project.id == Dag.project_id)
        .outerjoin(_CURRENT, _CURRENT.id == Dag.current_version_id)
    )
    if not f.include_stale:
        stmt = stmt.where(Dag.deregistered_at.is_(None))
    if f.projects is not None:
        stmt = stmt.where(Project.name.in_(list(f.projects)))
    if f.paused is not None:
        stmt = stmt.where(Dag.is_paused.is_(f.paused))
    if f.dag_id_pattern:
        stmt = stmt.where(Dag.dag_id.ilike(pattern(f.dag_id_pattern)))
    if f.dag_id_prefix:
        stmt = stmt.where(Dag.dag_id.startswith(f.dag_id_prefix, autoescape=True))
    if f.display_name_pattern:
        stmt = stmt.where(_DISPLAY_NAME.ilike(pattern(f.display_name_pattern)))
    term = search_term(f.search)
    if term is not None:
        stmt = stmt.where(contains(term, Dag.dag_id, _CURRENT.name))
    return stmt


def _fallback_digests(s: Session, dag_ids: list[str]) -> dict[str, tuple[str, str]]:
    """Per DAG without a current version: its newest remaining version (id, digest)."""
    rows = s.execute(
        select(WorkflowDefinition.dag_id, WorkflowDefinition.id, WorkflowDefinition.snapshot_digest)
        .where(WorkflowDefinition.dag_id.in_(dag_ids), WorkflowDefinition.deleted_at.is_(None))
        .order_by(WorkflowDefinition.version.desc(), WorkflowDefinition.created_at.desc())
    ).all()
    found: dict[str, tuple[str, str]] = {}
    for dag_id, version_id, digest in rows:
        found.setdefault(dag_id, (version_id, digest))
    return found


def _load_specs(s: Session, digests: Collection[str]) -> dict[str, DagSpec]:
    rows = s.execute(select(Snapshot.digest, Snapshot.spec).where(Snapshot.digest.in_(digests)))
    return {digest: spec_from_dict(data) for digest, data in rows}


def _infos(s: Session, rows: Sequence[Any]) -> list[DagInfo]:
    orphans = [dag.dag_id for dag, _, current in rows if current is None]
    fallback = _fallback_digests(s, orphans) if orphans else {}
    described: dict[str, tuple[str, str]] = {
        dag.dag_id: (current.id, current.snapshot_digest)
        if current is not None
        else fallback.get(dag.dag_id, ("", ""))
        for dag, _, current in rows
    }
    specs = _load_specs(s, {digest for _, digest in described.values() if digest})
    counts = _dag_counts(s, list(described))
    infos = []
    for dag, project, current in rows:
        version_id, digest = described[dag.dag_id]
        versions, runs, in_flight = counts[dag.dag_id]
        infos.append(
            DagInfo(
                dag_id=dag.dag_id,
                project=project,
                is_paused=dag.is_paused,
                deregistered_at=dag.deregistered_at,
                deregistered_by=dag.deregistered_by,
                rerun_with_latest_version=dag.rerun_with_latest_version,
                next_dagrun_after=dag.next_dagrun_after,
                current_version_id=dag.current_version_id,
                current_version=current.version if current is not None else None,
                current_status=VersionStatus(current.status) if current is not None else None,
                current_name=current.name if current is not None else None,
                versions=versions,
                runs=runs,
                runs_in_flight=in_flight,
                spec=specs.get(digest),
                spec_version_id=version_id or None,
                spec_digest=digest or None,
                created_at=dag.created_at,
                updated_at=dag.updated_at,
            )
        )
    return infos


def _dag_counts(s: Session, ids: list[str]) -> dict[str, tuple[int, int, int]]:
    """Per DAG: versions (not soft-deleted), runs, runs in flight."""
    versions = {
        dag_id: int(n)
        for dag_id, n in s.execute(
            select(WorkflowDefinition.dag_id, func.count())
            .where(WorkflowDefinition.dag_id.in_(ids), WorkflowDefinition.deleted_at.is_(None))
            .group_by(WorkflowDefinition.dag_id)
        )
    }
    live = func.sum(case((DagRun.state.in_(_LIVE_RUNS), 1), else_=0))
    runs = {
        dag_id: (int(total), int(in_flight or 0))
        for dag_id, total, in_flight in s.execute(
            select(DagRun.dag_id, func.count(), live)
            .where(DagRun.dag_id.in_(ids))
            .group_by(DagRun.dag_id)
        )
    }
    return {i: (versions.get(i, 0), *runs.get(i, (0, 0))) for i in ids}


def _matches(info: DagInfo, f: DagFilter) -> bool:
    tags = set(info.spec.tags) if info.spec is not None else set()
    owner = info.spec.owner if info.spec is not None else None
    if f.tags:
        wanted = set(f.tags)
        if not (wanted <= tags if f.tags_match_all else wanted & tags):
            return False
    return not f.owners or owner in f.owners


def list_dags(
    db: Database, f: DagFilter, *, order_by: Sequence[str] = ("dag_id",), page: Page = (50, 0)
) -> tuple[list[DagInfo], int]:
    """DAGs matching ``f``, and the total before paging.

    Tags and owners live in the specs, so with those filters the candidates are matched in
    Python before paging (fine for thousands of DAGs; the other filters run in SQL).
    """
    check_paging(page)
    order = order_clauses(order_by, DAG_ORDER, Dag.dag_id.asc())
    stmt = _dag_select(f)
    with db.read() as s:
        if not (f.tags or f.owners):
            rows, total = paged(s, stmt, order, page)
            return _infos(s, rows), total
        matching = [i for i in _infos(s, s.execute(stmt.order_by(*order)).all()) if _matches(i, f)]
        limit, offset = page
        return matching[offset : offset + limit], len(matching)


def dag_info_in(s: Session, dag_id: str, *, include_deregistered: bool = True) -> DagInfo:
    """One DAG inside the caller's session (which may have just changed it)."""
    s.flush()
    rows = s.execute(_dag_select(DagFilter(include_stale=True)).where(Dag.dag_id == dag_id)).all()
    if not rows or (rows[0][0].deregistered_at is not None and not include_deregistered):
        raise NotFoundError(f"DAG {dag_id!r} was not found.")
    return _infos(s, rows)[0]


def project_of(db: Database, dag_id: str) -> str:
    """The project of a DAG (deregistered or not): where authority over it is checked."""
    with db.read() as s:
        name = s.scalars(
            select(Project.name).join(Dag, Dag.project_id == Project.id).where(Dag.dag_id == dag_id)
        ).one_or_none()
    if name is None:
        raise NotFoundError(f"DAG {dag_id!r} was not found.")
    return name


def get_dag(db: Database, dag_id: str, *, include_deregistered: bool = True) -> DagInfo:
    """One DAG; a deregistered (stale) one too unless ``include_deregistered`` is false."""
    with db.read() as s:
        return dag_info_in(s, dag_id, include_deregistered=include_deregistered)


def get_dag_details(db: Database, dag_id: str) -> DagDetails:
    with db.read() as s:
        info = dag_info_in(s, dag_id)
        latest = None
        if info.current_version_id is not None:
            latest = versions_by_id(s, [info.current_version_id]).get(info.current_version_id)
        return DagDetails(info, latest)


# --- versions ----------------------------------------------------------------------------------

VERSION_ORDER: dict[str, Any] = {
    "id": WorkflowDefinition.created_at,
    "version_number": WorkflowDefinition.version,
    "created_at": WorkflowDefinition.created_at,
    "bundle_version": WorkflowDefinition.snapshot_digest,
}


def _version_select() -> AnySelect:
    return (
        select(WorkflowDefinition, Project.name, WorkflowSet.name, Dag.current_version_id)
        .join(Dag, Dag.dag_id == WorkflowDefinition.dag_id)
        .join(Project, Project.id == WorkflowDefinition.project_id)
        .outerjoin(WorkflowSet, WorkflowSet.id == WorkflowDefinition.workflow_set_id)
    )


def _version_views(rows: Sequence[Any]) -> list[VersionView]:
    return [
        version_view(row, project=project, workflow_set=wset, current_id=current)
        for row, project, wset, current in rows
    ]


def versions_by_id(s: Session, ids: Collection[str]) -> dict[str, VersionView]:
    """Versions by id, soft-deleted ones included (runs and tries still name them)."""
    if not ids:
        return {}
    rows = s.execute(_version_select().where(WorkflowDefinition.id.in_(list(ids)))).all()
    return {v.id: v for v in _version_views(rows)}


def list_dag_versions(
    db: Database,
    dag_id: str,
    *,
    include_drafts: bool = False,
    version_number: int | None = None,
    order_by: Sequence[str] = ("version_number",),
    page: Page = (50, 0),
) -> tuple[list[VersionView], int]:
    """The DAG's published versions (and drafts on request), not soft-deleted ones."""
    statuses = (*_PUBLISHED, VersionStatus.DRAFT.value) if include_drafts else _PUBLISHED
    stmt = _version_select().where(
        WorkflowDefinition.dag_id == dag_id,
        WorkflowDefinition.status.in_(statuses),
        WorkflowDefinition.deleted_at.is_(None),
    )
    if version_number is not None:
        stmt = stmt.where(WorkflowDefinition.version == version_number)
    order = order_clauses(order_by, VERSION_ORDER, WorkflowDefinition.id.asc())
    with db.read() as s:
        dag_info_in(s, dag_id)
        rows, total = paged(s, stmt, order, page)
        return _version_views(rows), total


def get_dag_version(db: Database, dag_id: str, version_number: int) -> VersionView:
    found, _ = list_dag_versions(db, dag_id, version_number=version_number, page=(1, 0))
    if not found:
        raise NotFoundError(f"Version {version_number} of DAG {dag_id!r} was not found.")
    return found[0]


# --- files left behind -------------------------------------------------------------------------


def discard_files(
    log_paths: Collection[str],
    staging_dirs: Collection[str],
    *,
    logs_root: Path,
    staging_root: Path,
    shared_store_url: str | None = None,
) -> int:
    """Remove the log files and staging dirs of deleted runs, after the commit; only paths
    under the configured roots, and staging dirs on the shared store under its own staging
    root (a path from the database is never trusted blindly). Returns how many were removed;
    what is already gone is fine."""
    removed = 0
    local = []
    for raw in staging_dirs:
        if "://" not in raw:
            local.append(raw)
        elif shared_store_url and raw.startswith(staging.staging_root_uri(shared_store_url)):
            staging.discard(raw)
            removed += 1
    for raw, root in [(p, logs_root) for p in log_paths] + [(p, staging_root) for p in local]:
        path = Path(raw)
        if not path.resolve().is_relative_to(root.resolve()) or not path.exists():
            continue
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed += 1
    return removed
