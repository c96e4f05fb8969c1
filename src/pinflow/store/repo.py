"""Small data-access helpers shared by services (no business rules here)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pinflow.spec.canonical import spec_from_dict
from pinflow.spec.models import DagSpec
from pinflow.store.dialect import dialect_ops
from pinflow.store.tables import (
    DagRun,
    Project,
    Snapshot,
    WorkflowDefinition,
    WorkflowSet,
)


def insert_ignore(session: Session, table: Any, values: dict[str, Any], key: list[str]) -> bool:
    """INSERT … ON CONFLICT DO NOTHING: concurrent writers of the same row both succeed.

    Returns True when this call inserted the row.
    """
    stmt = dialect_ops(session).insert_or_ignore(table, values, key)
    # rowcount is unreliable here (psycopg reports -1); a returned key is not.
    returning = stmt.returning(*table.primary_key.columns)
    return session.execute(returning).first() is not None


def project_id(session: Session, name: str) -> int:
    insert_ignore(session, Project.__table__, {"name": name}, ["name"])
    return session.scalars(select(Project.id).where(Project.name == name)).one()


def workflow_set_id(session: Session, project: int, name: str | None) -> int | None:
    if name is None:
        return None
    insert_ignore(
        session,
        WorkflowSet.__table__,
        {"project_id": project, "name": name},
        ["project_id", "name"],
    )
    return session.scalars(
        select(WorkflowSet.id).where(WorkflowSet.project_id == project, WorkflowSet.name == name)
    ).one()


def project_name(session: Session, pid: int) -> str:
    return session.scalars(select(Project.name).where(Project.id == pid)).one()


def workflow_set_name(session: Session, wsid: int | None) -> str | None:
    if wsid is None:
        return None
    return session.scalars(select(WorkflowSet.name).where(WorkflowSet.id == wsid)).one()


def save_snapshot(
    session: Session, *, digest: str, spec: dict[str, Any], bundle: bytes, actor: str
) -> bool:
    """Store a snapshot unless its digest exists. Returns True when a row was created."""
    if session.get(Snapshot, digest) is not None:
        return False
    insert_ignore(
        session,
        Snapshot.__table__,
        {
            "digest": digest,
            "dag_id": spec["dag_id"],
            "spec": spec,
            "bundle": bundle,
            "bundle_size": len(bundle),
            "created_by": actor,
        },
        ["digest"],
    )
    return True


_SPEC_CACHE: OrderedDict[str, DagSpec] = OrderedDict()
_SPEC_CACHE_SIZE = 512


def load_spec(session: Session, digest: str) -> DagSpec:
    """The spec of a snapshot. Snapshots are immutable, so parsed specs are cached by digest
    (an LRU shared by the process): the scheduler's hot path asks for the same few."""
    spec = _SPEC_CACHE.get(digest)
    if spec is not None:
        _SPEC_CACHE.move_to_end(digest)
        return spec
    data = session.scalars(select(Snapshot.spec).where(Snapshot.digest == digest)).one()
    spec = spec_from_dict(data)
    _SPEC_CACHE[digest] = spec
    if len(_SPEC_CACHE) > _SPEC_CACHE_SIZE:
        _SPEC_CACHE.popitem(last=False)
    return spec


def load_bundle(session: Session, digest: str) -> bytes:
    return session.scalars(select(Snapshot.bundle).where(Snapshot.digest == digest)).one()


def published_numbers(session: Session, dag_id: str) -> list[int]:
    return list(
        session.scalars(
            select(WorkflowDefinition.version).where(
                WorkflowDefinition.dag_id == dag_id,
                WorkflowDefinition.status.in_(("active", "deprecated")),
            )
        )
    )


def count_live_runs(
    session: Session, *, version_id: str | None = None, dag_id: str | None = None
) -> int:
    stmt = select(func.count()).select_from(DagRun).where(DagRun.state.in_(("queued", "running")))
    if version_id is not None:
        stmt = stmt.where(DagRun.version_id == version_id)
    if dag_id is not None:
        stmt = stmt.where(DagRun.dag_id == dag_id)
    return session.scalars(stmt).one()


_SPEC_CACHE_SIZE = 256
_specs: dict[str, DagSpec] = {}


def known_spec(digest: str) -> DagSpec | None:
    """The spec of a snapshot if this process has parsed it already (no database needed)."""
    return _specs.get(digest)


def cached_spec(session: Session, digest: str) -> DagSpec:
    """The spec of a snapshot. Snapshots never change, so a process-wide cache is safe."""
    spec = _specs.get(digest)
    if spec is None:
        spec = load_spec(session, digest)
        if len(_specs) >= _SPEC_CACHE_SIZE:
            _specs.pop(next(iter(_specs)))
        _specs[digest] = spec
    return spec


class SpecCache:
    """Specs by snapshot digest. A snapshot never changes, so its spec is parsed once per
    process (``cached_spec``) and looked up once per unit of work."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._specs: dict[str, DagSpec] = {}

    def get(self, digest: str) -> DagSpec:
        if digest not in self._specs:
            self._specs[digest] = cached_spec(self._session, digest)
        return self._specs[digest]
