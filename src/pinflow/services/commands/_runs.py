"""Starting runs: each run is pinned to a version and to the exact snapshot it executes."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pinflow.errors import ConflictError, InvalidInputError, NotFoundError
from pinflow.lifecycle import version_rules as rules
from pinflow.lifecycle.states import RunType, VersionStatus
from pinflow.services.commands._versions import facts
from pinflow.services.common import enforce, for_update, now
from pinflow.services.engine._run_rows import RunSpec, insert_run
from pinflow.services.reads._views import RunView, run_view
from pinflow.spec.validation import validate_conf
from pinflow.store import repo
from pinflow.store.db import Database
from pinflow.store.tables import Dag, DagRun, WorkflowDefinition

_RUN_ID = re.compile(r"^[A-Za-z0-9_.:+\-]{1,250}$")


def trigger_run(
    db: Database,
    *,
    dag_id: str | None = None,
    version_id: str | None = None,
    conf: dict[str, Any] | None = None,
    run_id: str | None = None,
    logical_date: datetime | None = None,
    note: str | None = None,
    actor: str,
    run_type: RunType | None = None,
) -> RunView:
    """Start a run of ``version_id``, or of the DAG's current version when only ``dag_id`` is given.

    Drafts get test runs, active versions real ones; deprecated versions are refused with the
    seed's message. ``conf`` is validated against the version's params.
    """
    with db.transaction() as s:
        version = _resolve_version(s, dag_id, version_id)
        enforce(rules.START_RUN, facts(version))
        if conf is not None and not isinstance(conf, dict):
            raise InvalidInputError("conf must be a JSON object (a mapping of names to values).")
        spec = repo.load_spec(s, version.snapshot_digest)
        params = validate_conf(spec, conf)
        stamp = now()
        kind = run_type or (
            RunType.TEST if version.status == VersionStatus.DRAFT else RunType.MANUAL
        )
        rid = run_id or f"{kind.value}__{stamp.isoformat()}"
        if not _RUN_ID.match(rid):
            raise InvalidInputError(
                "run_id may only contain letters, digits and _ . : + - (at most 250 characters)."
            )
        if s.scalars(select(DagRun.id).filter_by(dag_id=version.dag_id, run_id=rid)).first():
            raise ConflictError(
                f"A run with run_id {rid!r} already exists for DAG {version.dag_id!r}."
            )
        day = logical_date or stamp
        run = insert_run(
            s,
            version,
            spec,
            RunSpec(rid, kind, actor, day, day, day, dict(conf or {}), params, note),
            meta={"confKeys": sorted((conf or {}).keys())},
        )
        return run_view(run)


def _resolve_version(s: Session, dag_id: str | None, version_id: str | None) -> WorkflowDefinition:
    if version_id is not None:
        row = s.get(WorkflowDefinition, version_id)
        if row is None or (dag_id is not None and row.dag_id != dag_id):
            raise NotFoundError(f"Workflow version {version_id!r} was not found.")
        _require_registered(s, row.dag_id)
        return row
    if dag_id is None:
        raise NotFoundError("Name a DAG or a version to run.")
    dag = _require_registered(s, dag_id)
    if dag.current_version_id is None:
        raise ConflictError(
            f"DAG {dag_id!r} has no current version to run: publish a version, or start a run "
            "of a specific version."
        )
    row = s.get(WorkflowDefinition, dag.current_version_id)
    assert row is not None  # the FK guarantees it
    return row


def _require_registered(s: Session, dag_id: str) -> Dag:
    # Locked: a trigger racing a deregister must see its outcome, never slip a run in after it.
    dag = s.scalars(for_update(select(Dag).where(Dag.dag_id == dag_id))).one_or_none()
    if dag is None or dag.deregistered_at is not None:
        raise NotFoundError(f"DAG {dag_id!r} was not found.")
    return dag


def get_run(db: Database, dag_id: str, run_id: str) -> RunView:
    with db.read() as s:
        row = s.scalars(
            select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
        ).one_or_none()
        if row is None:
            raise NotFoundError(f"DAG run {run_id!r} of DAG {dag_id!r} was not found.")
        return run_view(row)
