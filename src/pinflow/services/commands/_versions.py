"""The seed's version lifecycle: create-version, edit, publish, deprecate, revert, current.

Every function: lock the DAG row (one writer per DAG at a time, so version numbers and
``current`` never race), lock the version, ask the named rules, write with a guarded update,
append the audit event, commit.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session, object_session

from pinflow.errors import ConflictError, InvalidInputError, NotFoundError, Problem
from pinflow.lifecycle import version_rules as rules
from pinflow.lifecycle.states import VersionStatus
from pinflow.lifecycle.version_rules import VersionFacts, VersionRef
from pinflow.services import audit_events as events
from pinflow.services.audit_events import record
from pinflow.services.common import dag_id_of, enforce, lock_dag, lock_version, now
from pinflow.services.engine import _assets as assets
from pinflow.services.engine import _wakeups as wakeups
from pinflow.services.reads._views import VersionView, version_view
from pinflow.spec.canonical import snapshot_digest, spec_to_dict
from pinflow.spec.models import DagSpec
from pinflow.spec.validation import draft_warnings, validate_for_publish
from pinflow.store import repo
from pinflow.store.db import Database
from pinflow.store.tables import Dag, WorkflowDefinition


def facts(row: WorkflowDefinition, **extra: object) -> VersionFacts:
    return VersionFacts(
        status=VersionStatus(row.status),
        name=row.name,
        deleted=row.deleted_at is not None,
        **extra,  # type: ignore[arg-type]
    )


def view(session: Session, row: WorkflowDefinition) -> VersionView:
    current = session.scalars(select(Dag.current_version_id).where(Dag.dag_id == row.dag_id)).one()
    return version_view(
        row,
        project=repo.project_name(session, row.project_id),
        workflow_set=repo.workflow_set_name(session, row.workflow_set_id),
        current_id=current,
    )


def guarded_status(
    session: Session, row: WorkflowDefinition, expected: str, **values: object
) -> None:
    """UPDATE … WHERE status = :expected; zero rows means someone else moved it first."""
    result = session.execute(
        update(WorkflowDefinition)
        .where(WorkflowDefinition.id == row.id, WorkflowDefinition.status == expected)
        .values(updated_at=now(), **values)
        .execution_options(synchronize_session="fetch")
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise ConflictError(f"Workflow version {row.id} changed concurrently; reload and retry.")
    session.refresh(row)


def version_refs(session: Session, dag_id: str) -> list[VersionRef]:
    rows = session.execute(
        select(WorkflowDefinition.id, WorkflowDefinition.version, WorkflowDefinition.status).where(
            WorkflowDefinition.dag_id == dag_id, WorkflowDefinition.deleted_at.is_(None)
        )
    ).all()
    return [VersionRef(r.id, r.version, VersionStatus(r.status)) for r in rows]


def make_current(dag: Dag, version_id: str | None) -> None:
    """Point the DAG at ``version_id``, the version new runs and its schedule use.

    The DAG's schedule position (``next_dagrun_after``) was computed from the previous
    version's schedule, so it is dropped: the scheduler's next sweep computes it anew (see
    ``pinflow.services.engine``), and the schedulers are woken to do it (an idle one
    sleeps until the earliest known position). Kept, a new schedule would wait for the old
    position.
    """
    session = object_session(dag)
    if dag.current_version_id != version_id:
        dag.current_version_id = version_id
        dag.next_dagrun_after = None
        if session is not None:  # an idle scheduler sleeps until the next position: wake it
            wakeups.run_queued(session)
    if session is not None:  # a dev save keeps the id and changes the snapshot: always
        _sync_assets(session, dag.dag_id, version_id)


def _sync_assets(session: Session, dag_id: str, version_id: str | None) -> None:
    """The DAG's assets are those of its current version while it is active (ADR 0037)."""
    row = session.get(WorkflowDefinition, version_id) if version_id is not None else None
    active = row is not None and row.status == VersionStatus.ACTIVE
    spec = repo.load_spec(session, row.snapshot_digest) if row is not None and active else None
    assets.sync_references(session, dag_id, spec)


