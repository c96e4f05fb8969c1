"""The execution API (``/execution/v1``): what a remote worker calls for the one try it runs.

Like Airflow 3's Task Execution API, and ADR 0012. Every route is authenticated by the try's
token only (``Authorization: Bearer``, ``engine.TryTokens``): a user's access token or API
token is refused with 401, as is a missing, invalid or expired try token. A path naming
another task instance, another run or another snapshot than the token's is refused with 403
before anything is read or written. Stale tries are fenced by the engine's try rules: a
start, heartbeat or result of a try that is no longer the live one is a 409, and writes
nothing.

``PATCH …/run`` and ``PUT …/heartbeat`` answer a fresh token in ``Refreshed-API-Token``
(the try may run longer than one token's life); the worker uses the latest it was given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, JsonValue

from pinflow.api.auth import ArtifactsDep, DbDep
from pinflow.api.routes.v2_resources import CipherDep
from pinflow.api.schemas import MAX_INT
from pinflow.errors import AuthenticationError, PermissionDeniedError
from pinflow.runtime.contract import TaskResult
from pinflow.services.commands import resources
from pinflow.services.engine import (
    EXECUTION_SCOPE,
    QUEUE_SCOPE,
    TryClaims,
    TryTokens,
    remote_tries,
    set_rendered_fields,
)
from pinflow.settings import Settings

PREFIX = "/execution/v1"
REFRESHED_TOKEN = "Refreshed-API-Token"  # noqa: S105 - a header name
DIGEST_HEADER = "X-Pinflow-Snapshot-Digest"
MAX_LOG_CHUNK = 1024 * 1024  # characters of one log upload
_INT32 = 2**31 - 1

router = APIRouter(prefix=PREFIX, tags=["execution"])
_try_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="TryToken",
    description="The try token the executor gave the worker (never a user's token).",
)
TiId = Annotated[int, Path(ge=1, le=MAX_INT)]


def get_try_tokens(request: Request) -> TryTokens:
    tokens: TryTokens = request.app.state.try_tokens
    return tokens


def _claims(
    request: Request, credentials: HTTPAuthorizationCredentials | None, scopes: tuple[str, ...]
) -> TryClaims:
    if credentials is None or not credentials.credentials:
        raise AuthenticationError("Not authenticated: send 'Authorization: Bearer <try token>'.")
    return get_try_tokens(request).verify(credentials.credentials, scopes=scopes)


async def try_claims(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_try_bearer)],
) -> TryClaims:
    """The try the caller's token is for; 401 for anything but a valid try token. A
    coroutine (a token check is CPU only): no thread-pool hop per call."""
    return _claims(request, credentials, (EXECUTION_SCOPE,))


async def start_claims(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_try_bearer)],
) -> TryClaims:
    """As ``try_claims``, also taking the queue token a broker message carries."""
    return _claims(request, credentials, (EXECUTION_SCOPE, QUEUE_SCOPE))


ClaimsDep = Annotated[TryClaims, Depends(try_claims)]
StartClaimsDep = Annotated[TryClaims, Depends(start_claims)]


def _own_try(claims: TryClaims, ti_id: int) -> None:
    if ti_id != claims.ti_id:
        raise PermissionDeniedError("The try token is for another task instance.")


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _refreshed(request: Request, response: Response, claims: TryClaims) -> None:
    response.headers[REFRESHED_TOKEN] = get_try_tokens(request).issue(claims)


# --- schemas ------------------------------------------------------------------------------------


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StartBody(_Body):
    hostname: str = Field(min_length=1, max_length=255)
    pid: int = Field(ge=0, le=_INT32)


_SEQ: Any = Field(
    default=None,
    ge=0,
    le=_INT32,
    description="the piece's place in the try's log, from 0 (a piece sent twice is kept once); "
    "absent: after the last one",
)


class StateBody(_Body):
    """How the try ended: the runtime contract's ``TaskResult`` without its key (the token's)."""

    state: Literal["success", "failed", "skipped"]
    error: str | None = Field(default=None, max_length=4000)
    value: JsonValue = None
    value_uri: str | None = Field(default=None, max_length=2000)
    value_size: int | None = Field(default=None, ge=0, le=MAX_INT)
    value_sha256: str | None = Field(default=None, pattern="^[0-9a-f]{64}$")
    value_length: int | None = Field(default=None, ge=0, le=MAX_INT)
    exit_code: int | None = Field(default=None, ge=-_INT32, le=_INT32)
    duration: float = Field(default=0.0, ge=0, le=1e9)
    pid: int | None = Field(default=None, ge=0, le=_INT32)
    interrupted: bool = Field(
        default=False,
        description="the infrastructure ended the failed try (the worker stopped, its process "
        "was killed from outside): retried at once without spending one of the task's retries",
    )
    sensor: Literal["reschedule", "defer", "timeout"] | None = Field(
        default=None,
        description="a sensor's failed try that did not end: poked and not done (reschedule), "
        "waits on `trigger` (defer), or poked past its timeout (ADR 0036)",
    )
    trigger: dict[str, JsonValue] | None = Field(
        default=None, description="what a deferred sensor waits on (a time or a file)"
    )
    log: str | None = Field(
        default=None,
        max_length=MAX_LOG_CHUNK,
        description="the end of the try's log, kept with the result",
    )
    log_seq: int | None = _SEQ

    def result(self, claims: TryClaims) -> TaskResult:
        return TaskResult(
            ti_id=claims.ti_id,
            try_number=claims.try_number,
            success=self.state != "failed",
            skipped=self.state == "skipped",
            value=self.value,
            error=self.error,
            exit_code=self.exit_code,
            duration=self.duration,
            pid=self.pid,
            value_uri=self.value_uri,
            value_size=self.value_size,
            value_sha256=self.value_sha256,
            value_length=self.value_length,
            interrupted=self.interrupted and self.state == "failed",
            sensor=self.sensor if self.state == "failed" else None,
            trigger=dict(self.trigger) if self.trigger is not None else None,
        )


class StateResponse(BaseModel):
    state: str


class LogChunk(_Body):
    content: str = Field(max_length=MAX_LOG_CHUNK)
    seq: int | None = _SEQ


class SnapshotResponse(BaseModel):
    digest: str
    spec: dict[str, Any]
    bundle: str | None = Field(description="the code bundle (a zip), base64; null: no code")


class XComResponse(BaseModel):
    key: str
    value: Any


# --- routes -------------------------------------------------------------------------------------

_FENCED: dict[int | str, dict[str, Any]] = {
    409: {"description": "The try is no longer the live one: stop it"}
}


@router.patch(
    "/task-instances/{ti_id}/run",
    responses={200: {"description": "The try's TaskRequest (docs/runtime-contract.md)"}, **_FENCED},
)
def start_try(
    request: Request, db: DbDep, claims: StartClaimsDep, ti_id: TiId, body: StartBody
) -> JSONResponse:
    """The worker starts its try (``queued`` -> ``running``) and gets what it needs to run it."""
    _own_try(claims, ti_id)
    task_request, started = remote_tries.start_remote_try(
        db,
        claims,
        _settings(request),
        bundles_url=f"{str(request.base_url).rstrip('/')}{PREFIX}/snapshots",
        hostname=body.hostname,
        pid=body.pid,
    )
    response = JSONResponse(task_request.to_dict())
    _refreshed(request, response, claims.started_on(started.snapshot_digest))
    return response


@router.put("/task-instances/{ti_id}/heartbeat", status_code=204, responses=_FENCED)
def heartbeat(request: Request, db: DbDep, claims: ClaimsDep, ti_id: TiId) -> Response:
    """The try is alive; a 409 tells the worker to stop it (cleared or superseded)."""
    _own_try(claims, ti_id)
    remote_tries.heartbeat_remote_try(db, claims)
    response = Response(status_code=204)
    _refreshed(request, response, claims)
    return response


@router.patch("/task-instances/{ti_id}/state", response_model=StateResponse, responses=_FENCED)
def finish_try(
    request: Request, db: DbDep, claims: ClaimsDep, ti_id: TiId, body: StateBody
) -> StateResponse:
    """How the try ended; its run advances at once. A stale try's result writes nothing (nor
    the end of its log that came with it)."""
    _own_try(claims, ti_id)
    state = remote_tries.finish_remote_try(
        db,
        claims,
        body.result(claims),
        _settings(request),
        log=body.log,
        log_seq=body.log_seq,
    )
    return StateResponse(state=state.value)


@router.post("/task-instances/{ti_id}/logs", status_code=204)
def upload_log(db: DbDep, claims: ClaimsDep, ti_id: TiId, body: LogChunk) -> Response:
    """A piece of the try's log, kept where ``/api/v2/…/logs/{try_number}`` reads it on every
    API server; a piece sent again under the same ``seq`` is kept once."""
    _own_try(claims, ti_id)
    remote_tries.append_log(db, claims, body.content, seq=body.seq)
    return Response(status_code=204)


@router.put("/task-instances/{ti_id}/rtif", status_code=201, responses=_FENCED)
def put_rendered_fields(
    db: DbDep, claims: ClaimsDep, ti_id: TiId, body: dict[str, JsonValue]
) -> Response:
    """The running try's rendered template fields (Airflow 3's ``rtif``), kept with the try;
    a try that is no longer the live one writes nothing (409)."""
    _own_try(claims, ti_id)
    set_rendered_fields(db, claims, body)
    return Response(status_code=201)


@router.get("/snapshots/{digest}", response_model=SnapshotResponse)
def get_snapshot(
    db: DbDep, claims: ClaimsDep, digest: Annotated[str, Path(max_length=100)], response: Response
) -> SnapshotResponse:
    """The spec and code bundle of the try's own snapshot; the worker checks the digest."""
    if digest != claims.snapshot_digest:
        raise PermissionDeniedError("The try token is for another snapshot.")
    document = remote_tries.snapshot_document(db, digest)
    response.headers[DIGEST_HEADER] = document.digest
    bundle = remote_tries.encode_bundle(document.bundle)
    return SnapshotResponse(digest=document.digest, spec=document.spec, bundle=bundle)


