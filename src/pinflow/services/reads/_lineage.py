"""A DAG's version lineage (issue #18, point 5): its versions as a timeline, each with its
status, where it came from (``sourceWorkflowId``), the lifecycle events that moved it and who
did them, and its run figures.

Four statements whatever the number of versions (no query per version): the versions; their
runs grouped by version (counts by state, first and last start); the run duration
percentiles grouped by version (``DialectOps.percentiles``, as ADR 0024's statistics); and
the DAG's lifecycle events from the audit log. Purged versions are gone from the versions
table, but their ``workflow.purged`` event keeps what they were: they are listed apart.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from pinflow.errors import NotFoundError
from pinflow.lifecycle.states import RunState, VersionStatus
from pinflow.services.audit_events import AuditAction
from pinflow.store.db import Database
from pinflow.store.dialect import dialect_ops
from pinflow.store.tables import AuditEvent, Dag, DagRun, WorkflowDefinition

# What moves a version along its timeline (edits and dev saves are the designer's business).
TIMELINE_ACTIONS = (
    AuditAction.VERSION_CREATED,
    AuditAction.VERSION_PUBLISHED,
    AuditAction.VERSION_DEPRECATED,
    AuditAction.VERSION_REVERTED_TO_DRAFT,
    AuditAction.VERSION_DELETED,
    AuditAction.VERSION_RESTORED,
    AuditAction.VERSION_PURGED,
)
_FRACTIONS = (0.5, 0.95)
_FINISHED = (RunState.SUCCESS.value, RunState.FAILED.value)


@dataclass(frozen=True)
class LineageEvent:
    action: str
    actor: str
    at: datetime
    meta: dict[str, Any]

    @property
    def by_policy(self) -> bool:
        return "policy" in self.meta


@dataclass(frozen=True)
class RunFigures:
    total: int = 0
    queued: int = 0
    running: int = 0
    succeeded: int = 0
    failed: int = 0
    first_run_at: datetime | None = None
    last_run_at: datetime | None = None
    p50_seconds: float | None = None
    p95_seconds: float | None = None

    @property
    def success_rate(self) -> float | None:
        finished = self.succeeded + self.failed
        return self.succeeded / finished if finished else None


@dataclass(frozen=True)
class LineageVersion:
    id: str
    version: int
    status: VersionStatus
    name: str
    source_workflow_id: str | None
    is_current: bool
    is_dev: bool
    created_at: datetime
    created_by: str | None
    published_at: datetime | None
    published_by: str | None
    deprecated_at: datetime | None
    deprecated_by: str | None
    deleted_at: datetime | None
    deleted_by: str | None
    runs: RunFigures
    events: list[LineageEvent]


@dataclass(frozen=True)
class PurgedVersion:
    id: str
    version: int | None
    name: str | None
    status: str | None  # what it was when purged
    purged_at: datetime
    purged_by: str


@dataclass(frozen=True)
class Lineage:
    dag_id: str
    project_id: int
    current_version_id: str | None
    versions: list[LineageVersion]  # oldest first (by creation)
    purged: list[PurgedVersion]


def _figures(s: Session, dag_id: str) -> dict[str, RunFigures]:
    def count(state: RunState) -> Any:
        return func.coalesce(func.sum(case((DagRun.state == state.value, 1), else_=0)), 0)

    counts = s.execute(
        select(
            DagRun.version_id,
            func.count(),
            count(RunState.QUEUED),
            count(RunState.RUNNING),
            count(RunState.SUCCESS),
            count(RunState.FAILED),
            func.min(DagRun.start_date),
            func.max(DagRun.start_date),
        )
        .where(DagRun.dag_id == dag_id, DagRun.version_id.is_not(None))
        .group_by(DagRun.version_id)
    ).all()
    ops = dialect_ops(s)
    samples = (
        select(
            DagRun.version_id.label("version_key"),
            ops.seconds_between(DagRun.start_date, DagRun.end_date).label("d"),
        )
        .where(
            DagRun.dag_id == dag_id,
            DagRun.version_id.is_not(None),
            DagRun.state.in_(_FINISHED),
            DagRun.start_date.is_not(None),
            DagRun.end_date.is_not(None),
        )
        .subquery("samples")
    )
    percentiles = {
        row[0]: tuple(None if p is None else round(float(p), 3) for p in row[1:])
        for row in s.execute(ops.percentiles(samples, ("version_key",), "d", _FRACTIONS)).all()
    }
    return {row[0]: RunFigures(*row[1:], *percentiles.get(row[0], (None, None))) for row in counts}


def _events(s: Session, dag_id: str) -> Sequence[AuditEvent]:
    return s.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.dag_id == dag_id,
            or_(
                (AuditEvent.target_type == "workflow")
                & AuditEvent.action.in_([a.value for a in TIMELINE_ACTIONS]),
                AuditEvent.action == AuditAction.DAG_CURRENT_VERSION_SET.value,
            ),
        )
        .order_by(AuditEvent.at, AuditEvent.id)
    ).all()


def _by_version(rows: Sequence[AuditEvent]) -> dict[str, list[LineageEvent]]:
    """Version events under their version; a current-version move under the version it
    made current (its ``toVersionId``)."""
    found: dict[str, list[LineageEvent]] = defaultdict(list)
    for e in rows:
        meta = dict(e.meta or {})
        key = meta.get("toVersionId") if e.target_type == "dag" else e.target_id
        if isinstance(key, str):
            found[key].append(LineageEvent(e.action, e.actor, e.at, meta))
    return found


def _purged(rows: Sequence[AuditEvent], alive: set[str]) -> list[PurgedVersion]:
    return [
        PurgedVersion(
            id=e.target_id,
            version=(e.meta or {}).get("version"),
            name=(e.meta or {}).get("name"),
            status=(e.meta or {}).get("status"),
            purged_at=e.at,
            purged_by=e.actor,
        )
        for e in rows
        if e.action == AuditAction.VERSION_PURGED.value and e.target_id not in alive
    ]


def lineage(db: Database, dag_id: str) -> Lineage:
    """The DAG's versions, oldest first, with their events and run figures (four queries)."""
    with db.read() as s:
        dag = s.get(Dag, dag_id)
        if dag is None or dag.deregistered_at is not None:
            raise NotFoundError(f"DAG {dag_id!r} was not found.")
        rows = s.scalars(
            select(WorkflowDefinition)
            .where(WorkflowDefinition.dag_id == dag_id)
            .order_by(WorkflowDefinition.created_at, WorkflowDefinition.version)
        ).all()
        figures = _figures(s, dag_id)
        audit = _events(s, dag_id)
        events = _by_version(audit)
        versions = [
            LineageVersion(
                id=r.id,
                version=r.version,
                status=VersionStatus(r.status),
                name=r.name,
                source_workflow_id=r.source_workflow_id,
                is_current=r.id == dag.current_version_id,
                is_dev=r.is_dev,
                created_at=r.created_at,
                created_by=r.created_by,
                published_at=r.published_at,
                published_by=r.published_by,
                deprecated_at=r.deprecated_at,
                deprecated_by=r.deprecated_by,
                deleted_at=r.deleted_at,
                deleted_by=r.deleted_by,
                runs=figures.get(r.id, RunFigures()),
                events=events.get(r.id, []),
            )
            for r in rows
        ]
        return Lineage(
            dag_id=dag_id,
            project_id=dag.project_id,
            current_version_id=dag.current_version_id,
            versions=versions,
            purged=_purged(audit, {r.id for r in rows}),
        )
