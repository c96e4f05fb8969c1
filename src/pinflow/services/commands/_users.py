"""Users, project roles, password logins and API tokens.

Secrets never leave this module in clear except once: the API token returned by
``create_api_token``. Passwords are hashed with argon2id; API tokens (``pf_<prefix>_<secret>``)
are random, so a sha256 of the secret is enough to store them, and the prefix finds the row.
Password logins and their throttle are in ``_logins``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pinflow.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    Problem,
)
from pinflow.lifecycle.permissions import Principal, Role
from pinflow.services import audit_events as events
from pinflow.services.audit_events import record
from pinflow.services.common import now
from pinflow.spec.models import ID_PATTERN
from pinflow.store import repo
from pinflow.store.db import Database
from pinflow.store.tables import (
    ID_LEN,
    ApiToken,
    Project,
    ProjectRole,
    User,
    new_uid,
)

# Not an argon2 hash, so no password verifies against it: the mark of a token-only account.
NO_PASSWORD = "!"  # noqa: S105
MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # hashing is deliberately slow; unbounded input would be a DoS lever
TOKEN_SCHEME = "pf"  # noqa: S105
_TOUCH_EVERY = timedelta(minutes=1)  # last_used_at resolution: no write on every request
_USERNAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@+\-]{0,249}$")
_HASHER = PasswordHasher()
BAD_LOGIN = "Invalid username or password."
BAD_TOKEN = "Invalid API token."  # noqa: S105


@dataclass(frozen=True)
class UserView:
    id: int
    uid: str
    username: str
    is_superuser: bool
    is_active: bool
    created_at: datetime
    roles: dict[str, Role]


@dataclass(frozen=True)
class TokenView:
    id: int
    name: str
    prefix: str
    username: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class NewToken:
    """A just-created token; ``secret`` is the whole ``pf_…`` string, shown exactly once."""

    token: TokenView
    secret: str = field(repr=False)


# --- users and roles ---------------------------------------------------------------------------


def _invalid(field: str, message: str) -> InvalidInputError:
    return InvalidInputError(f"{field}: {message}", problems=[Problem(field, message)])


def _check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise _invalid("password", f"must be {MIN_PASSWORD} to {MAX_PASSWORD} characters long")


def _user_row(s: Session, username: str) -> User:
    row = s.scalars(select(User).where(User.username == username)).one_or_none()
    if row is None:
        raise NotFoundError(f"User {username!r} was not found.")
    return row


def _roles(s: Session, user_id: int) -> dict[str, Role]:
    rows = s.execute(
        select(Project.name, ProjectRole.role)
        .join(Project, Project.id == ProjectRole.project_id)
        .where(ProjectRole.user_id == user_id)
    )
    return {project: Role(role) for project, role in rows}


def _user_view(s: Session, row: User) -> UserView:
    return UserView(
        row.id,
        row.uid,
        row.username,
        row.is_superuser,
        row.is_active,
        row.created_at,
        _roles(s, row.id),
    )


def create_user(
    db: Database,
    username: str,
    password: str | None,
    *,
    actor: str,
    is_superuser: bool = False,
) -> UserView:
    """A new user; ``password=None`` makes a token-only account (no password login)."""
    if not _USERNAME.match(username):
        raise _invalid("username", "must be 1-250 letters, digits or _ . @ + - (not first)")
    if password is not None:
        _check_password(password)
    hashed = NO_PASSWORD if password is None else _HASHER.hash(password)
    with db.transaction() as s:
        row = User(
            uid=new_uid(), username=username, password_hash=hashed, is_superuser=is_superuser
        )
        row.is_active, row.created_at = True, now()
        s.add(row)
        try:
            s.flush()
        except IntegrityError:
            raise ConflictError(f"User {username!r} already exists.") from None
        record(s, actor, events.user_created(row, has_password=password is not None))
        return _user_view(s, row)


def set_password(db: Database, username: str, password: str, *, actor: str) -> None:
    _check_password(password)
    hashed = _HASHER.hash(password)
    with db.transaction() as s:
        row = _user_row(s, username)
        row.password_hash = hashed
        _end_sessions(row)  # a new password ends the sessions the old one opened
        record(s, actor, events.user_password_set(username))


def set_active(db: Database, username: str, active: bool, *, actor: str) -> UserView:
    """Disable or re-enable a user; a disabled user's JWTs and API tokens stop working."""
    with db.transaction() as s:
        row = _user_row(s, username)
        if row.is_active != active:
            row.is_active = active
            if not active:  # re-enabling must not bring back the sessions it ended
                _end_sessions(row)
            record(s, actor, events.user_active_set(username, active))
        return _user_view(s, row)


