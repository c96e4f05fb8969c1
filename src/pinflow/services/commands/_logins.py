"""Password logins and their throttle (ADR 0018).

Failures are kept in the database (``login_attempt``), so the limits hold across any number
of API servers, and counted three ways: per (username, client address), per address and per
username; ``lifecycle.login_throttle`` decides from those counts how long a login must wait
(429 with ``Retry-After``). Refusals while throttled do not extend the wait.

Failures are audited as ``auth.login_failed`` with the username and the client, never the
password, aggregated: one audit row per (username, client, reason) and throttle window, whose
``count`` and ``lastAt`` grow with each repeat, so that an attack cannot grow the audit trail
without bound.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache

from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.orm import Session

from pinflow.errors import AuthenticationError, LoginThrottledError
from pinflow.lifecycle.login_throttle import (
    DEFAULT_THROTTLE,
    Failures,
    LoginHistory,
    LoginThrottle,
    login_wait,
)
from pinflow.lifecycle.permissions import Principal
from pinflow.services import audit_events as events
from pinflow.services.audit_events import record
from pinflow.services.commands import _users as users
from pinflow.services.common import now
from pinflow.store.db import Database
from pinflow.store.tables import ID_LEN, AuditEvent, LoginAttempt, User

THROTTLED = "throttled"
_AUDIT_CANDIDATES = 50  # recent failure rows of one username looked at for a match


@cache
def _dummy_hash() -> str:
    return users._HASHER.hash("pinflow: equalise the time of unknown-user logins")


def _verify(stored: str | None, password: str) -> bool:
    """argon2 check; unknown users cost the same time, so timing does not reveal them."""
    try:
        return users._HASHER.verify(stored or _dummy_hash(), password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def _failures(s: Session, where: ColumnElement[bool], since: datetime) -> Failures:
    query = select(func.count(), func.max(LoginAttempt.at)).where(where, LoginAttempt.at > since)
    count, latest = s.execute(query).one()
    return Failures(int(count), latest)


def _pair(username: str, client: str) -> ColumnElement[bool]:
    return (LoginAttempt.username == username) & (LoginAttempt.client == client)


def _history(s: Session, username: str, client: str, since: datetime) -> LoginHistory:
    return LoginHistory(
        pair=_failures(s, _pair(username, client), since),
        client=_failures(s, LoginAttempt.client == client, since),
        account=_failures(s, LoginAttempt.username == username, since),
    )


def _audit_failure(
    s: Session, username: str, client: str, reason: str, *, stamp: datetime, since: datetime
) -> None:
    """Count a repeat on this window's row for (username, client, reason), or start one."""
    recent = (
        select(AuditEvent)
        .where(
            AuditEvent.target_type == "user",
            AuditEvent.target_id == username,
            AuditEvent.at > since,
            AuditEvent.action == events.AuditAction.LOGIN_FAILED.value,
        )
        .order_by(AuditEvent.at.desc())
        .limit(_AUDIT_CANDIDATES)
        .with_for_update()
    )
    for row in s.scalars(recent):
        meta = row.meta or {}
        if meta.get("client") == client and meta.get("reason") == reason:
            count = int(meta.get("count", 1)) + 1
            row.meta = {**meta, "count": count, "lastAt": stamp.isoformat()}
            return
    record(
        s, "anonymous", events.login_failed(username, client=client, reason=reason, last_at=stamp)
    )


def _record_failure(
    db: Database, username: str, client: str, reason: str, throttle: LoginThrottle
) -> None:
    with db.transaction() as s:
        stamp = now()
        if reason != THROTTLED:  # refusals while throttled do not extend the wait
            s.add(LoginAttempt(username=username, client=client, at=stamp))
            s.execute(delete(LoginAttempt).where(LoginAttempt.at <= stamp - throttle.window))
        _audit_failure(s, username, client, reason, stamp=stamp, since=stamp - throttle.window)


def authenticate(
    db: Database,
    username: str,
    password: str,
    *,
    client: str,
    throttle: LoginThrottle = DEFAULT_THROTTLE,
) -> Principal:
    """Check a username and password; raises ``AuthenticationError`` or ``LoginThrottledError``."""
    username, client = username[:ID_LEN], (client or "unknown")[:ID_LEN]
    with db.read() as s:
        stamp = now()
        wait = login_wait(_history(s, username, client, stamp - throttle.window), throttle, stamp)
        row = s.scalars(select(User).where(User.username == username)).one_or_none()
    if wait:
        _record_failure(db, username, client, THROTTLED, throttle)
        raise LoginThrottledError(
            f"Too many failed login attempts; try again in {wait} seconds.", retry_after=wait
        )
    usable = row is not None and row.is_active and row.password_hash != users.NO_PASSWORD
    stored = row.password_hash if row is not None and usable else None
    if not _verify(stored, password[: users.MAX_PASSWORD]):
        reason = "unknown_user" if row is None else ("bad_password" if usable else "disabled")
        _record_failure(db, username, client, reason, throttle)
        raise AuthenticationError(users.BAD_LOGIN)
    return _logged_in(db, username, client, password)


def _logged_in(db: Database, username: str, client: str, password: str) -> Principal:
    """A success forgives this address's failures on this account, and upgrades an outdated
    hash. (Failures of other accounts, or from other addresses, still count.)"""
    with db.transaction() as s:
        s.execute(delete(LoginAttempt).where(_pair(username, client)))
        row = users._user_row(s, username)
        if users._HASHER.check_needs_rehash(row.password_hash):
            row.password_hash = users._HASHER.hash(password)
        return users._principal(s, row)
