"""What a DAG's retirement policy sees (ADR 0031): the policy, its versions with their runs in
flight and last run, and the plan that ``lifecycle.retirement`` makes of them.

The facts are two statements whatever the number of versions: the policy with the DAG, and
the versions with their run aggregates (``GROUP BY`` over ``dag_run``). The scheduler's pass
reads them unlocked to find what is due, then again under the DAG's lock before it acts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from pinflow.errors import NotFoundError
from pinflow.lifecycle.retirement import (
    RetirementAction,
    RetirementPolicy,
    VersionState,
    plan_retirement,
)
from pinflow.lifecycle.states import UNFINISHED_RUN_STATES, VersionStatus
from pinflow.store.db import Database
from pinflow.store.tables import Dag, DagRun, Project, WorkflowDefinition
from pinflow.store.tables import RetirementPolicy as PolicyRow

_DRAFT = VersionStatus.DRAFT.value
_LIVE = tuple(s.value for s in UNFINISHED_RUN_STATES)


@dataclass(frozen=True)
class PolicyView:
    dag_id: str
    project: str
    policy: RetirementPolicy
    is_set: bool  # False: no row, nothing is retired automatically
    updated_at: datetime | None
    updated_by: str | None


@dataclass(frozen=True)
class RetirementFacts:
    view: PolicyView
    current_id: str | None
    deregistered: bool
    versions: tuple[VersionState, ...]

    def plan(self, now: datetime) -> list[RetirementAction]:
        if self.deregistered:  # out of every list and schedule: nothing left to tidy
            return []
        return plan_retirement(self.view.policy, self.versions, current_id=self.current_id, now=now)


@dataclass(frozen=True)
class PolicyPreview:
    view: PolicyView
    now: datetime
    actions: list[RetirementAction]


def policy_of(row: PolicyRow | None) -> RetirementPolicy:
    if row is None:
        return RetirementPolicy()
    after = row.purge_deprecated_after_seconds
    return RetirementPolicy(
        keep_active=row.keep_active,
        deprecate_previous_on_publish=row.deprecate_previous_on_publish,
        purge_deprecated_after=None if after is None else timedelta(seconds=after),
        in_force_since=row.in_force_since,
    )


def version_states(session: Session, dag_ids: Sequence[str]) -> dict[str, tuple[VersionState, ...]]:
    """Every version of the DAGs (deleted too: the rules skip them) with its run aggregates,
    by DAG: one grouped statement for all of them."""
    live = func.count(case((DagRun.state.in_(_LIVE), DagRun.id)))
    w = WorkflowDefinition
    rows = session.execute(
        select(
            w.dag_id,
            w.id,
            w.version,
            w.status,
            w.source_workflow_id,
            w.published_at,
            w.created_at,
            w.deprecated_at,
            w.deleted_at,
            live.label("live"),
            func.max(DagRun.end_date).label("last_end"),
        )
        .outerjoin(DagRun, DagRun.version_id == w.id)
        .where(w.dag_id.in_(dag_ids))
        .group_by(w.id)
        .order_by(w.dag_id, w.version, w.created_at)
    ).all()
    found: dict[str, list[VersionState]] = {dag_id: [] for dag_id in dag_ids}
    for r in rows:
        found[r.dag_id].append(
            VersionState(
                id=r.id,
                version=r.version,
                status=VersionStatus(r.status),
                source_id=r.source_workflow_id,
                # A push publishes without the seed's publish step: its version is published
                # when it is created.
                published_at=r.published_at or (r.created_at if r.status != _DRAFT else None),
                deprecated_at=r.deprecated_at,
                deleted=r.deleted_at is not None,
                live_runs=r.live,
                last_run_ended_at=r.last_end,
            )
        )
    return {dag_id: tuple(states) for dag_id, states in found.items()}


def facts_of(session: Session, dag_ids: Sequence[str]) -> dict[str, RetirementFacts]:
    """The facts of each of ``dag_ids`` that exists: three statements for all of them."""
    rows = session.execute(
        select(Dag, PolicyRow, Project.name)
        .join(Project, Project.id == Dag.project_id)
        .outerjoin(PolicyRow, PolicyRow.dag_id == Dag.dag_id)
        .where(Dag.dag_id.in_(dag_ids))
    ).all()
    states = version_states(session, [dag.dag_id for dag, _, _ in rows])
    found = {}
    for dag, row, project in rows:
        view = PolicyView(
            dag_id=dag.dag_id,
            project=project,
            policy=policy_of(row),
            is_set=row is not None,
            updated_at=row.updated_at if row is not None else None,
            updated_by=row.updated_by if row is not None else None,
        )
        found[dag.dag_id] = RetirementFacts(
            view=view,
            current_id=dag.current_version_id,
            deregistered=dag.deregistered_at is not None,
            versions=states[dag.dag_id],
        )
    return found


def load_facts(session: Session, dag_id: str) -> RetirementFacts:
    found = facts_of(session, [dag_id]).get(dag_id)
    if found is None:
        raise NotFoundError(f"DAG {dag_id!r} was not found.")
    return found


def get_policy(db: Database, dag_id: str) -> PolicyView:
    with db.read() as s:
        return load_facts(s, dag_id).view


def preview(db: Database, dag_id: str, *, now: datetime) -> PolicyPreview:
    """What the policy will do next and when: due actions (at the scheduler's next pass),
    scheduled ones with their date, and blocked ones with what they wait for."""
    with db.read() as s:
        facts = load_facts(s, dag_id)
    return PolicyPreview(view=facts.view, now=now, actions=facts.plan(now))


def dags_with_policy(db: Database) -> list[str]:
    """The registered DAGs whose policy may act (at least one rule on)."""
    with db.read() as s:
        return list(
            s.scalars(
                select(PolicyRow.dag_id)
                .join(Dag, Dag.dag_id == PolicyRow.dag_id)
                .where(Dag.deregistered_at.is_(None))
                .where(
                    PolicyRow.keep_active.is_not(None)
                    | PolicyRow.deprecate_previous_on_publish.is_(True)
                    | PolicyRow.purge_deprecated_after_seconds.is_not(None)
                )
                .order_by(PolicyRow.dag_id)
            )
        )
