"""Who may do what: permissions, project roles, and the one decision that combines them.

Roles are granted per project ("project authority") and nest: viewer ⊂ operator ⊂ editor ⊂
admin. Acting on a workflow needs the permission *in the workflow's project*; instance
superusers have every permission everywhere. Pure: the principal is a snapshot of what the
store knows about the caller, taken once per request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Permission(StrEnum):
    WORKFLOW_READ = "workflow:read"
    WORKFLOW_CREATE = "workflow:create"
    WORKFLOW_UPDATE = "workflow:update"
    WORKFLOW_DELETE = "workflow:delete"
    RUN_CREATE = "run:create"
    RUN_UPDATE = "run:update"
    AUDIT_READ = "audit:read"
    ADMIN = "admin"


class Role(StrEnum):
    VIEWER = "viewer"
    OPERATOR = "operator"
    EDITOR = "editor"
    ADMIN = "admin"


_VIEWER = frozenset({Permission.WORKFLOW_READ, Permission.AUDIT_READ})
_OPERATOR = _VIEWER | {Permission.RUN_CREATE, Permission.RUN_UPDATE}
_EDITOR = _OPERATOR | {
    Permission.WORKFLOW_CREATE,
    Permission.WORKFLOW_UPDATE,
    Permission.WORKFLOW_DELETE,
}
_ADMIN = _EDITOR | {Permission.ADMIN}

ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    Role.VIEWER: _VIEWER,
    Role.OPERATOR: _OPERATOR,
    Role.EDITOR: _EDITOR,
    Role.ADMIN: _ADMIN,
}


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: a username, whether it is a superuser, its role per project."""

    username: str
    is_superuser: bool = False
    roles: Mapping[str, Role] = field(default_factory=dict)
    api_token_id: int | None = None  # set when the caller came in with an API token
    token_generation: int = 0  # the user's, which a new access token carries
    uid: str = ""  # the user's immutable id, which a new access token names (``sub``)


def permissions_of(role: Role) -> frozenset[Permission]:
    return ROLE_PERMISSIONS[role]


def allows(principal: Principal, permission: Permission, project: str) -> bool:
    """Project authority: the permission, granted by the caller's role in ``project``."""
    if principal.is_superuser:
        return True
    role = principal.roles.get(project)
    return role is not None and permission in ROLE_PERMISSIONS[role]


def allows_somewhere(principal: Principal, permission: Permission) -> bool:
    """Whether the caller holds ``permission`` in at least one project (for lists and forms)."""
    return principal.is_superuser or any(
        permission in ROLE_PERMISSIONS[role] for role in principal.roles.values()
    )


def projects_with(principal: Principal, permission: Permission) -> frozenset[str] | None:
    """The projects where the caller holds ``permission``; ``None`` means every project."""
    if principal.is_superuser:
        return None
    return frozenset(
        p for p, role in principal.roles.items() if permission in ROLE_PERMISSIONS[role]
    )


def denial_message(principal: Principal, permission: Permission, project: str | None) -> str:
    if project is None:
        return f"User {principal.username!r} lacks the {permission} permission."
    return f"User {principal.username!r} lacks the {permission} permission in project {project!r}."