def move_current_away(session: Session, dag: Dag, removed_id: str) -> str | None:
    """Point ``current`` at the newest remaining active version if it pointed at ``removed_id``."""
    refs = [r for r in version_refs(session, dag.dag_id) if r.id != removed_id]
    make_current(dag, rules.current_after_removal(dag.current_version_id, removed_id, refs))
    return dag.current_version_id


def new_version_row(
    *,
    dag_id: str,
    spec: DagSpec,
    digest: str,
    project_id: int,
    workflow_set_id: int | None,
    status: VersionStatus,
    version: int,
    actor: str,
    source_id: str | None = None,
    is_dev: bool = False,
) -> WorkflowDefinition:
    stamp = now()
    return WorkflowDefinition(
        id=str(uuid.uuid4()),
        dag_id=dag_id,
        version=version,
        status=status,
        source_workflow_id=source_id,
        snapshot_digest=digest,
        name=spec.display_name,
        description=spec.description,
        error_strategy=spec.error_strategy.value,
        project_id=project_id,
        workflow_set_id=workflow_set_id,
        is_dev=is_dev,
        created_at=stamp,
        created_by=actor,
        updated_at=stamp,
    )


def create_version(db: Database, source_id: str, *, actor: str) -> VersionView:
    """Clone an active/deprecated version into a new draft that links back to it (seed 001)."""
    with db.transaction() as s:
        lock_dag(s, dag_id_of(s, source_id))
        source = lock_version(s, source_id)
        enforce(rules.CREATE_VERSION, facts(source))
        row = WorkflowDefinition(
            id=str(uuid.uuid4()),
            dag_id=source.dag_id,
            version=source.version,
            status=VersionStatus.DRAFT,
            source_workflow_id=source.id,
            snapshot_digest=source.snapshot_digest,
            name=source.name,
            description=source.description,
            error_strategy=source.error_strategy,
            project_id=source.project_id,
            workflow_set_id=source.workflow_set_id,
            created_at=now(),
            created_by=actor,
            updated_at=now(),
        )
        s.add(row)
        s.flush()
        record(s, actor, events.version_created(source, row))
        return view(s, row)


@dataclass(frozen=True)
class EditResult:
    version: VersionView
    snapshot_created: bool
    warnings: list[Problem]


def edit_draft(
    db: Database, version_id: str, spec: DagSpec, *, actor: str, bundle: bytes | None = None
) -> EditResult:
    """Replace a draft's definition: each edit is a new snapshot; graph problems are warnings."""
    with db.transaction() as s:
        row = lock_version(s, version_id)
        enforce(rules.EDIT_DRAFT, facts(row))
        if spec.dag_id != row.dag_id:
            raise InvalidInputError(
                f"dag_id {spec.dag_id!r} does not match this version's DAG {row.dag_id!r}.",
                problems=[Problem("dag_id", "must not change in a new snapshot")],
            )
        code = repo.load_bundle(s, row.snapshot_digest) if bundle is None else bundle
        digest = snapshot_digest(spec, code)
        created = repo.save_snapshot(
            s, digest=digest, spec=spec_to_dict(spec), bundle=code, actor=actor
        )
        old = row.snapshot_digest
        pid = repo.project_id(s, spec.project)
        guarded_status(
            s,
            row,
            VersionStatus.DRAFT,
            snapshot_digest=digest,
            name=spec.display_name,
            description=spec.description,
            error_strategy=spec.error_strategy.value,
            project_id=pid,
            workflow_set_id=repo.workflow_set_id(s, pid, spec.workflow_set),
        )
        if old != digest:
            record(s, actor, events.version_edited(row, from_snapshot=old))
        return EditResult(view(s, row), created, draft_warnings(spec))


@dataclass(frozen=True)
class PublishResult:
    version: VersionView
    source_workflow_id: str | None
    source_still_active: bool
    deprecated_previous_id: str | None


