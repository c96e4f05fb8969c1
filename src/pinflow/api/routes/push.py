"""``POST /api/snapshots``: register a compiled snapshot (spec + code bundle), as CI does.

Idempotent by digest: 201 when a snapshot or a version was created, 200 when the same content
was already registered (``noop`` says whether anything changed at all).

``PUT``/``DELETE /api/import-errors``: ``pinflow dev`` reports a file that does not compile
and clears it once it does (read back as Airflow's ``/api/v2/importErrors``). The report names
the file's project (and its DAG, when known): only whoever may push that DAG may report or
clear its errors (``workflow:create`` in the project, and in the DAG's if it exists).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import io
import zipfile
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from pinflow.api.auth import DbDep, PrincipalDep, authorize
from pinflow.api.routes.v2_misc import ImportErrorResponse
from pinflow.api.schemas import Camel, Workflow
from pinflow.errors import NotFoundError
from pinflow.lifecycle.permissions import Permission, Principal
from pinflow.services.commands import import_errors, push
from pinflow.services.reads import dag_queries
from pinflow.spec.models import DagSpec
from pinflow.store.db import Database

router = APIRouter(prefix="/api", tags=["push"])
# The routes whose body the app caps at ``Settings.max_push_body_bytes`` (api/body_limit.py).
BODY_LIMITED_PATHS = ("/api/snapshots",)


def _zip_bundle(value: object) -> bytes:
    if not isinstance(value, str):
        raise ValueError("must be a base64-encoded zip archive (a string)")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("is not valid base64") from None
    if data and not zipfile.is_zipfile(io.BytesIO(data)):
        raise ValueError(
            "is not a zip archive (no end-of-archive record: truncated?); send the whole "
            "archive, base64-encoded"
        )
    return data


ZipBundle = Annotated[bytes, BeforeValidator(_zip_bundle)]


class PushBody(Camel):
    spec: DagSpec
    bundle: ZipBundle = Field(default=b"", description="The code bundle: a base64-encoded zip.")
    mode: push.PushMode = push.PushMode.PUBLISH
    deprecate_previous: bool = False


class Pushed(Camel):
    digest: str
    noop: bool
    version: int
    version_id: str
    snapshot_created: bool
    version_created: bool
    dag_created: bool
    dag_restored: bool
    deprecated_previous_version_id: str | None
    workflow: Workflow
    changed: list[str] = Field(
        default_factory=list,
        description="What differs from the version that was current (a file changed, added "
        "or removed, or the spec): why this push made a new version (ADR 0041)",
    )


def _authorize_push(db: Database, principal: Principal, body: PushBody) -> None:
    """Create rights in the spec's project and in the existing DAG's (pushing a version into
    someone else's DAG is acting on it); publishing also needs update rights."""
    needed = [Permission.WORKFLOW_CREATE]
    if body.mode == push.PushMode.PUBLISH or body.deprecate_previous:
        needed.append(Permission.WORKFLOW_UPDATE)
    may_push(db, principal, body.spec.project, body.spec.dag_id, needed)


def may_push(
    db: Database,
    principal: Principal,
    project: str,
    dag_id: str | None,
    needed: list[Permission],
) -> None:
    """``needed`` in ``project`` and in the project of DAG ``dag_id`` if it exists."""
    projects = {project}
    if dag_id is not None:
        with contextlib.suppress(NotFoundError):  # a new DAG: only the spec's project counts
            projects.add(dag_queries.get_dag(db, dag_id, include_deregistered=True).project)
    for name in sorted(projects):
        for permission in needed:
            authorize(principal, permission, name)


@router.post(
    "/snapshots",
    status_code=201,
    response_model=Pushed,
    responses={200: {"model": Pushed, "description": "Already registered (idempotent)"}},
)
def push_snapshot(
    db: DbDep, principal: PrincipalDep, body: PushBody, request: Request, response: Response
) -> Pushed:
    """Register a snapshot; ``mode`` publish (default), draft, or dev (hot reload).

    The bundle's entries and the size limits are checked before anything is written
    (``pinflow.spec.bundle_rules``); a body over the limit is refused with 413 unread."""
    _authorize_push(db, principal, body)
    result = push.register_snapshot(
        db,
        body.spec,
        body.bundle,
        actor=principal.username,
        mode=body.mode,
        deprecate_previous=body.deprecate_previous,
        limits=request.app.state.settings.bundle_limits,
        paused_at_creation=request.app.state.settings.dags_are_paused_at_creation,
    )
    if not (result.snapshot_created or result.version_created):
        response.status_code = 200
    return Pushed(
        digest=result.digest,
        noop=result.noop,
        version=result.version.version,
        version_id=result.version.id,
        snapshot_created=result.snapshot_created,
        version_created=result.version_created,
        dag_created=result.dag_created,
        dag_restored=result.dag_restored,
        deprecated_previous_version_id=result.deprecated_previous_id,
        workflow=Workflow.of(result.version),
        changed=list(result.changed),
    )


# --- import errors (``pinflow dev``) -------------------------------------------------------------

FILENAME_LEN = 1024
_ID = r"^[\w.-]+$"


class ImportErrorBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project: str = Field(min_length=1, max_length=250, pattern=_ID, description="The DAG's project")
    dag_id: str | None = Field(None, max_length=250, description="The DAG, when known")
    filename: str = Field(min_length=1, max_length=FILENAME_LEN, description="As the CLI shows it")
    message: str = Field(min_length=1, max_length=1_000_000, description="The compile error")
    bundle_name: str | None = Field(None, max_length=FILENAME_LEN, description="The watched path")


@router.put("/import-errors", response_model=ImportErrorResponse, tags=["ImportError"])
def report_import_error(
    db: DbDep, principal: PrincipalDep, body: ImportErrorBody
) -> ImportErrorResponse:
    """Record (or replace) a file's compile error."""
    may_push(db, principal, body.project, body.dag_id, [Permission.WORKFLOW_CREATE])
    view = import_errors.report(
        db,
        body.project,
        body.filename,
        body.message,
        actor=principal.username,
        bundle_name=body.bundle_name,
    )
    return ImportErrorResponse.of(view)


@router.delete("/import-errors", status_code=204, response_class=Response, tags=["ImportError"])
def clear_import_error(
    db: DbDep,
    principal: PrincipalDep,
    project: Annotated[str, Query(min_length=1, max_length=250, pattern=_ID)],
    filename: Annotated[str, Query(min_length=1, max_length=FILENAME_LEN)],
    dag_id: Annotated[str | None, Query(max_length=250)] = None,
) -> Response:
    """Forget a file's compile error (it compiles now); idempotent."""
    may_push(db, principal, project, dag_id, [Permission.WORKFLOW_CREATE])
    import_errors.clear(db, project, filename, actor=principal.username)
    return Response(status_code=204)