def get_user(db: Database, username: str) -> UserView:
    with db.read() as s:
        return _user_view(s, _user_row(s, username))


def delete_user(db: Database, username: str, *, actor: str) -> None:
    """Remove a user, their roles and API tokens. Their access tokens die with them and stay
    dead: they name the user's ``uid``, which no later user gets (even of the same name).
    The last active superuser cannot be removed: nobody could then administer the instance."""
    with db.transaction() as s:
        row = _user_row(s, username)
        if row.is_superuser and row.is_active:
            others = select(User.id).where(
                User.is_superuser.is_(True), User.is_active.is_(True), User.id != row.id
            )
            if s.scalars(others.limit(1).with_for_update()).first() is None:
                raise ConflictError(
                    f"User {username!r} is the last active superuser and cannot be removed; "
                    "make another user a superuser first."
                )
        s.execute(delete(ApiToken).where(ApiToken.user_id == row.id))
        s.execute(delete(ProjectRole).where(ProjectRole.user_id == row.id))
        s.delete(row)
        record(s, actor, events.user_deleted(username, row.uid))


def list_users(db: Database) -> list[UserView]:
    with db.read() as s:
        return [_user_view(s, row) for row in s.scalars(select(User).order_by(User.username))]


def grant_role(db: Database, username: str, project: str, role: Role, *, actor: str) -> UserView:
    """Give ``username`` exactly ``role`` in ``project`` (replacing any role held there).
    Replacing a role ends the user's sessions (ADR 0018); a first role in a project does not,
    since it takes nothing away."""
    if not re.fullmatch(ID_PATTERN, project) or len(project) > ID_LEN:
        raise _invalid("project", "must be a project identifier (letters, digits, _ . -)")
    with db.transaction() as s:
        user = _user_row(s, username)
        pid = repo.project_id(s, project)
        held = s.scalars(
            select(ProjectRole).where(ProjectRole.user_id == user.id, ProjectRole.project_id == pid)
        ).one_or_none()
        if held is None:
            s.add(ProjectRole(user_id=user.id, project_id=pid, role=role.value, created_at=now()))
        elif held.role != role.value:
            held.role = role.value
            _end_sessions(user)  # a changed role: sessions opened under the old one end
        s.flush()
        record(s, actor, events.role_granted(username, project=project, role=role.value))
        return _user_view(s, user)


def revoke_role(db: Database, username: str, project: str, *, actor: str) -> UserView:
    with db.transaction() as s:
        user = _user_row(s, username)
        pid = s.scalars(select(Project.id).where(Project.name == project)).one_or_none()
        gone = s.execute(
            delete(ProjectRole).where(ProjectRole.user_id == user.id, ProjectRole.project_id == pid)
        )
        if gone.rowcount == 0:  # type: ignore[attr-defined]
            raise NotFoundError(f"User {username!r} holds no role in project {project!r}.")
        _end_sessions(user)  # authority taken away: every session opened with it ends
        record(s, actor, events.role_revoked(username, project=project))
        return _user_view(s, user)


def _principal(s: Session, row: User, token_id: int | None = None) -> Principal:
    roles = _roles(s, row.id)
    return Principal(row.username, row.is_superuser, roles, token_id, row.token_generation, row.uid)


ENDED = (
    "This session has ended: the password or a role was changed, the account disabled, or "
    "every session logged out. Log in again."
)


def principal_for(db: Database, uid: str, generation: int = 0) -> Principal:
    """The caller whose immutable ``uid`` a verified JWT names, re-read so that role changes
    apply at once; a token of an earlier ``generation`` than the user's is refused
    (``end_sessions``)."""
    with db.read() as s:
        row = s.scalars(select(User).where(User.uid == uid)).one_or_none()
        if row is None or not row.is_active:
            raise AuthenticationError("The user of this token no longer exists or is disabled.")
        if generation != row.token_generation:
            raise AuthenticationError(ENDED)
        return _principal(s, row)


