"""Users, project roles (``/api/users``) and the caller's own API tokens (``/api/tokens``).

Creating and removing users is for instance superusers; project admins may list users and
grant or revoke roles in their projects. Any authenticated user manages their own API tokens;
the secret is in the creation response only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from pydantic import AwareDatetime, Field

from pinflow.api.auth import DbDep, PrincipalDep, SuperuserDep, authorize, require
from pinflow.api.schemas import MAX_INT, Camel
from pinflow.lifecycle.permissions import Permission, Principal, Role
from pinflow.services.commands import TokenView, UserView, users
from pinflow.store.db import Database

router = APIRouter(prefix="/api", tags=["users"])


class User(Camel):
    id: int
    uid: str = Field(description="The user's immutable id (never reused, even for the same name)")
    username: str
    is_superuser: bool
    is_active: bool
    created_at: datetime
    roles: dict[str, Role] = Field(description="Role per project")

    @classmethod
    def of(cls, v: UserView) -> User:
        return cls(
            id=v.id,
            uid=v.uid,
            username=v.username,
            is_superuser=v.is_superuser,
            is_active=v.is_active,
            created_at=v.created_at,
            roles=v.roles,
        )


class NewUserBody(Camel):
    username: str = Field(min_length=1, max_length=250)
    password: str | None = Field(
        default=None, max_length=users.MAX_PASSWORD, description="None: token-only account"
    )
    is_superuser: bool = False


class RoleBody(Camel):
    project: str = Field(min_length=1, max_length=250)
    role: Role


class Token(Camel):
    id: int
    name: str
    prefix: str
    username: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, v: TokenView) -> Token:
        return cls(
            id=v.id,
            name=v.name,
            prefix=v.prefix,
            username=v.username,
            created_at=v.created_at,
            last_used_at=v.last_used_at,
            expires_at=v.expires_at,
            revoked_at=v.revoked_at,
        )


class NewTokenBody(Camel):
    name: str = Field(min_length=1, max_length=250)
    expires_at: AwareDatetime | None = None


class CreatedToken(Token):
    token: str = Field(description="The secret; shown once, never again.")


def _role_project(db: Database, request: Request) -> str:
    return str(request.path_params["project"])


ProjectAdmin = Annotated[Principal, require(Permission.ADMIN, project=_role_project)]


@router.get("/users", response_model=list[User])
def list_users(db: DbDep, _: Annotated[Principal, require(Permission.ADMIN)]) -> list[User]:
    """Every user with their roles (superusers and project admins)."""
    return [User.of(v) for v in users.list_users(db)]


@router.post("/users", status_code=201, response_model=User)
def create_user(db: DbDep, principal: SuperuserDep, body: NewUserBody) -> User:
    """Create a user (superusers only); without a password the account is token-only."""
    view = users.create_user(
        db, body.username, body.password, actor=principal.username, is_superuser=body.is_superuser
    )
    return User.of(view)


@router.delete("/users/{username}", status_code=204)
def delete_user(db: DbDep, username: str, principal: SuperuserDep) -> Response:
    """Remove a user with their roles and API tokens (superusers only; audited). Their access
    tokens stay refused even if a user of the same name is created later. The last active
    superuser cannot be removed (409)."""
    users.delete_user(db, username, actor=principal.username)
    return Response(status_code=204)


@router.post("/users/{username}/roles", response_model=User)
def grant_role(db: DbDep, username: str, principal: PrincipalDep, body: RoleBody) -> User:
    """Give the user this role in the project (replacing any role held there)."""
    authorize(principal, Permission.ADMIN, body.project)
    return User.of(
        users.grant_role(db, username, body.project, body.role, actor=principal.username)
    )


@router.delete("/users/{username}/roles/{project}", response_model=User)
def revoke_role(db: DbDep, username: str, project: str, principal: ProjectAdmin) -> User:
    """Take the user's role in the project away."""
    return User.of(users.revoke_role(db, username, project, actor=principal.username))


@router.get("/tokens", response_model=list[Token], tags=["tokens"])
def list_tokens(db: DbDep, principal: PrincipalDep) -> list[Token]:
    """The caller's API tokens (never their secrets)."""
    return [Token.of(v) for v in users.list_tokens(db, principal.username)]


@router.post("/tokens", status_code=201, response_model=CreatedToken, tags=["tokens"])
def create_token(db: DbDep, principal: PrincipalDep, body: NewTokenBody) -> CreatedToken:
    """A new API token for the caller; the ``token`` in this response is the only copy."""
    created = users.create_api_token(
        db, principal.username, body.name, actor=principal.username, expires_at=body.expires_at
    )
    return CreatedToken(**Token.of(created.token).model_dump(), token=created.secret)


@router.delete("/tokens/{token_id}", response_model=Token, tags=["tokens"])
def revoke_token(
    db: DbDep, token_id: Annotated[int, Path(ge=1, le=MAX_INT)], principal: PrincipalDep
) -> Token:
    """Revoke one of the caller's tokens (idempotent)."""
    return Token.of(users.revoke_token(db, principal.username, token_id, actor=principal.username))