@dataclass(frozen=True)
class XComAddress:
    """The task instance an XCom path names."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int

    def of_run(self, claims: TryClaims) -> bool:
        return (self.dag_id, self.run_id) == (claims.dag_id, claims.run_id)

    def of_task_instance(self, claims: TryClaims) -> bool:
        return self.of_run(claims) and (self.task_id, self.map_index) == (
            claims.task_id,
            claims.map_index,
        )


async def xcom_address(
    dag_id: Annotated[str, Path(max_length=250)],
    run_id: Annotated[str, Path(max_length=250)],
    task_id: Annotated[str, Path(max_length=250)],
    map_index: Annotated[int, Query(ge=-1, le=_INT32)] = -1,
) -> XComAddress:
    return XComAddress(dag_id, run_id, task_id, map_index)


XComAddressDep = Annotated[XComAddress, Depends(xcom_address)]


@router.get("/xcoms/{dag_id}/{run_id}/{task_id}", response_model=XComResponse)
def get_xcom(
    *,
    db: DbDep,
    artifacts: ArtifactsDep,
    claims: ClaimsDep,
    address: XComAddressDep,
    key: Annotated[str, Query(min_length=1, max_length=512)] = "return_value",
) -> XComResponse:
    """An XCom of the try's own run (404 when there is none)."""
    if not address.of_run(claims):
        raise PermissionDeniedError("The try token is for another run.")
    value = remote_tries.run_xcom(
        db,
        claims,
        address.task_id,
        map_index=address.map_index,
        key=key,
        artifacts=artifacts,
    )
    return XComResponse(key=key, value=value)


