"""Airflow's instance-wide resources: pools, variables and connections.

Secrets at rest: variable values and a connection's password and extra are Fernet ciphertext
under the instance key (``Cipher``). A password is write-only: nothing here returns it. What
is returned is masked as Airflow's secrets masker does: a variable whose key looks sensitive
(``password``, ``token``…) shows ``***``, as does each sensitive key of a connection's extra.
Changes are audited without their values. ``default_pool`` always exists (Airflow's 128
slots, created when pools are first used) and cannot be renamed or deleted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pinflow.errors import ConflictError, InvalidInputError, NotFoundError
from pinflow.lifecycle.states import TaskState
from pinflow.services import audit_events as events
from pinflow.services.audit_events import record
from pinflow.services.engine._pools import DEFAULT_POOL, DEFAULT_POOL_SLOTS
from pinflow.services.reads._queries import Page, order_clauses, paged, pattern
from pinflow.settings import home_secret
from pinflow.store import repo
from pinflow.store.db import Database
from pinflow.store.tables import Connection, Pool, TaskInstance, Variable

KEY_FILE = "fernet_key"
MASK = "***"
# Airflow's default sensitive field names:
SENSITIVE = frozenset({"access_token", "api_key", "apikey", "authorization", "passphrase"})
SENSITIVE |= {"passwd", "password", "private_key", "secret", "token", "keyfile_dict"}
SENSITIVE |= {"service_account"}
# The states that hold a pool's slots, in ``PoolView``'s field order:
_POOL_STATES = (TaskState.RUNNING.value, TaskState.QUEUED.value, TaskState.SCHEDULED.value)
T = TypeVar("T", Pool, Variable, Connection)


class Cipher:
    """Encrypts secrets at rest with the instance's Fernet key."""

    def __init__(self, key: str | bytes) -> None:
        self._fernet = Fernet(key)

    def encrypt(self, text: str) -> str:
        return self._fernet.encrypt(text.encode()).decode()

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            # The key changed under the data: an operator's problem, not the caller's.
            raise RuntimeError(
                "a stored secret cannot be decrypted with the instance key"
            ) from None


def load_or_create_key(home: Path) -> str:
    """The persisted key (``$home/fernet_key``, mode 0600), created on first use."""
    return home_secret(home, KEY_FILE, lambda: Fernet.generate_key().decode())


def is_sensitive(key: str) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in SENSITIVE)


