"""Authentication (JWT access tokens and API tokens) and the ``require`` dependencies.

``POST /auth/token`` is Airflow 3's: a username and password (JSON or form) for a short-lived
HS256 JWT. Every other route, except health and version, needs ``Authorization: Bearer`` with
either that JWT or a long-lived API token (``pf_…``); the execution API (``/execution/v1``,
``routes/execution.py``) takes a try token instead, and neither kind is accepted by the other.
The JWT names the user only: roles are re-read on each request, so revoking a role or
disabling a user applies at once.

The JWT secret comes from the settings (``PINFLOW_JWT_SECRET``); when unset, one is generated
on first start and kept in ``$PINFLOW_HOME/jwt_secret`` (mode 0600), so every API server that
shares the home (and restarts) accepts the same tokens.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import jwt
from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, ValidationError

from pinflow.errors import AuthenticationError, NotFoundError, PermissionDeniedError
from pinflow.lifecycle.login_throttle import DEFAULT_THROTTLE, LoginThrottle
from pinflow.lifecycle.permissions import (
    Permission,
    Principal,
    allows,
    allows_somewhere,
    denial_message,
)
from pinflow.runtime.artifacts import ArtifactStore, open_store
from pinflow.services.commands import logins, users
from pinflow.settings import Settings
from pinflow.store.db import Database

DEFAULT_EXPIRATION = timedelta(hours=24)  # Airflow's jwt_expiration_time default
_ALGORITHM = "HS256"
_CLOCK_SKEW = timedelta(seconds=30)  # API servers' clocks may differ a little
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
OUTDATED_SESSION = (
    "This access token was issued by an earlier version of Pinflow and is no longer "
    "accepted; log in again."
)


@dataclass(frozen=True)
class AuthConfig:
    jwt_secret: str = field(repr=False)
    expiration: timedelta = DEFAULT_EXPIRATION
    issuer: str = "pinflow"
    throttle: LoginThrottle = DEFAULT_THROTTLE
    ui_idle_timeout: timedelta = timedelta(hours=8)  # a UI session's cookie, renewed on use
    ui_max_age: timedelta = timedelta(days=7)  # … up to this long after its login


def auth_config(settings: Settings) -> AuthConfig:
    return AuthConfig(
        jwt_secret=settings.instance_secret(),
        expiration=timedelta(seconds=settings.jwt_expiration_time),
        ui_idle_timeout=timedelta(seconds=settings.ui_session_idle_timeout),
        ui_max_age=timedelta(seconds=settings.ui_session_max_age),
    )


def issue_access_token(
    config: AuthConfig,
    principal: Principal,
    *,
    expiration: timedelta | None = None,
    session_start: datetime | None = None,
) -> str:
    """An access token for ``principal``: ``sub`` is the user's immutable ``uid`` (ADR 0018),
    ``name`` the username (for display only), ``gen`` the user's current token generation (a
    token of an earlier one is refused: ``users.end_sessions``). ``session_start``: the login
    a renewed UI session comes from (``auth_time``, which bounds its renewals)."""
    stamp = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": principal.uid,
        "name": principal.username,
        "iss": config.issuer,
        "iat": stamp,
        "nbf": stamp,
        "exp": stamp + (config.expiration if expiration is None else expiration),
        "jti": secrets.token_hex(8),
        "gen": principal.token_generation,
    }
    if session_start is not None:
        claims["auth_time"] = int(session_start.timestamp())
    return jwt.encode(claims, config.jwt_secret, algorithm=_ALGORITHM)


@dataclass(frozen=True)
class TokenSubject:
    """Who a verified access token is for (the user's ``uid``), and the token generation it
    was issued in."""

    uid: str
    generation: int
    issued_at: datetime
    session_start: datetime  # the login it comes from (``auth_time``), else ``issued_at``


def principal_of_token(db: Database, config: AuthConfig, token: str) -> Principal:
    """The caller an access token names, refused once the user's sessions were ended."""
    return session_of_token(db, config, token)[0]


def session_of_token(
    db: Database, config: AuthConfig, token: str
) -> tuple[Principal, TokenSubject]:
    """The caller an access token names, and the token's own facts (for renewing it)."""
    subject = subject_of(config, token)
    return users.principal_for(db, subject.uid, subject.generation), subject


def subject_of(config: AuthConfig, token: str) -> TokenSubject:
    try:
        claims = jwt.decode(
            token,
            config.jwt_secret,
            algorithms=[_ALGORITHM],
            issuer=config.issuer,
            leeway=_CLOCK_SKEW,
            options={"require": ["exp", "iat", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise AuthenticationError("The access token has expired; request a new one.") from None
    except jwt.InvalidTokenError:
        raise AuthenticationError("Invalid access token.") from None
    if "name" not in claims:  # issued before tokens named the user's uid (ADR 0018)
        raise AuthenticationError(OUTDATED_SESSION)
    generation, issued, start = claims.get("gen", 0), claims["iat"], claims.get("auth_time")
    if not isinstance(generation, int) or not isinstance(issued, int):
        raise AuthenticationError("Invalid access token.")
    if not isinstance(start, int):
        start = issued
    return TokenSubject(
        str(claims["sub"]),
        generation,
        datetime.fromtimestamp(issued, UTC),
        datetime.fromtimestamp(start, UTC),
    )


# --- dependencies ------------------------------------------------------------------------------


def get_db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def _db_dependency(request: Request) -> Database:
    """``get_db`` as a dependency: a coroutine, because FastAPI runs a plain function
    dependency in its thread pool (one hop, and a GIL hand-off, per dependency per request)."""
    return get_db(request)


def client_address(request: Request) -> str:
    """The caller's address: the socket's, or, behind a proxy listed in
    ``PINFLOW_TRUSTED_PROXIES``, the one it forwarded (``trusted_proxies``)."""
    return request.client.host if request.client else "unknown"


def get_auth(request: Request) -> AuthConfig:
    config: AuthConfig = request.app.state.auth
    return config


DbDep = Annotated[Database, Depends(_db_dependency)]


def get_artifacts(request: Request) -> ArtifactStore:
    """The artifact store of large XComs, as the settings name it."""
    return open_store(request.app.state.settings.artifacts_uri)


ArtifactsDep = Annotated[ArtifactStore, Depends(get_artifacts)]
_bearer = HTTPBearer(
    auto_error=False,
    description="A JWT from POST /auth/token, or an API token (pf_…) from POST /api/tokens.",
)


def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise AuthenticationError("Not authenticated: send 'Authorization: Bearer <token>'.")
    db, raw = get_db(request), credentials.credentials
    if users.is_api_token(raw):
        return users.resolve_token(db, raw)
    return principal_of_token(db, get_auth(request), raw)


PrincipalDep = Annotated[Principal, Depends(current_principal)]
# The bearer credentials as sent (None without any), for a route that checks them itself.
CredentialsDep = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
ProjectOf = Callable[[Database, Request], str]


def authorize(
    principal: Principal, permission: Permission, project: str | None, hidden: str | None = None
) -> None:
    """Project authority when ``project`` is given; otherwise the permission anywhere. With
    ``hidden`` (a "not found" message), one who may not read in ``project`` gets that 404."""
    unseen = project is not None and not allows(principal, Permission.WORKFLOW_READ, project)
    if hidden is not None and unseen:
        raise NotFoundError(hidden)
    ok = (
        allows_somewhere(principal, permission)
        if project is None
        else allows(principal, permission, project)
    )
    if not ok:
        raise PermissionDeniedError(denial_message(principal, permission, project))


def require(
    permission: Permission,
    project: ProjectOf | None = None,
    *,
    hidden: Callable[[Request], str] | None = None,
) -> Any:
    """A dependency: the caller, once it holds ``permission`` (in the project ``project`` finds).

    With ``hidden`` (the object's "not found" message), a caller who may not even read in
    that project gets the 404 a missing object gets, not a 403: no existence leak (ADR 0017).
    """

    def dependency(request: Request, principal: PrincipalDep) -> Principal:
        scope = None if project is None else project(get_db(request), request)
        authorize(principal, permission, scope, None if hidden is None else hidden(request))
        return principal

    return Depends(dependency)


def _superuser(principal: PrincipalDep) -> Principal:
    if not principal.is_superuser:
        raise PermissionDeniedError(f"User {principal.username!r} is not a superuser.")
    return principal


SuperuserDep = Annotated[Principal, Depends(_superuser)]


# --- POST /auth/token --------------------------------------------------------------------------


class LoginBody(BaseModel):
    username: str = Field(min_length=1, max_length=250)
    password: str = Field(min_length=1, max_length=users.MAX_PASSWORD)


class LoginResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105


async def _login_body(request: Request) -> LoginBody:
    """JSON (Airflow's client) or a form (OAuth2 password flow, ``curl -d``)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if content_type in _FORM_TYPES:
            form = await request.form()
            data: Any = {k: v for k, v in form.items() if isinstance(v, str)}
            return LoginBody.model_validate(data)
        return LoginBody.model_validate_json(await request.body() or b"null")
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_input=False)]
        ) from None


router = APIRouter(tags=["auth"])

_LOGIN_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            media: {"schema": LoginBody.model_json_schema()}
            for media in ("application/json", "application/x-www-form-urlencoded")
        },
    }
}


@router.post(
    "/auth/token",
    status_code=201,
    response_model=LoginResponse,
    openapi_extra=_LOGIN_OPENAPI,
    responses={401: {"description": "Bad credentials"}, 429: {"description": "Throttled"}},
)
def create_access_token(
    request: Request, body: Annotated[LoginBody, Depends(_login_body)]
) -> LoginResponse:
    """Exchange a username and password for a JWT access token (Airflow 3's ``/auth/token``)."""
    config = get_auth(request)
    principal = logins.authenticate(
        get_db(request),
        body.username,
        body.password,
        client=client_address(request),
        throttle=config.throttle,
    )
    return LoginResponse(access_token=issue_access_token(config, principal))


@router.post(
    "/auth/logout",
    status_code=204,
    responses={401: {"description": "Not authenticated"}},
)
def logout(db: DbDep, principal: PrincipalDep) -> Response:
    """End the caller's credentials: with an access token, every session of the user (each
    access token issued until now is refused at once: "log out everywhere"); with an API
    token, that token (revoked, as ``DELETE /api/tokens/{id}`` does)."""
    name = principal.username
    if principal.api_token_id is not None:
        users.revoke_token(db, name, principal.api_token_id, actor=name)
    else:
        users.end_sessions(db, name, actor=name)
    return Response(status_code=204)
