"""Canary re-runs of a version (ADR 0030): ``POST /api/workflows/{id}/canary`` plans (with
``dryRun``) or starts them, ``GET /api/workflows/{id}/canary`` compares their outcomes.

Starting (and planning) needs ``run:create`` in the target version's project, as any run of
it does; the version whose runs are replayed must be readable by the caller, and one that is
not is the 404 a missing one gets. The comparison is a read (``workflow:read``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from pinflow.api.auth import DbDep, authorize
from pinflow.api.canary_schemas import CanaryBody, CanaryComparisonOut, CanaryPlanOut
from pinflow.api.routes.workflows import Reader, RunStarter
from pinflow.errors import NotFoundError
from pinflow.lifecycle.permissions import Permission, Principal
from pinflow.services.commands import canary
from pinflow.services.reads import canary as canary_reads
from pinflow.services.reads import queries
from pinflow.store.db import Database

router = APIRouter(prefix="/api/workflows", tags=["workflows"])


@router.post("/{workflow_id}/canary", status_code=201, response_model=CanaryPlanOut)
def start_canary(
    db: DbDep,
    workflow_id: str,
    principal: RunStarter,
    response: Response,
    body: CanaryBody | None = None,
) -> CanaryPlanOut:
    """Re-run the last runs of another version on this one as one action; with ``dryRun``
    only the plan: which runs, which tasks reuse the source run's results, which are re-run,
    new or removed (200)."""
    body = body or CanaryBody()
    if body.from_version_id is not None:
        _require_readable(db, principal, body.from_version_id)
    req = canary.CanaryRequest(
        workflow_id, body.from_version_id, body.last, body.failed_only, body.reuse
    )
    if body.dry_run:
        response.status_code = 200
        return CanaryPlanOut.of(canary.plan_canary(db, req), None)
    started = canary.start_canary(db, req, actor=principal.username)
    return CanaryPlanOut.of(started.plan, started.batch_id)


@router.get("/{workflow_id}/canary", response_model=CanaryComparisonOut)
def get_canary(
    db: DbDep,
    workflow_id: str,
    _: Reader,
    batch_id: Annotated[
        str | None,
        Query(alias="batchId", max_length=36, description="A canary's id; default the latest."),
    ] = None,
) -> CanaryComparisonOut:
    """The comparison of the latest canary on this version (or of ``batchId``): per run the
    source's state against the canary's (fixed, still failing, regressed...), per task what
    changed (state, duration, tries; new or removed), and a summary line."""
    return CanaryComparisonOut.of(canary_reads.latest_comparison(db, workflow_id, batch_id))


def _require_readable(db: Database, principal: Principal, version_id: str) -> None:
    hidden = f"Workflow version {version_id!r} (fromVersionId) was not found."
    try:
        other = queries.get_version(db, version_id)
    except NotFoundError:
        raise NotFoundError(hidden) from None
    authorize(principal, Permission.WORKFLOW_READ, other.project, hidden=hidden)
