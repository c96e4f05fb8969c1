"""Audit entries of the instance's administration: pools, variables, connections, users,
their roles and API tokens, refused logins, retention.

None of them carries a secret: a resource's entry names the fields that changed, never their
values (a variable's value or a connection's password may be one); a token's entry names its
public prefix; a refused login names the user tried and the client, never the password.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from pinflow.services.audit_events._actions import AuditAction as A
from pinflow.services.audit_events._entry import AuditEntry, on_user
from pinflow.store.tables import ApiToken, User

# --- pools, variables, connections -------------------------------------------------------------


def _resource(action: A, name: str, fields: Iterable[str]) -> AuditEntry:
    """The target type is the action's prefix: ``pool``, ``variable`` or ``connection``."""
    kind = action.value.split(".", maxsplit=1)[0]
    return AuditEntry(action, kind, name, None, {"fields": sorted(fields)})


def pool_created(name: str, fields: Iterable[str]) -> AuditEntry:
    return _resource(A.POOL_CREATED, name, fields)


def pool_updated(name: str, fields: Iterable[str]) -> AuditEntry:
    return _resource(A.POOL_UPDATED, name, fields)


def pool_deleted(name: str) -> AuditEntry:
    return _resource(A.POOL_DELETED, name, ())


def variable_set(key: str, fields: Iterable[str], *, created: bool) -> AuditEntry:
    return _resource(A.VARIABLE_CREATED if created else A.VARIABLE_UPDATED, key, fields)


def variable_deleted(key: str) -> AuditEntry:
    return _resource(A.VARIABLE_DELETED, key, ())


def connection_set(conn_id: str, fields: Iterable[str], *, created: bool) -> AuditEntry:
    return _resource(A.CONNECTION_CREATED if created else A.CONNECTION_UPDATED, conn_id, fields)


def connection_deleted(conn_id: str) -> AuditEntry:
    return _resource(A.CONNECTION_DELETED, conn_id, ())


# --- users, roles, tokens ----------------------------------------------------------------------


def user_created(user: User, *, has_password: bool) -> AuditEntry:
    """``has_password``: ``False`` for a token-only account."""
    meta = {"isSuperuser": user.is_superuser, "hasPassword": has_password}
    return on_user(A.USER_CREATED, user.username, meta)


def user_password_set(username: str) -> AuditEntry:
    return on_user(A.USER_PASSWORD_SET, username, {})


def user_sessions_ended(username: str) -> AuditEntry:
    """Every access token of ``username`` issued until now is refused ("log out everywhere")."""
    return on_user(A.USER_SESSIONS_ENDED, username, {})


def user_active_set(username: str, active: bool) -> AuditEntry:
    """``user.enabled`` or ``user.disabled`` (only on a change)."""
    return on_user(A.USER_ENABLED if active else A.USER_DISABLED, username, {})


def user_deleted(username: str, uid: str) -> AuditEntry:
    """``uid``: which of the users ever named ``username`` it was."""
    return on_user(A.USER_DELETED, username, {"uid": uid})


def role_granted(username: str, *, project: str, role: str) -> AuditEntry:
    return on_user(A.USER_ROLE_GRANTED, username, {"project": project, "role": role})


def role_revoked(username: str, *, project: str) -> AuditEntry:
    return on_user(A.USER_ROLE_REVOKED, username, {"project": project})


def token_created(username: str, token: ApiToken) -> AuditEntry:
    meta = {"tokenId": token.id, "prefix": token.prefix, "name": token.name}
    return on_user(A.TOKEN_CREATED, username, meta)


def token_revoked(username: str, token: ApiToken) -> AuditEntry:
    return on_user(A.TOKEN_REVOKED, username, {"tokenId": token.id, "prefix": token.prefix})


def login_failed(username: str, *, client: str, reason: str, last_at: datetime) -> AuditEntry:
    """``reason``: ``unknown_user``, ``bad_password``, ``disabled`` or ``throttled``. The
    first failure of a window: repeats raise its ``count`` and move ``lastAt`` (``_logins``)."""
    meta = {
        "username": username,
        "client": client,
        "reason": reason,
        "count": 1,
        "lastAt": last_at.isoformat(),
    }
    return on_user(A.LOGIN_FAILED, username, meta)


# --- retention ---------------------------------------------------------------------------------


def db_cleaned(counts: Mapping[str, int], *, before: datetime, dag_id: str | None) -> AuditEntry:
    """One batch of ``pinflow db clean``: the rows it deleted per table, and its cut-off."""
    meta = {"before": before.isoformat(), "dagId": dag_id, "counts": dict(counts)}
    return AuditEntry(A.DB_CLEANED, "database", dag_id or "*", dag_id, meta)
