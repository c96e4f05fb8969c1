"""Pinflow's own DAG-level routes under ``/api/dags/{dag_id}`` (the Airflow-shaped ones are
``/api/v2/dags``): the DAG's retirement policy and its preview (ADR 0031), and its version
lineage. Members of the DAG's project read them (``workflow:read``); editors and admins set
the policy (``workflow:update``). Another project's user is told the DAG does not exist.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter

from pinflow.api.auth import DbDep
from pinflow.api.retirement_schemas import (
    LineageOut,
    RetirementPolicyBody,
    RetirementPolicyOut,
    RetirementPreviewOut,
)
from pinflow.api.routes.v2_dags import on_dag
from pinflow.lifecycle.permissions import Permission, Principal
from pinflow.services.commands import retirement
from pinflow.services.reads import lineage
from pinflow.services.reads import retirement as policy_reads

router = APIRouter(prefix="/api/dags/{dag_id}", tags=["dags"])

Reader = Annotated[Principal, on_dag(Permission.WORKFLOW_READ)]
Updater = Annotated[Principal, on_dag(Permission.WORKFLOW_UPDATE)]


@router.get("/retirement-policy", response_model=RetirementPolicyOut)
def get_retirement_policy(db: DbDep, dag_id: str, _: Reader) -> RetirementPolicyOut:
    """The DAG's retirement policy (``isSet: false`` and every rule off when it has none)."""
    return RetirementPolicyOut.of(policy_reads.get_policy(db, dag_id))


@router.put("/retirement-policy", response_model=RetirementPolicyOut)
def put_retirement_policy(
    db: DbDep, dag_id: str, body: RetirementPolicyBody, principal: Updater
) -> RetirementPolicyOut:
    """Set the whole policy; the scheduler applies it (actor ``policy`` in the audit log)."""
    view = retirement.set_policy(db, dag_id, body.to_input(), actor=principal.username)
    return RetirementPolicyOut.of(view)


@router.get("/retirement-policy/preview", response_model=RetirementPreviewOut)
def preview_retirement_policy(db: DbDep, dag_id: str, _: Reader) -> RetirementPreviewOut:
    """What the policy will do next and when: due, scheduled and blocked actions, each with
    its rule and reason. Changes nothing."""
    return RetirementPreviewOut.of(policy_reads.preview(db, dag_id, now=datetime.now(UTC)))


@router.get("/lineage", response_model=LineageOut)
def get_lineage(db: DbDep, dag_id: str, _: Reader) -> LineageOut:
    """The DAG's versions, oldest first (``sourceWorkflowId`` links them), each with its
    lifecycle events and who did them, and its run figures; purged versions apart."""
    return LineageOut.of(lineage.lineage(db, dag_id))
