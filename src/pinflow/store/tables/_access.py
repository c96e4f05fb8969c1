"""Who may act (users, their project roles, API tokens, the login throttle) and who did what
(the audit trail). Authentication and authorization: issue #4.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pinflow.store.tables.base import DIGEST_LEN, ID_LEN, UUID_LEN, Base, UTCDateTime, utcnow


def new_uid() -> str:
    """A user's immutable id: a random UUID, as a string."""
    return str(uuid.uuid4())


class User(Base):
    """A person or a service account. ``password_hash`` is argon2; ``!`` means no password
    (a token-only account, e.g. for CI), which no password can match."""

    __tablename__ = "user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # What access tokens name (``sub``): never reused, so a token of a removed user cannot
    # name a new user who takes the same username (ADR 0018).
    uid: Mapped[str] = mapped_column(String(UUID_LEN), unique=True, default=new_uid)
    username: Mapped[str] = mapped_column(String(ID_LEN), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_superuser: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Every access token carries the generation it was issued in; raising it (a new password,
    # a disabled account, "log out everywhere") ends every session issued before, at once.
    token_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class ProjectRole(Base):
    """A user's one role in one project ("project authority"): viewer/operator/editor/admin."""

    __tablename__ = "project_role"
    __table_args__ = (UniqueConstraint("user_id", "project_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    project_id: Mapped[int] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ApiToken(Base):
    """A long-lived token (``pf_<prefix>_<secret>``). Only the sha256 of the secret is stored;
    the prefix finds the row and is safe to show."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(ID_LEN))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    token_hash: Mapped[str] = mapped_column(String(DIGEST_LEN))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class LoginAttempt(Base):
    """A failed login, per username and client: the login throttle counts these, per
    (username, client), per client and per username (ADR 0018).

    Kept in the database (not in process memory) so that the limits hold across any number
    of API servers; rows older than the throttle window are pruned as new failures arrive.
    """

    __tablename__ = "login_attempt"
    __table_args__ = (
        Index("ix_login_attempt_who", "username", "client", "at"),
        Index("ix_login_attempt_client", "client", "at"),
        Index("ix_login_attempt_at", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(ID_LEN))
    client: Mapped[str] = mapped_column(String(ID_LEN))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AuditEvent(Base):
    """Who did what to which target, when, and with which details (append-only)."""

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_target", "target_type", "target_id", "at"),
        Index("ix_audit_event_at", "at"),
        Index("ix_audit_event_action", "action", "at"),
        Index("ix_audit_event_actor", "actor", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(ID_LEN))
    action: Mapped[str] = mapped_column(String(100))
    target_type: Mapped[str] = mapped_column(String(50))
    target_id: Mapped[str] = mapped_column(String(ID_LEN))
    dag_id: Mapped[str | None] = mapped_column(String(ID_LEN), nullable=True, index=True)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