def _masked(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: MASK if is_sensitive(str(k)) else _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def _one(s: Session, model: type[T], column: Any, name: str, label: str) -> T:
    row = s.scalars(select(model).where(column == name)).one_or_none()
    if row is None:
        raise NotFoundError(f"The {label} with the name {name!r} was not found.")
    return row


def _insert(s: Session, row: Any, label: str, name: str) -> None:
    s.add(row)
    try:
        s.flush()
    except IntegrityError:
        raise ConflictError(f"The {label} with the name {name!r} already exists.") from None


# --- pools -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoolView:
    name: str
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


def _pool_views(s: Session, rows: Sequence[Pool]) -> list[PoolView]:
    used: dict[tuple[str, str], int] = {
        (pool, state): int(slots)
        for pool, state, slots in s.execute(
            select(TaskInstance.pool, TaskInstance.state, func.sum(TaskInstance.pool_slots))
            .where(TaskInstance.pool.in_([p.name for p in rows]))
            .where(TaskInstance.state.in_(list(_POOL_STATES)))
            .group_by(TaskInstance.pool, TaskInstance.state)
        )
    }
    return [
        PoolView(
            p.name,
            p.slots,
            p.description,
            p.include_deferred,
            *(used.get((p.name, state), 0) for state in _POOL_STATES),
        )
        for p in rows
    ]


def list_pools(
    db: Database,
    *,
    name_pattern: str | None = None,
    order_by: Sequence[str] = ("id",),
    page: Page = (50, 0),
) -> tuple[list[PoolView], int]:
    _ensure_default_pool(db)
    stmt = select(Pool)
    if name_pattern:
        stmt = stmt.where(Pool.name.ilike(pattern(name_pattern)))
    with db.read() as s:
        rows, total = paged(s, stmt, order_clauses(order_by, POOL_ORDER, Pool.id.asc()), page)
        return _pool_views(s, [row for (row,) in rows]), total


def get_pool(db: Database, name: str) -> PoolView:
    _ensure_default_pool(db)
    with db.read() as s:
        return _pool_views(s, [_one(s, Pool, Pool.name, name, "pool")])[0]


def create_pool(db: Database, values: Mapping[str, Any], *, actor: str) -> PoolView:
    """``values``: ``name``, ``slots``, ``description``, ``include_deferred``."""
    _ensure_default_pool(db)
    with db.transaction() as s:
        _insert(s, Pool(**values), "pool", values["name"])
        record(s, actor, events.pool_created(values["name"], values))
    return get_pool(db, values["name"])


def update_pool(db: Database, name: str, changes: Mapping[str, Any], *, actor: str) -> PoolView:
    """Change the given fields (``name`` renames); ``default_pool`` keeps its name."""
    _ensure_default_pool(db)
    if name == DEFAULT_POOL and set(changes) - {"slots", "include_deferred"}:
        raise InvalidInputError("Only slots and include_deferred can be modified on Default Pool")
    with db.transaction() as s:
        row = _one(s, Pool, Pool.name, name, "pool")
        for field, value in changes.items():
            setattr(row, field, value)
        try:
            s.flush()
        except IntegrityError:
            raise ConflictError(f"The pool with the name {row.name!r} already exists.") from None
        record(s, actor, events.pool_updated(name, changes))
        new_name = row.name
    return get_pool(db, new_name)


def delete_pool(db: Database, name: str, *, actor: str) -> None:
    if name == DEFAULT_POOL:
        raise InvalidInputError("Default Pool can't be deleted")
    with db.transaction() as s:
        s.delete(_one(s, Pool, Pool.name, name, "pool"))
        record(s, actor, events.pool_deleted(name))


# --- variables ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class VariableView:
    key: str
    value: str  # ``***`` when the key looks sensitive
    description: str | None


VARIABLE_ORDER: dict[str, Any] = {"id": Variable.id, "key": Variable.key}


def _variable_view(cipher: Cipher, row: Variable) -> VariableView:
    value = MASK if is_sensitive(row.key) else cipher.decrypt(row.val)
    return VariableView(row.key, value, row.description)


def list_variables(
    db: Database,
    cipher: Cipher,
    *,
    key_pattern: str | None = None,
    order_by: Sequence[str] = ("id",),
    page: Page = (50, 0),
) -> tuple[list[VariableView], int]:
    stmt = select(Variable)
    if key_pattern:
        stmt = stmt.where(Variable.key.ilike(pattern(key_pattern)))
    order = order_clauses(order_by, VARIABLE_ORDER, Variable.id.asc())
    with db.read() as s:
        rows, total = paged(s, stmt, order, page)
        return [_variable_view(cipher, row) for (row,) in rows], total


def get_variable(db: Database, cipher: Cipher, key: str) -> VariableView:
    with db.read() as s:
        return _variable_view(cipher, _one(s, Variable, Variable.key, key, "variable"))


def set_variable(
    db: Database, cipher: Cipher, key: str, changes: Mapping[str, Any], *, actor: str, create: bool
) -> VariableView:
    """Create (``create``) or change a variable; ``changes``: ``value``, ``description``."""
    with db.transaction() as s:
        if create:
            row = Variable(key=key, val=cipher.encrypt(changes.get("value") or ""))
            _insert(s, row, "variable", key)
        else:
            row = _one(s, Variable, Variable.key, key, "variable")
        if "value" in changes:
            row.val = cipher.encrypt(changes["value"] or "")
        if "description" in changes:
            row.description = changes["description"]
        record(s, actor, events.variable_set(key, changes, created=create))
        return _variable_view(cipher, row)


def delete_variable(db: Database, key: str, *, actor: str) -> None:
    with db.transaction() as s:
        s.delete(_one(s, Variable, Variable.key, key, "variable"))
        record(s, actor, events.variable_deleted(key))


# --- connections -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectionView:
    """A connection as shown: never its password (``has_password`` says whether it has one)."""

    connection_id: str
    conn_type: str
    description: str | None
    host: str | None
    schema: str | None
    login: str | None
    port: int | None
    extra: str | None  # JSON, sensitive keys masked
    has_password: bool


CONNECTION_ORDER: dict[str, Any] = {"id": Connection.id, "connection_id": Connection.conn_id}
CONNECTION_ORDER |= {"conn_type": Connection.conn_type, "host": Connection.host}
PLAIN_FIELDS = ("conn_type", "description", "host", "login", "port")


def check_extra(extra: str | None) -> None:
    """Airflow's rule: an extra is a JSON object (so that its sensitive keys can be masked)."""
    if extra is None or extra == "":
        return
    try:
        parsed = json.loads(extra)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise InvalidInputError("The `extra` field must be a valid JSON object (JSON dict).")


def _connection_view(cipher: Cipher, row: Connection) -> ConnectionView:
    extra = None
    if row.extra:
        extra = json.dumps(_masked(json.loads(cipher.decrypt(row.extra))))
    plain = (row.conn_type, row.description, row.host, row.conn_schema, row.login, row.port)
    return ConnectionView(row.conn_id, *plain, extra, row.password is not None)


def list_connections(
    db: Database,
    cipher: Cipher,
    *,
    id_pattern: str | None = None,
    order_by: Sequence[str] = ("id",),
    page: Page = (50, 0),
) -> tuple[list[ConnectionView], int]:
    stmt = select(Connection)
    if id_pattern:
        stmt = stmt.where(Connection.conn_id.ilike(pattern(id_pattern)))
    order = order_clauses(order_by, CONNECTION_ORDER, Connection.id.asc())
    with db.read() as s:
        rows, total = paged(s, stmt, order, page)
        return [_connection_view(cipher, row) for (row,) in rows], total


def get_connection(db: Database, cipher: Cipher, conn_id: str) -> ConnectionView:
    with db.read() as s:
        return _connection_view(
            cipher, _one(s, Connection, Connection.conn_id, conn_id, "connection")
        )


def set_connection(
    db: Database,
    cipher: Cipher,
    conn_id: str,
    changes: Mapping[str, Any],
    *,
    actor: str,
    create: bool,
) -> ConnectionView:
    """Create or change a connection. ``changes`` may hold ``PLAIN_FIELDS``, ``schema``,
    ``extra`` and ``password``; a password absent from ``changes`` is kept as it is."""
    check_extra(changes.get("extra"))
    with db.transaction() as s:
        if create:
            row = Connection(conn_id=conn_id, conn_type=changes["conn_type"])
            _insert(s, row, "connection", conn_id)
        else:
            row = _one(s, Connection, Connection.conn_id, conn_id, "connection")
        for field in PLAIN_FIELDS:
            if field in changes:
                setattr(row, field, changes[field])
        if "schema" in changes:
            row.conn_schema = changes["schema"]
        for secret in ("password", "extra"):
            if secret in changes:
                value = changes[secret]
                setattr(row, secret, cipher.encrypt(value) if value else None)
        record(s, actor, events.connection_set(conn_id, changes, created=create))
        s.flush()
        return _connection_view(cipher, row)


def delete_connection(db: Database, conn_id: str, *, actor: str) -> None:
    with db.transaction() as s:
        s.delete(_one(s, Connection, Connection.conn_id, conn_id, "connection"))
        record(s, actor, events.connection_deleted(conn_id))


# --- what a task reads over its own channel (the execution API) -----------------------------------


def variable_for_task(db: Database, cipher: Cipher, key: str) -> str:
    """A variable's value as a task reads it: whole, never masked (the task needs it; the
    execution API gives it only to a try's token, and nothing logs it)."""
    with db.read() as s:
        return cipher.decrypt(_one(s, Variable, Variable.key, key, "variable").val)


def connection_for_task(db: Database, cipher: Cipher, conn_id: str) -> dict[str, Any]:
    """A connection as a task uses it, password and extra included (see ``variable_for_task``)."""
    with db.read() as s:
        row = _one(s, Connection, Connection.conn_id, conn_id, "connection")
        return {
            "conn_id": row.conn_id,
            "conn_type": row.conn_type,
            "description": row.description,
            "host": row.host,
            "schema": row.conn_schema,
            "login": row.login,
            "password": cipher.decrypt(row.password) if row.password else None,
            "port": row.port,
            "extra": cipher.decrypt(row.extra) if row.extra else None,
        }
