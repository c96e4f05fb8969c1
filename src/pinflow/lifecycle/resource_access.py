"""Who may see and manage a pool, a variable or a connection (ADR 0017).

A resource belongs to one project or, with no project, to the whole instance. Named rules,
pure: the caller is the request's ``Principal``, the resource's project a plain name.
"""

from __future__ import annotations

from enum import StrEnum

from pinflow.lifecycle.permissions import Permission, Principal, allows, allows_somewhere


class ResourceKind(StrEnum):
    POOL = "pool"
    VARIABLE = "variable"
    CONNECTION = "connection"


def holds_secrets(kind: ResourceKind) -> bool:
    return kind is not ResourceKind.POOL


def can_see(principal: Principal, kind: ResourceKind, project: str | None) -> bool:
    """A project's resources are its members' to read (any role). Instance-wide variables and
    connections hold every project's secrets: superusers only. Instance-wide pools are
    everyone's limits, so anyone who reads a DAG somewhere may read them (as before)."""
    if project is not None:
        return allows(principal, Permission.WORKFLOW_READ, project)
    if holds_secrets(kind):
        return principal.is_superuser
    return allows_somewhere(principal, Permission.WORKFLOW_READ)


def can_manage(principal: Principal, project: str | None) -> bool:
    """A project's admins manage its resources; instance-wide ones are the superusers' (a
    project's admin must not throttle, or read the secrets of, every other project)."""
    if project is None:
        return principal.is_superuser
    return allows(principal, Permission.ADMIN, project)


def refusal(principal: Principal, kind: ResourceKind, project: str | None) -> str:
    if project is None:
        return (
            f"User {principal.username!r} may not manage instance-wide {kind}s (superusers"
            f" only); name a project you administer in the body's `project`."
        )
    return (
        f"User {principal.username!r} may not manage the {kind}s of project {project!r}"
        " (its admins only)."
    )


def usable_by(pool_project: str | int | None, dag_project: str | int) -> bool:
    """A DAG's tasks may use instance-wide pools and their own project's only: another
    project's pool is that project's to size, and a DAG in it would spend its slots. (By
    name at push, by id at claim.)"""
    return pool_project is None or pool_project == dag_project