def principal_of_user(db: Database, username: str) -> Principal:
    """``username`` as a caller, as a login would find them (to issue a token on their behalf)."""
    with db.read() as s:
        return _principal(s, _user_row(s, username))


def end_sessions(db: Database, username: str, *, actor: str) -> None:
    """End every session of ``username``: access tokens issued until now are refused (API
    tokens are revoked one by one, ``revoke_token``)."""
    with db.transaction() as s:
        _end_sessions(_user_row(s, username))
        record(s, actor, events.user_sessions_ended(username))


def _end_sessions(row: User) -> None:
    row.token_generation = (row.token_generation or 0) + 1


# --- API tokens --------------------------------------------------------------------------------


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _token_view(row: ApiToken, username: str) -> TokenView:
    names = [f.name for f in fields(TokenView) if f.name != "username"]
    return TokenView(username=username, **{name: getattr(row, name) for name in names})


def create_api_token(
    db: Database, username: str, name: str, *, actor: str, expires_at: datetime | None = None
) -> NewToken:
    """A new token for ``username``; the returned secret is not stored and cannot be shown again."""
    if not 1 <= len(name.strip()) <= ID_LEN:
        raise _invalid("name", f"must be 1 to {ID_LEN} characters")
    if expires_at is not None and (expires_at.tzinfo is None or expires_at <= now()):
        raise _invalid("expires_at", "must be a timezone-aware time in the future")
    prefix, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    with db.transaction() as s:
        user = _user_row(s, username)
        row = ApiToken(
            user_id=user.id, name=name.strip(), prefix=prefix, token_hash=_sha256(secret)
        )
        row.created_at, row.expires_at = now(), expires_at
        s.add(row)
        s.flush()
        record(s, actor, events.token_created(username, row))
        return NewToken(_token_view(row, username), f"{TOKEN_SCHEME}_{prefix}_{secret}")


def list_tokens(db: Database, username: str) -> list[TokenView]:
    with db.read() as s:
        user = _user_row(s, username)
        rows = s.scalars(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id))
        return [_token_view(row, username) for row in rows]


def revoke_token(db: Database, username: str, token_id: int, *, actor: str) -> TokenView:
    """Revoke one of ``username``'s tokens; revoking twice changes nothing."""
    with db.transaction() as s:
        user = _user_row(s, username)
        row = s.get(ApiToken, token_id)
        if row is None or row.user_id != user.id:
            raise NotFoundError(f"API token {token_id} of user {username!r} was not found.")
        if row.revoked_at is None:
            row.revoked_at = now()
            record(s, actor, events.token_revoked(username, row))
        return _token_view(row, username)


def is_api_token(raw: str) -> bool:
    return raw.startswith(f"{TOKEN_SCHEME}_")


def resolve_token(db: Database, raw: str) -> Principal:
    """The principal an API token stands for; ``AuthenticationError`` when it does not work."""
    scheme, _, rest = raw.partition("_")
    prefix, _, secret = rest.partition("_")
    if scheme != TOKEN_SCHEME or not prefix or not secret:
        raise AuthenticationError(BAD_TOKEN)
    stamp = now()
    with db.read() as s:
        row = s.scalars(select(ApiToken).where(ApiToken.prefix == prefix)).one_or_none()
        if row is None or not hmac.compare_digest(row.token_hash, _sha256(secret)):
            raise AuthenticationError(BAD_TOKEN)
        if row.revoked_at is not None:
            raise AuthenticationError("This API token has been revoked.")
        if row.expires_at is not None and row.expires_at <= stamp:
            raise AuthenticationError("This API token has expired.")
        user = s.get(User, row.user_id)
        if user is None or not user.is_active:
            raise AuthenticationError("The user of this token no longer exists or is disabled.")
        principal = _principal(s, user, row.id)
        stale = row.last_used_at is None or stamp - row.last_used_at >= _TOUCH_EVERY
    if stale:
        touch = update(ApiToken).where(ApiToken.id == row.id).values(last_used_at=stamp)
        with db.transaction() as s:
            s.execute(touch)
    return principal
