"""What every service shares: row locks, refusals turned into errors, the clock. (Audit events
are ``pinflow.services.audit_events``.)"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from sqlalchemy import Connection, Select, select
from sqlalchemy.orm import Session

from pinflow.errors import ConflictError, InvalidInputError, NotFoundError, PinflowError
from pinflow.lifecycle.decisions import Refusal, RefusalKind, Rule, first_refusal
from pinflow.store.tables import Dag, WorkflowDefinition

S = TypeVar("S")
Sel = TypeVar("Sel", bound=Select[Any])

SYSTEM_ACTOR = "system"


def now() -> datetime:
    return datetime.now(UTC)


def refusal_error(refusal: Refusal) -> PinflowError:
    details = {"rule": refusal.rule}
    if refusal.kind == RefusalKind.INVALID:
        return InvalidInputError(refusal.message, details)
    return ConflictError(refusal.message, details)


def enforce(rules: Iterable[Rule[S]], state: S) -> None:
    refusal = first_refusal(rules, state)
    if refusal is not None:
        raise refusal_error(refusal)


def conn(session: Session) -> Connection:
    """The connection of the session's current transaction, looked up once per transaction:
    the hot paths run a dozen statements per task, and ``Session.connection()`` costs a
    good part of one each time."""
    transaction = session.get_transaction()
    cached = session.info.get("pinflow_conn")
    if cached is None or cached[0] is not transaction:
        cached = session.info["pinflow_conn"] = (transaction, session.connection())
    return cast(Connection, cached[1])


def for_update(stmt: Sel) -> Sel:
    """Row lock on PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers."""
    return stmt.with_for_update()


def lock_version(session: Session, version_id: str) -> WorkflowDefinition:
    row = session.scalars(
        for_update(select(WorkflowDefinition).where(WorkflowDefinition.id == version_id))
    ).one_or_none()
    if row is None:
        raise NotFoundError(f"Workflow version {version_id!r} was not found.")
    return row


def lock_dag(session: Session, dag_id: str, *, include_deregistered: bool = True) -> Dag:
    row = session.scalars(for_update(select(Dag).where(Dag.dag_id == dag_id))).one_or_none()
    if row is None or (row.deregistered_at is not None and not include_deregistered):
        raise NotFoundError(f"DAG {dag_id!r} was not found.")
    return row


def dag_id_of(session: Session, version_id: str) -> str:
    """The DAG of a version, unlocked: callers lock the DAG first, then its versions.

    Always locking in that order (DAG, then version) is what keeps two lifecycle actions on
    the same DAG from deadlocking each other on PostgreSQL.
    """
    dag_id = session.scalars(
        select(WorkflowDefinition.dag_id).where(WorkflowDefinition.id == version_id)
    ).one_or_none()
    if dag_id is None:
        raise NotFoundError(f"Workflow version {version_id!r} was not found.")
    return dag_id
