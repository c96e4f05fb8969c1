"""Airflow's pools, each a project's or instance-wide (ADR 0017).

``default_pool`` always exists (Airflow's 128 slots, created when pools are first used), is
instance-wide, and cannot be renamed or deleted. Changes are audited.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pinflow.errors import ConflictError, InvalidInputError
from pinflow.lifecycle.permissions import Principal
from pinflow.lifecycle.resource_access import ResourceKind
from pinflow.lifecycle.states import TaskState
from pinflow.services import audit_events as events
from pinflow.services.audit_events import record
from pinflow.services.commands._resource_scope import (
    insert,
    listed,
    managed,
    owner_id,
    seen,
    with_project,
)
from pinflow.services.engine._pools import DEFAULT_POOL, DEFAULT_POOL_SLOTS
from pinflow.services.reads._queries import Page, order_clauses, paged, pattern
from pinflow.store import repo
from pinflow.store.db import Database
from pinflow.store.tables import Pool, TaskInstance

# The states that hold a pool's slots, in ``PoolView``'s field order:
_POOL_STATES = (TaskState.RUNNING.value, TaskState.QUEUED.value, TaskState.SCHEDULED.value)


@dataclass(frozen=True)
class PoolView:
    name: str
    project: str | None  # None: instance-wide
    slots: int  # -1: unlimited
    description: str | None
    include_deferred: bool
    running_slots: int = 0
    queued_slots: int = 0
    scheduled_slots: int = 0

    @property
    def occupied_slots(self) -> int:
        return self.running_slots + self.queued_slots

    @property
    def open_slots(self) -> int:
        return -1 if self.slots < 0 else max(self.slots - self.occupied_slots, 0)


POOL_ORDER: dict[str, Any] = {"id": Pool.id, "name": Pool.name, "slots": Pool.slots}


def _ensure_default_pool(db: Database) -> None:
    with db.read() as s:
        if s.scalars(select(Pool.id).where(Pool.name == DEFAULT_POOL)).first() is not None:
            return
    with db.transaction() as s:
        values = {"name": DEFAULT_POOL, "slots": DEFAULT_POOL_SLOTS, "description": "Default pool"}
        repo.insert_ignore(s, Pool.__table__, values, ["name"])


def _pool_views(s: Session, rows: Sequence[tuple[Pool, str | None]]) -> list[PoolView]:
    used: dict[tuple[str, str], int] = {
        (pool, state): int(slots)
        for pool, state, slots in s.execute(
            select(TaskInstance.pool, TaskInstance.state, func.sum(TaskInstance.pool_slots))
            .where(TaskInstance.pool.in_([p.name for p, _ in rows]))
            .where(TaskInstance.state.in_(list(_POOL_STATES)))
            .group_by(TaskInstance.pool, TaskInstance.state)
        )
    }
    return [
        PoolView(
            p.name,
            project,
            p.slots,
            p.description,
            p.include_deferred,
            *(used.get((p.name, state), 0) for state in _POOL_STATES),
        )
        for p, project in rows
    ]


def list_pools(
    db: Database,
    principal: Principal,
    *,
    name_pattern: str | None = None,
    order_by: Sequence[str] = ("id",),
    page: Page = (50, 0),
) -> tuple[list[PoolView], int]:
    _ensure_default_pool(db)
    stmt = listed(with_project(Pool), Pool, principal, ResourceKind.POOL)
    if name_pattern:
        stmt = stmt.where(Pool.name.ilike(pattern(name_pattern)))
    with db.read() as s:
        rows, total = paged(s, stmt, order_clauses(order_by, POOL_ORDER, Pool.id.asc()), page)
        return _pool_views(s, [(row, project) for row, project in rows]), total


def get_pool(db: Database, principal: Principal, name: str) -> PoolView:
    _ensure_default_pool(db)
    with db.read() as s:
        return _pool_views(s, [seen(s, Pool, name, principal, ResourceKind.POOL)])[0]


def create_pool(
    db: Database, principal: Principal, values: Mapping[str, Any], project: str | None = None
) -> PoolView:
    """``values``: ``name``, ``slots``, ``description``, ``include_deferred``; in ``project``
    (None: instance-wide)."""
    _ensure_default_pool(db)
    with db.transaction() as s:
        owner = owner_id(s, principal, ResourceKind.POOL, project)
        insert(s, Pool(**values, project_id=owner), "pool", values["name"])
        record(s, principal.username, events.pool_created(values["name"], values))
    return get_pool(db, principal, values["name"])


def update_pool(
    db: Database, principal: Principal, name: str, changes: Mapping[str, Any]
) -> PoolView:
    """Change the given fields (``name`` renames); ``default_pool`` keeps its name."""
    _ensure_default_pool(db)
    if name == DEFAULT_POOL and set(changes) - {"slots", "include_deferred"}:
        raise InvalidInputError("Only slots and include_deferred can be modified on Default Pool")
    actor = principal.username
    with db.transaction() as s:
        row, _ = managed(s, Pool, name, principal, ResourceKind.POOL)
        for field, value in changes.items():
            setattr(row, field, value)
        try:
            s.flush()
        except IntegrityError:
            raise ConflictError(f"The pool with the name {row.name!r} already exists.") from None
        record(s, actor, events.pool_updated(name, changes))
        new_name = row.name
    return get_pool(db, principal, new_name)


def delete_pool(db: Database, principal: Principal, name: str) -> None:
    if name == DEFAULT_POOL:
        raise InvalidInputError("Default Pool can't be deleted")
    with db.transaction() as s:
        s.delete(managed(s, Pool, name, principal, ResourceKind.POOL)[0])
        record(s, principal.username, events.pool_deleted(name))
