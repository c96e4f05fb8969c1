"""Airflow's ``/api/v2/variables`` and ``/api/v2/connections``: the resources that hold
secrets. Each is a project's (``project`` in the body, a Pinflow field: its admins manage it,
its members read it) or instance-wide (no ``project``: superusers only, as a project's admin
must not reach into every other project's pipelines). One the caller may not see is a 404,
as a missing one; lists show only what the caller may see (ADR 0017). The project is chosen
at creation and cannot be changed.

Secrets are encrypted at rest (``pinflow.services.commands``) with the instance key: the
``fernet_key`` setting when given, else ``$PINFLOW_HOME/fernet_key``, created on first use and
shared by every API server with that home. A connection's password is write-only: responses
carry ``password: null``, and a ``PATCH`` that does not name it keeps it. Values of sensitive
keys (``password``, ``token``…) come back as ``***``, as Airflow's secrets masker shows them.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from pinflow.api.auth import DbDep, PrincipalDep
from pinflow.api.routes.v2_dags import OrderBy, PageDep, UpdateMask, update_fields
from pinflow.errors import InvalidInputError
from pinflow.services.commands import Cipher, ConnectionView, VariableView, resources

router = APIRouter(prefix="/api/v2")
_KEY = 250


def cipher(request: Request) -> Cipher:
    """The instance's cipher, made once per app (see the module doc)."""
    state = request.app.state
    found: Cipher | None = getattr(state, "cipher", None)
    if found is None:
        key = state.settings.fernet_key
        configured = key.get_secret_value() if key else None
        found = Cipher(configured or resources.load_or_create_key(state.settings.home))
        state.cipher = found
    return found


CipherDep = Annotated[Cipher, Depends(cipher)]


PROJECT_FIELD = Field(
    None,
    max_length=250,
    pattern=r"^[\w.-]+$",
    description="Pinflow: the project it belongs to (its admins manage it); none: instance-wide",
)


def _checks(body_id: str, path_id: str, team_name: str | None) -> None:
    if body_id != path_id:
        raise InvalidInputError(f"The id in the body ({body_id!r}) does not match the URL.")
    if team_name is not None:
        raise InvalidInputError("team_name: Pinflow has no teams (use `project`).")


def no_move(given: set[str]) -> None:
    """The project is chosen at creation: moving a secret between projects is a new one."""
    if "project" in given:
        raise InvalidInputError(
            "project: cannot be changed; delete it and create it again in the other project."
        )


# --- variables ---------------------------------------------------------------------------------


class VariableResponse(BaseModel):
    key: str
    project: str | None = Field(None, description="Pinflow: none when instance-wide")
    value: str | None
    description: str | None
    is_encrypted: bool = True
    team_name: str | None = None

    @classmethod
    def of(cls, v: VariableView) -> VariableResponse:
        return cls(key=v.key, project=v.project, value=v.value, description=v.description)


class VariableCollectionResponse(BaseModel):
    variables: list[VariableResponse]
    total_entries: int


class VariableBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(min_length=1, max_length=_KEY)
    value: JsonValue = Field(description="Stored as text: a string as is, anything else as JSON")
    description: str | None = None
    team_name: str | None = None
    project: str | None = PROJECT_FIELD

    def changes(self, fields: set[str]) -> dict[str, Any]:
        text = self.value if isinstance(self.value, str) else json.dumps(self.value)
        values = {"value": text, "description": self.description}
        return {f: values[f] for f in fields}


@router.get("/variables", response_model=VariableCollectionResponse, tags=["Variable"])
def get_variables(
    *,
    db: DbDep,
    key: CipherDep,
    principal: PrincipalDep,
    paging: PageDep,
    order_by: OrderBy = None,
    variable_key_pattern: Annotated[str | None, Query(max_length=_KEY)] = None,
) -> VariableCollectionResponse:
    found, total = resources.list_variables(
        db,
        key,
        principal,
        key_pattern=variable_key_pattern,
        order_by=order_by or ["id"],
        page=paging,
    )
    variables = [VariableResponse.of(v) for v in found]
    return VariableCollectionResponse(variables=variables, total_entries=total)


@router.get("/variables/{variable_key}", response_model=VariableResponse, tags=["Variable"])
def get_variable(
    db: DbDep, key: CipherDep, variable_key: str, principal: PrincipalDep
) -> VariableResponse:
    return VariableResponse.of(resources.get_variable(db, key, principal, variable_key))


@router.post("/variables", status_code=201, response_model=VariableResponse, tags=["Variable"])
def post_variable(
    db: DbDep, key: CipherDep, body: VariableBody, principal: PrincipalDep
) -> VariableResponse:
    _checks(body.key, body.key, body.team_name)
    changes = body.changes({"value", "description"})
    view = resources.set_variable(
        db, key, principal, body.key, changes, create=True, project=body.project
    )
    return VariableResponse.of(view)


