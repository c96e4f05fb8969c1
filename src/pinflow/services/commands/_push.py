"""Register a compiled snapshot: the push a CI job (or ``pinflow dev``) makes.

Idempotent by digest: pushing the same spec and code twice creates nothing the second time.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from pinflow.errors import InvalidInputError
from pinflow.lifecycle import version_rules as rules
from pinflow.lifecycle.resource_access import usable_by
from pinflow.lifecycle.states import VersionStatus
from pinflow.services import audit_events as events
from pinflow.services.audit_events import record
from pinflow.services.commands._versions import deprecate_row, make_current, new_version_row, view
from pinflow.services.common import for_update, now
from pinflow.services.reads._views import VersionView
from pinflow.spec.bundle_diff import changed_inputs
from pinflow.spec.bundle_rules import DEFAULT_LIMITS, BundleLimits, check_bundle, check_spec_limits
from pinflow.spec.canonical import snapshot_digest, spec_to_dict
from pinflow.spec.models import DagSpec
from pinflow.spec.validation import validate_for_publish
from pinflow.store import repo
from pinflow.store.db import Database
from pinflow.store.tables import Dag, Pool, Project, WorkflowDefinition


class PushMode(StrEnum):
    PUBLISH = "publish"  # a new active version that becomes current (production CI)
    DRAFT = "draft"  # a new draft version, linked to the current version
    DEV = "dev"  # replace the DAG's dev draft and make it current (hot reload)


@dataclass(frozen=True)
class PushResult:
    version: VersionView
    digest: str
    snapshot_created: bool
    version_created: bool
    dag_created: bool
    dag_restored: bool
    deprecated_previous_id: str | None
    # What differs from the version that was current, when this push made a new one or moved
    # the current version (ADR 0041): ``["helpers.py changed"]``; empty for a first version.
    changed: tuple[str, ...] = ()

    @property
    def noop(self) -> bool:
        return not (self.snapshot_created or self.version_created or self.dag_restored)


def register_snapshot(
    db: Database,
    spec: DagSpec,
    bundle: bytes = b"",
    *,
    actor: str,
    mode: PushMode = PushMode.PUBLISH,
    deprecate_previous: bool = False,
    limits: BundleLimits = DEFAULT_LIMITS,
    paused_at_creation: bool = False,
) -> PushResult:
    """Checked before the transaction opens, so a refused push writes nothing.

    ``paused_at_creation``: the instance's default (``dags_are_paused_at_creation``) for a DAG
    this push creates, unless its spec says otherwise; an existing DAG keeps its flag (ADR 0035).
    """
    check_spec_limits(spec, limits)
    check_bundle(bundle, limits)
    digest = snapshot_digest(spec, bundle)
    if mode == PushMode.PUBLISH:
        validate_for_publish(spec)
    with db.transaction() as s:
        _check_pools(s, spec)
        paused = paused_at_creation if spec.paused_at_creation is None else spec.paused_at_creation
        dag, dag_created, restored = _lock_or_create_dag(s, spec, actor, paused=paused)
        created = repo.save_snapshot(
            s, digest=digest, spec=spec_to_dict(spec), bundle=bundle, actor=actor
        )
        before = _current_digest(s, dag)
        row, version_created, deprecated = _place_snapshot(
            s, dag, spec, digest, actor=actor, mode=mode, deprecate_previous=deprecate_previous
        )
        if created or version_created:
            record(s, actor, events.dag_pushed(row, mode=mode, version_created=version_created))
        changed = _changes(s, before, spec, bundle) if before not in (None, digest) else []
        s.flush()
        return PushResult(
            view(s, row),
            digest,
            created,
            version_created,
            dag_created,
            restored,
            deprecated,
            tuple(changed),
        )


def _current_digest(s: Session, dag: Dag) -> str | None:
    if dag.current_version_id is None:
        return None
    row = s.get(WorkflowDefinition, dag.current_version_id)
    return row.snapshot_digest if row is not None else None


def _changes(s: Session, before: str, spec: DagSpec, bundle: bytes) -> list[str]:
    """What differs from the snapshot ``before`` (the current version's, ADR 0041)."""
    return changed_inputs(repo.load_spec(s, before), repo.load_bundle(s, before), spec, bundle)


def _check_pools(s: Session, spec: DagSpec) -> None:
    """``usable_by``: a task may not name another project's pool. (A pool that does not exist
    yet is accepted, as before: its task waits until it is created.)"""
    names = sorted({task.pool or spec.default_args.pool for task in spec.tasks})
    rows = s.execute(
        select(Pool.name, Project.name)
        .outerjoin(Project, Project.id == Pool.project_id)
        .where(Pool.name.in_(names))
    )
    for pool, project in rows:
        if not usable_by(project, spec.project):
            raise InvalidInputError(
                f"Pool {pool!r} belongs to another project: a DAG of project {spec.project!r}"
                " may use instance-wide pools and its own project's only."
            )


def _lock_or_create_dag(
    s: Session, spec: DagSpec, actor: str, *, paused: bool
) -> tuple[Dag, bool, bool]:
    pid = repo.project_id(s, spec.project)
    stamp = now()
    # Two first pushes of one DAG at once: both insert-or-ignore, then both lock the one row.
    values = {
        "dag_id": spec.dag_id,
        "project_id": pid,
        "is_paused": paused,  # only for a new row: the insert of an existing DAG is ignored
        "rerun_with_latest_version": True,
        "created_at": stamp,
        "updated_at": stamp,
    }
    created = repo.insert_ignore(s, Dag.__table__, values, ["dag_id"])
    dag = s.scalars(for_update(select(Dag).where(Dag.dag_id == spec.dag_id))).one()
    if created:
        record(s, actor, events.dag_registered(dag.dag_id, project=spec.project, paused=paused))
        return dag, True, False
    if dag.deregistered_at is None:
        return dag, False, False
    dag.deregistered_at = None
    dag.deregistered_by = None
    record(s, actor, events.dag_restored_by_push(dag.dag_id))
    return dag, False, True


def _existing(s: Session, dag_id: str, digest: str, mode: PushMode) -> WorkflowDefinition | None:
    """The version this push would duplicate: an active one for publish, a draft otherwise.

    Content that exists only as a deprecated version is published again as a new version (a
    CI rollback by re-push), never silently ignored.
    """
    wanted = VersionStatus.ACTIVE if mode == PushMode.PUBLISH else VersionStatus.DRAFT
    stmt = select(WorkflowDefinition).where(
        WorkflowDefinition.dag_id == dag_id,
        WorkflowDefinition.snapshot_digest == digest,
        WorkflowDefinition.deleted_at.is_(None),
        WorkflowDefinition.status == wanted,
        WorkflowDefinition.is_dev.is_(mode == PushMode.DEV),
    )
    return s.scalars(stmt.order_by(WorkflowDefinition.created_at.desc()).limit(1)).first()


def _make_current(s: Session, dag: Dag, row: WorkflowDefinition, actor: str) -> None:
    """Re-pushing what an active version holds makes it current again (rollback by push)."""
    previous = dag.current_version_id
    make_current(dag, row.id)
    record(s, actor, events.current_version_set_by_push(row, previous=previous))


def _place_snapshot(
    s: Session,
    dag: Dag,
    spec: DagSpec,
    digest: str,
    *,
    actor: str,
    mode: PushMode,
    deprecate_previous: bool,
) -> tuple[WorkflowDefinition, bool, str | None]:
    same = _existing(s, dag.dag_id, digest, mode)
    if same is not None and mode == PushMode.PUBLISH and dag.current_version_id != same.id:
        _make_current(s, dag, same, actor)
    if same is not None and (mode != PushMode.DEV or dag.current_version_id == same.id):
        return same, False, None
    if mode == PushMode.DEV:
        return _dev_save(s, dag, spec, digest, actor), True, None
    previous_id = dag.current_version_id
    status = VersionStatus.ACTIVE if mode == PushMode.PUBLISH else VersionStatus.DRAFT
    row = _new_version(s, dag, spec, digest, actor=actor, status=status, source_id=previous_id)
    if status == VersionStatus.DRAFT:
        return row, True, None
    row.published_at, row.published_by = now(), actor
    make_current(dag, row.id)
    record(s, actor, events.version_published(row))
    previous = s.get(WorkflowDefinition, previous_id) if previous_id else None
    if deprecate_previous and previous is not None and previous.status == VersionStatus.ACTIVE:
        deprecate_row(s, dag, previous, actor=actor, superseded_by=row.id)
        return row, True, previous.id
    return row, True, None


def _new_version(
    s: Session,
    dag: Dag,
    spec: DagSpec,
    digest: str,
    *,
    actor: str,
    status: VersionStatus,
    source_id: str | None,
    is_dev: bool = False,
) -> WorkflowDefinition:
    pid = repo.project_id(s, spec.project)
    row = new_version_row(
        dag_id=dag.dag_id,
        spec=spec,
        digest=digest,
        project_id=pid,
        workflow_set_id=repo.workflow_set_id(s, pid, spec.workflow_set),
        status=status,
        version=rules.next_version_number(repo.published_numbers(s, dag.dag_id)),
        actor=actor,
        source_id=source_id,
        is_dev=is_dev,
    )
    s.add(row)
    s.flush()
    record(s, actor, events.version_created_by_push(row))
    return row


def _dev_save(s: Session, dag: Dag, spec: DagSpec, digest: str, actor: str) -> WorkflowDefinition:
    """One snapshot per save on the DAG's dev draft, which becomes the current version."""
    row = s.scalars(
        for_update(
            select(WorkflowDefinition).where(
                WorkflowDefinition.dag_id == dag.dag_id,
                WorkflowDefinition.is_dev.is_(True),
                WorkflowDefinition.status == VersionStatus.DRAFT,
                WorkflowDefinition.deleted_at.is_(None),
            )
        )
    ).first()
    if row is None:
        row = _new_version(
            s,
            dag,
            spec,
            digest,
            actor=actor,
            status=VersionStatus.DRAFT,
            source_id=dag.current_version_id,
            is_dev=True,
        )
    old = row.snapshot_digest
    row.snapshot_digest, row.name, row.description = digest, spec.display_name, spec.description
    row.error_strategy, row.updated_at = spec.error_strategy.value, now()
    previous_current = dag.current_version_id
    make_current(dag, row.id)
    record(s, actor, events.dev_draft_saved(row, old, previous_current=previous_current))
    return row
