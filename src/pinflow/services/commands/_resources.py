"""Airflow's resources: variables and connections (pools: ``_resource_pools``), each a
project's or instance-wide.

Who sees and manages which is ``lifecycle.resource_access``'s (ADR 0017): a resource the
caller may not see is "not found", exactly as one that does not exist (no existence leak);
lists are filtered in SQL. The project of a resource is set when it is created and never
changes.

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
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from pinflow.errors import InvalidInputError
from pinflow.lifecycle.permissions import Principal
from pinflow.lifecycle.resource_access import ResourceKind
from pinflow.services import audit_events as events
from pinflow.services.audit_events import record
from pinflow.services.commands._resource_scope import (
    for_task,
    insert,
    listed,
    managed,
    owner_id,
    seen,
    with_project,
)
from pinflow.services.reads._queries import Page, order_clauses, paged, pattern
from pinflow.settings import home_secret
from pinflow.spec.masking import MASK, is_sensitive, redact_keys
from pinflow.store.db import Database
from pinflow.store.tables import Connection, Variable

KEY_FILE = "fernet_key"


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


# --- variables ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class VariableView:
    key: str
    project: str | None
    value: str  # ``***`` when the key looks sensitive
    description: str | None


VARIABLE_ORDER: dict[str, Any] = {"id": Variable.id, "key": Variable.key}


_VARIABLE = ResourceKind.VARIABLE


def _variable_view(cipher: Cipher, row: Variable, project: str | None) -> VariableView:
    value = MASK if is_sensitive(row.key) else cipher.decrypt(row.val)
    return VariableView(row.key, project, value, row.description)


def list_variables(
    db: Database,
    cipher: Cipher,
    principal: Principal,
    *,
    key_pattern: str | None = None,
    order_by: Sequence[str] = ("id",),
    page: Page = (50, 0),
) -> tuple[list[VariableView], int]:
    stmt = listed(with_project(Variable), Variable, principal, _VARIABLE)
    if key_pattern:
        stmt = stmt.where(Variable.key.ilike(pattern(key_pattern)))
    order = order_clauses(order_by, VARIABLE_ORDER, Variable.id.asc())
    with db.read() as s:
        rows, total = paged(s, stmt, order, page)
        return [_variable_view(cipher, row, project) for row, project in rows], total


def get_variable(db: Database, cipher: Cipher, principal: Principal, key: str) -> VariableView:
    with db.read() as s:
        return _variable_view(cipher, *seen(s, Variable, key, principal, _VARIABLE))


def set_variable(
    db: Database,
    cipher: Cipher,
    principal: Principal,
    key: str,
    changes: Mapping[str, Any],
    *,
    create: bool,
    project: str | None = None,
) -> VariableView:
    """Create (``create``, in ``project``; None: instance-wide) or change a variable;
    ``changes``: ``value``, ``description``."""
    with db.transaction() as s:
        if create:
            owner = owner_id(s, principal, _VARIABLE, project)
            row = Variable(key=key, val=cipher.encrypt(changes.get("value") or ""))
            row.project_id = owner
            insert(s, row, "variable", key)
        else:
            row, project = managed(s, Variable, key, principal, _VARIABLE)
        if "value" in changes:
            row.val = cipher.encrypt(changes["value"] or "")
        if "description" in changes:
            row.description = changes["description"]
        record(s, principal.username, events.variable_set(key, changes, created=create))
        return _variable_view(cipher, row, project)


def delete_variable(db: Database, principal: Principal, key: str) -> None:
    with db.transaction() as s:
        s.delete(managed(s, Variable, key, principal, _VARIABLE)[0])
        record(s, principal.username, events.variable_deleted(key))


# --- connections -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectionView:
    """A connection as shown: never its password (``has_password`` says whether it has one)."""

    connection_id: str
    project: str | None
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


_CONNECTION = ResourceKind.CONNECTION


def _connection_view(cipher: Cipher, row: Connection, project: str | None) -> ConnectionView:
    extra = None
    if row.extra:
        extra = json.dumps(redact_keys(json.loads(cipher.decrypt(row.extra))))
    plain = (row.conn_type, row.description, row.host, row.conn_schema, row.login, row.port)
    return ConnectionView(row.conn_id, project, *plain, extra, row.password is not None)


def list_connections(
    db: Database,
    cipher: Cipher,
    principal: Principal,
    *,
    id_pattern: str | None = None,
    order_by: Sequence[str] = ("id",),
    page: Page = (50, 0),
) -> tuple[list[ConnectionView], int]:
    stmt = listed(with_project(Connection), Connection, principal, _CONNECTION)
    if id_pattern:
        stmt = stmt.where(Connection.conn_id.ilike(pattern(id_pattern)))
    order = order_clauses(order_by, CONNECTION_ORDER, Connection.id.asc())
    with db.read() as s:
        rows, total = paged(s, stmt, order, page)
        return [_connection_view(cipher, row, project) for row, project in rows], total


def get_connection(
    db: Database, cipher: Cipher, principal: Principal, conn_id: str
) -> ConnectionView:
    with db.read() as s:
        found = seen(s, Connection, conn_id, principal, _CONNECTION)
        return _connection_view(cipher, *found)


def set_connection(
    db: Database,
    cipher: Cipher,
    principal: Principal,
    conn_id: str,
    changes: Mapping[str, Any],
    *,
    create: bool,
    project: str | None = None,
) -> ConnectionView:
    """Create (``create``, in ``project``; None: instance-wide) or change a connection.
    ``changes`` may hold ``PLAIN_FIELDS``, ``schema``, ``extra`` and ``password``; a password
    absent from ``changes`` is kept as it is."""
    check_extra(changes.get("extra"))
    with db.transaction() as s:
        if create:
            owner = owner_id(s, principal, _CONNECTION, project)
            row = Connection(conn_id=conn_id, conn_type=changes["conn_type"], project_id=owner)
            insert(s, row, "connection", conn_id)
        else:
            row, project = managed(s, Connection, conn_id, principal, _CONNECTION)
        for field in PLAIN_FIELDS:
            if field in changes:
                setattr(row, field, changes[field])
        if "schema" in changes:
            row.conn_schema = changes["schema"]
        for secret in ("password", "extra"):
            if secret in changes:
                value = changes[secret]
                setattr(row, secret, cipher.encrypt(value) if value else None)
        record(s, principal.username, events.connection_set(conn_id, changes, created=create))
        s.flush()
        return _connection_view(cipher, row, project)


def delete_connection(db: Database, principal: Principal, conn_id: str) -> None:
    with db.transaction() as s:
        s.delete(managed(s, Connection, conn_id, principal, _CONNECTION)[0])
        record(s, principal.username, events.connection_deleted(conn_id))


# --- what a task reads over its own channel (the execution API) -----------------------------------


def variable_for_task(db: Database, cipher: Cipher, key: str, *, dag_id: str) -> str:
    """A variable's value as a task of ``dag_id`` reads it: whole, never masked (the task
    needs it; the execution API gives it only to a try's token, and nothing logs it)."""
    with db.read() as s:
        return cipher.decrypt(for_task(s, Variable, key, dag_id).val)


def connection_for_task(
    db: Database, cipher: Cipher, conn_id: str, *, dag_id: str
) -> dict[str, Any]:
    """A connection as a task uses it, password and extra included (see ``variable_for_task``)."""
    with db.read() as s:
        row = for_task(s, Connection, conn_id, dag_id)
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