class XComBody(_Body):
    value: JsonValue


@router.post("/xcoms/{dag_id}/{run_id}/{task_id}", status_code=201, responses=_FENCED)
def push_xcom(
    *,
    request: Request,
    db: DbDep,
    claims: ClaimsDep,
    address: XComAddressDep,
    body: XComBody,
    key: Annotated[str, Query(min_length=1, max_length=250)],
) -> Response:
    """The running try pushes an XCom of its own task instance (``ti.xcom_push``); another
    task's, or a try that is no longer the live one, writes nothing."""
    if not address.of_task_instance(claims):
        raise PermissionDeniedError("The try token is for another task instance.")
    limit = _settings(request).xcom_db_limit
    remote_tries.push_xcom(db, claims, key, body.value, limit=limit)
    return Response(status_code=201)


class VariableResponse(BaseModel):
    key: str
    value: str


class ConnectionResponse(BaseModel):
    conn_id: str
    conn_type: str
    description: str | None
    host: str | None
    schema_: str | None = Field(alias="schema")
    login: str | None
    password: str | None
    port: int | None
    extra: str | None = Field(description="a JSON object, as text")


# Which variables and connections a try may read: the instance-wide ones and those of its own
# DAG's project (ADR 0017; Airflow 3 serves any of them to any task token). Another project's
# is a 404, as a missing one.


@router.get("/variables/{key}", response_model=VariableResponse)
def get_variable(
    db: DbDep,
    claims: ClaimsDep,
    cipher: CipherDep,
    key: Annotated[str, Path(min_length=1, max_length=250)],
) -> VariableResponse:
    """A variable's value, whole (``Variable.get`` in a task); 404 when there is none."""
    return VariableResponse(
        key=key, value=resources.variable_for_task(db, cipher, key, dag_id=claims.dag_id)
    )


@router.get(
    "/connections/{conn_id}", response_model=ConnectionResponse, response_model_by_alias=True
)
def get_connection(
    db: DbDep,
    claims: ClaimsDep,
    cipher: CipherDep,
    conn_id: Annotated[str, Path(min_length=1, max_length=250)],
) -> ConnectionResponse:
    """A connection with its password and extra (``BaseHook.get_connection`` in a task)."""
    return ConnectionResponse.model_validate(
        resources.connection_for_task(db, cipher, conn_id, dag_id=claims.dag_id)
    )