@router.patch("/variables/{variable_key}", response_model=VariableResponse, tags=["Variable"])
def patch_variable(
    *,
    db: DbDep,
    key: CipherDep,
    variable_key: str,
    body: VariableBody,
    principal: PrincipalDep,
    update_mask: UpdateMask = None,
) -> VariableResponse:
    """Change the value and/or the description (those ``update_mask`` names, else both)."""
    _checks(body.key, variable_key, body.team_name)
    no_move(body.model_fields_set)
    fields = update_fields(update_mask, {"value", "description"}, {"value", "description"})
    view = resources.set_variable(
        db, key, principal, variable_key, body.changes(fields), create=False
    )
    return VariableResponse.of(view)


@router.delete(
    "/variables/{variable_key}", status_code=204, response_class=Response, tags=["Variable"]
)
def delete_variable(db: DbDep, variable_key: str, principal: PrincipalDep) -> Response:
    resources.delete_variable(db, principal, variable_key)
    return Response(status_code=204)


# --- connections -------------------------------------------------------------------------------


class ConnectionResponse(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    connection_id: str
    project: str | None = Field(None, description="Pinflow: none when instance-wide")
    conn_type: str
    description: str | None
    host: str | None
    login: str | None
    schema_: str | None = Field(alias="schema")
    port: int | None
    password: None = Field(None, description="Write-only: never returned")
    extra: str | None = Field(description="JSON; sensitive keys masked")
    has_password: bool = Field(description="Pinflow: whether a password is stored")
    team_name: str | None = None

    @classmethod
    def of(cls, c: ConnectionView) -> ConnectionResponse:
        return cls(
            connection_id=c.connection_id,
            project=c.project,
            conn_type=c.conn_type,
            description=c.description,
            host=c.host,
            login=c.login,
            schema_=c.schema,
            port=c.port,
            extra=c.extra,
            has_password=c.has_password,
        )


class ConnectionCollectionResponse(BaseModel):
    connections: list[ConnectionResponse]
    total_entries: int


class ConnectionBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    connection_id: str = Field(min_length=1, max_length=200, pattern=r"^[\w.-]+$")
    conn_type: str = Field(min_length=1, max_length=500)
    description: str | None = None
    host: str | None = Field(None, max_length=500)
    login: str | None = None
    schema_: str | None = Field(None, alias="schema", max_length=500)
    port: int | None = Field(None, ge=0, le=65535)
    password: str | None = None
    extra: str | None = None
    team_name: str | None = None
    project: str | None = PROJECT_FIELD

    def changes(self, fields: set[str]) -> dict[str, Any]:
        return {f: getattr(self, "schema_" if f == "schema" else f) for f in fields}


_CONNECTION_FIELDS = {*resources.PLAIN_FIELDS, "schema", "password", "extra"}


def _given(body: ConnectionBody) -> set[str]:
    return {"schema" if f == "schema_" else f for f in body.model_fields_set}


@router.get("/connections", response_model=ConnectionCollectionResponse, tags=["Connection"])
def get_connections(
    *,
    db: DbDep,
    key: CipherDep,
    principal: PrincipalDep,
    paging: PageDep,
    order_by: OrderBy = None,
    connection_id_pattern: Annotated[str | None, Query(max_length=200)] = None,
) -> ConnectionCollectionResponse:
    found, total = resources.list_connections(
        db,
        key,
        principal,
        id_pattern=connection_id_pattern,
        order_by=order_by or ["id"],
        page=paging,
    )
    connections = [ConnectionResponse.of(c) for c in found]
    return ConnectionCollectionResponse(connections=connections, total_entries=total)


@router.get("/connections/{connection_id}", response_model=ConnectionResponse, tags=["Connection"])
def get_connection(
    db: DbDep, key: CipherDep, connection_id: str, principal: PrincipalDep
) -> ConnectionResponse:
    return ConnectionResponse.of(resources.get_connection(db, key, principal, connection_id))


@router.post(
    "/connections", status_code=201, response_model=ConnectionResponse, tags=["Connection"]
)
def post_connection(
    db: DbDep, key: CipherDep, body: ConnectionBody, principal: PrincipalDep
) -> ConnectionResponse:
    _checks(body.connection_id, body.connection_id, body.team_name)
    changes = body.changes(_given(body) & _CONNECTION_FIELDS | {"conn_type"})
    view = resources.set_connection(
        db, key, principal, body.connection_id, changes, create=True, project=body.project
    )
    return ConnectionResponse.of(view)


@router.patch(
    "/connections/{connection_id}", response_model=ConnectionResponse, tags=["Connection"]
)
def patch_connection(
    *,
    db: DbDep,
    key: CipherDep,
    connection_id: str,
    body: ConnectionBody,
    principal: PrincipalDep,
    update_mask: UpdateMask = None,
) -> ConnectionResponse:
    """Change the fields ``update_mask`` names, else those the body sets; a password that
    is not named is kept."""
    _checks(body.connection_id, connection_id, body.team_name)
    no_move(body.model_fields_set)
    fields = update_fields(update_mask, _CONNECTION_FIELDS, _given(body))
    view = resources.set_connection(
        db, key, principal, connection_id, body.changes(fields), create=False
    )
    return ConnectionResponse.of(view)


@router.delete(
    "/connections/{connection_id}", status_code=204, response_class=Response, tags=["Connection"]
)
def delete_connection(db: DbDep, connection_id: str, principal: PrincipalDep) -> Response:
    resources.delete_connection(db, principal, connection_id)
    return Response(status_code=204)