def publish(
    db: Database, version_id: str, *, actor: str, deprecate_previous_version_id: str | None = None
) -> PublishResult:
    """Draft -> active, strictly validated; can deprecate the previous version atomically."""
    with db.transaction() as s:
        dag = lock_dag(s, dag_id_of(s, version_id))
        row = lock_version(s, version_id)
        enforce(rules.PUBLISH, facts(row))
        validate_for_publish(repo.load_spec(s, row.snapshot_digest))
        previous = _previous_to_deprecate(s, row, deprecate_previous_version_id)
        number = rules.next_version_number(repo.published_numbers(s, row.dag_id))
        guarded_status(
            s,
            row,
            VersionStatus.DRAFT,
            status=VersionStatus.ACTIVE,
            version=number,
            published_at=now(),
            published_by=actor,
            is_dev=False,
        )
        make_current(dag, row.id)
        record(s, actor, events.version_published(row))
        deprecated_id = None
        if previous is not None and previous.status == VersionStatus.ACTIVE:
            deprecate_row(s, dag, previous, actor=actor, superseded_by=row.id)
            deprecated_id = previous.id
        s.flush()
        return PublishResult(
            version=view(s, row),
            source_workflow_id=row.source_workflow_id,
            source_still_active=_is_active(s, row.source_workflow_id),
            deprecated_previous_id=deprecated_id,
        )


def _previous_to_deprecate(
    s: Session, row: WorkflowDefinition, previous_id: str | None
) -> WorkflowDefinition | None:
    if previous_id is None:
        return None
    if previous_id == row.id:
        raise InvalidInputError(
            "deprecatePreviousVersionId must name another version, not this one."
        )
    try:
        previous = lock_version(s, previous_id)
    except NotFoundError:
        raise InvalidInputError(
            f"deprecatePreviousVersionId {previous_id!r} does not name an existing version."
        ) from None
    if previous.deleted_at is not None:
        return None  # a deleted version is not in service: nothing to deprecate
    if previous.dag_id != row.dag_id:
        raise InvalidInputError(
            "deprecatePreviousVersionId must name a version of the same DAG "
            f"({row.dag_id!r}), not of {previous.dag_id!r}."
        )
    return previous


def _is_active(s: Session, version_id: str | None) -> bool:
    if version_id is None:
        return False
    status = s.scalars(
        select(WorkflowDefinition.status).where(
            WorkflowDefinition.id == version_id, WorkflowDefinition.deleted_at.is_(None)
        )
    ).one_or_none()
    return status == VersionStatus.ACTIVE


def deprecate_row(
    s: Session, dag: Dag, row: WorkflowDefinition, *, actor: str, superseded_by: str | None = None
) -> None:
    guarded_status(
        s,
        row,
        VersionStatus.ACTIVE,
        status=VersionStatus.DEPRECATED,
        deprecated_at=now(),
        deprecated_by=actor,
    )
    current = move_current_away(s, dag, row.id)
    record(s, actor, events.version_deprecated(row, superseded_by=superseded_by, current=current))


def deprecate(db: Database, version_id: str, *, actor: str) -> VersionView:
    """Active -> deprecated: no new runs; in-flight runs finish normally (seed 001)."""
    with db.transaction() as s:
        dag = lock_dag(s, dag_id_of(s, version_id))
        row = lock_version(s, version_id)
        enforce(rules.DEPRECATE, facts(row))
        deprecate_row(s, dag, row, actor=actor)
        return view(s, row)


def revert_to_draft(
    db: Database, version_id: str, *, confirmation_name: str | None, actor: str
) -> VersionView:
    """Last resort (seed 001): back to draft, only with the exact name typed, checked here."""
    with db.transaction() as s:
        dag = lock_dag(s, dag_id_of(s, version_id))
        row = lock_version(s, version_id)
        enforce(rules.REVERT_TO_DRAFT, facts(row, confirmation_name=confirmation_name))
        previous_status = row.status
        guarded_status(s, row, previous_status, status=VersionStatus.DRAFT)
        current = move_current_away(s, dag, row.id)
        record(s, actor, events.version_reverted_to_draft(row, previous_status, current=current))
        return view(s, row)


def set_current_version(db: Database, version_id: str, *, actor: str) -> VersionView:
    """Roll back (or forward) to another active version of the same DAG."""
    with db.transaction() as s:
        dag = lock_dag(s, dag_id_of(s, version_id))
        row = lock_version(s, version_id)
        enforce(rules.SET_CURRENT, facts(row))
        previous = dag.current_version_id
        make_current(dag, row.id)
        record(s, actor, events.current_version_set(row, previous=previous))
        s.flush()
        return view(s, row)
