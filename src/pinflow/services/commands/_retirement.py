"""A DAG's retirement policy (ADR 0031): setting it, and applying what it says is due.

``set_policy`` is a person's act (``workflow:update`` on the DAG's project), audited as
``dag.retirement_policy_set``. ``apply_due`` is the scheduler's: each due action is one
transaction that locks the DAG, re-reads its versions and runs, re-plans, and acts only if
the action is still due. So two schedulers (ADR 0015), or a person acting meanwhile, never
make it happen twice: whoever comes second finds nothing left to do. Each action is audited
like the same act by hand (``workflow.deprecated``, ``workflow.deleted``) with actor
``policy`` and the rule and reason in its metadata.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from pinflow.errors import ConflictError, InvalidInputError
from pinflow.lifecycle import version_rules as rules
from pinflow.lifecycle.retirement import (
    MAX_DURATION,
    POLICY_ACTOR,
    ActionKind,
    RetirementAction,
    due_actions,
    format_duration,
)
from pinflow.lifecycle.states import VersionStatus
from pinflow.services import audit_events as events
from pinflow.services.audit_events import record
from pinflow.services.commands._version_deletes import set_deleted
from pinflow.services.commands._versions import facts, guarded_status, move_current_away
from pinflow.services.common import enforce, lock_dag, lock_version, now
from pinflow.services.reads._retirement import (
    PolicyView,
    dags_with_policy,
    facts_of,
    load_facts,
)
from pinflow.store import repo
from pinflow.store.db import Database
from pinflow.store.tables import Dag, WorkflowDefinition
from pinflow.store.tables import RetirementPolicy as PolicyRow

MAX_KEEP_ACTIVE = 1000
# DAGs read per statement by the scheduler's pass: well under the databases' parameter limits.
_BATCH = 500


@dataclass(frozen=True)
class PolicyInput:
    keep_active: int | None = None
    deprecate_previous_on_publish: bool = False
    purge_deprecated_after: timedelta | None = None


@dataclass(frozen=True)
class Applied:
    dag_id: str
    action: RetirementAction


def _check(policy: PolicyInput) -> None:
    if policy.keep_active is not None and not 1 <= policy.keep_active <= MAX_KEEP_ACTIVE:
        raise InvalidInputError(
            f"keep_active must be between 1 and {MAX_KEEP_ACTIVE} (the current version is "
            "always kept), or null to keep any number of active versions."
        )
    after = policy.purge_deprecated_after
    if after is not None and not timedelta(0) <= after <= MAX_DURATION:
        raise InvalidInputError(
            "purge_deprecated_after must be between 0s and 3650d, or null to never purge."
        )


def _as_dict(row: PolicyRow | PolicyInput) -> dict[str, Any]:
    if isinstance(row, PolicyRow):
        seconds = row.purge_deprecated_after_seconds
        after = None if seconds is None else timedelta(seconds=seconds)
    else:
        after = row.purge_deprecated_after
    return {
        "keepActive": row.keep_active,
        "deprecatePreviousOnPublish": row.deprecate_previous_on_publish,
        "purgeDeprecatedAfter": None if after is None else format_duration(after),
    }


def set_policy(db: Database, dag_id: str, policy: PolicyInput, *, actor: str) -> PolicyView:
    """Set (or replace) the DAG's policy; every rule off is the same as no policy."""
    _check(policy)
    with db.transaction() as s:
        lock_dag(s, dag_id, include_deregistered=False)
        row = s.get(PolicyRow, dag_id)
        previous = None if row is None else _as_dict(row)
        was_on = row is not None and row.deprecate_previous_on_publish
        if row is None:
            row = PolicyRow(dag_id=dag_id)
            s.add(row)
        stamp = now()
        after = policy.purge_deprecated_after
        row.keep_active = policy.keep_active
        row.deprecate_previous_on_publish = policy.deprecate_previous_on_publish
        row.purge_deprecated_after_seconds = None if after is None else int(after.total_seconds())
        if not policy.deprecate_previous_on_publish:
            row.in_force_since = None
        elif not was_on:
            row.in_force_since = stamp
        row.updated_at, row.updated_by = stamp, actor
        s.flush()
        record(
            s,
            actor,
            events.retirement_policy_set(dag_id, policy=_as_dict(policy), previous=previous),
        )
        return load_facts(s, dag_id).view


def apply_due(db: Database, *, at: datetime | None = None) -> list[Applied]:
    """Apply every due action of every DAG's policy, one transaction each; returns them."""
    stamp = at or now()
    applied: list[Applied] = []
    dag_ids = dags_with_policy(db)
    for start in range(0, len(dag_ids), _BATCH):
        batch = dag_ids[start : start + _BATCH]
        with db.read() as s:
            found = facts_of(s, batch)
        for dag_id in batch:
            if dag_id in found:
                due = due_actions(found[dag_id].plan(stamp))
                applied += _apply_due_of(db, dag_id, due, stamp)
    return applied


def _apply_due_of(
    db: Database, dag_id: str, planned: list[RetirementAction], stamp: datetime
) -> list[Applied]:
    applied: list[Applied] = []
    for action in planned:
        try:
            done = _apply_one(db, dag_id, action, stamp)
        except ConflictError:  # moved under us after the re-plan: the next pass re-plans
            continue
        if done is not None:
            applied.append(Applied(dag_id, done))
    return applied


def _apply_one(
    db: Database, dag_id: str, action: RetirementAction, stamp: datetime
) -> RetirementAction | None:
    """Re-plan under the DAG's lock and act only if ``action`` is still due."""
    with db.transaction() as s:
        dag = lock_dag(s, dag_id)
        still = [a for a in due_actions(load_facts(s, dag_id).plan(stamp)) if a.same_as(action)]
        if not still:  # another scheduler, or a person, came first
            return None
        row = lock_version(s, action.version_id)
        if action.kind == ActionKind.DEPRECATE:
            _deprecate(s, dag, row, still[0])
        else:
            _purge(s, dag, row, still[0])
        return still[0]


def _deprecate(s: Session, dag: Dag, row: WorkflowDefinition, action: RetirementAction) -> None:
    guarded_status(
        s,
        row,
        VersionStatus.ACTIVE,
        status=VersionStatus.DEPRECATED,
        deprecated_at=now(),
        deprecated_by=POLICY_ACTOR,
    )
    current = move_current_away(s, dag, row.id)
    entry = events.version_deprecated(row, superseded_by=None, current=current)
    record(s, POLICY_ACTOR, events.by_policy(entry, rule=action.rule, reason=action.reason))


def _purge(s: Session, dag: Dag, row: WorkflowDefinition, action: RetirementAction) -> None:
    """Seed 001's soft delete (restorable), guarded once more: never with a run in flight."""
    enforce(rules.PURGE, facts(row, live_runs=repo.count_live_runs(s, version_id=row.id)))
    set_deleted(s, row, deleted=True, actor=POLICY_ACTOR)
    current = move_current_away(s, dag, row.id)
    entry = events.version_deleted(row, current=current)
    record(s, POLICY_ACTOR, events.by_policy(entry, rule=action.rule, reason=action.reason))
