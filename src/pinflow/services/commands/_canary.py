"""Canary re-runs: replay the last runs of one version on another, as one action (ADR 0030).

``plan_canary`` is the dry run: it reads, asks ``lifecycle.canary`` for the plan and changes
nothing. ``start_canary`` computes the same plan in its transaction and applies it: one run
of the target version per source run (same conf, logical date and data interval; run id
``canary__<source run>__<n>``), the reused tasks marked ``success`` with their XComs copied
from the source run, a ``canary_run`` row linking each run to its source, one
``workflow.canary_started`` audit event. Nothing touches the DAG's schedule.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from pinflow.errors import InvalidInputError, NotFoundError, PinflowError
from pinflow.lifecycle import canary
from pinflow.lifecycle import version_rules as rules
from pinflow.lifecycle.canary import CanaryAction, CanaryPlan, RunPlan, SourceRun, SourceTask
from pinflow.lifecycle.states import RunState, RunType, TaskState, VersionStatus
from pinflow.services import audit_events as events
from pinflow.services.audit_events import record
from pinflow.services.commands._versions import facts
from pinflow.services.common import dag_id_of, enforce, lock_dag, now
from pinflow.services.engine._run_rows import RunSpec, insert_run
from pinflow.spec.models import DagSpec
from pinflow.spec.params import validate_conf
from pinflow.store import repo
from pinflow.store.db import Database
from pinflow.store.tables import CanaryRun, Dag, DagRun, TaskInstance, WorkflowDefinition, XCom

DEFAULT_LAST = 5


@dataclass(frozen=True)
class CanaryRequest:
    """Which runs to replay on ``target_version_id``: the last ``last`` finished runs (only
    the failed ones with ``failed_only``) of ``source_version_id`` (default: the version the
    target was cloned from, else the DAG's current one)."""

    target_version_id: str
    source_version_id: str | None = None
    last: int = DEFAULT_LAST
    failed_only: bool = False
    reuse: bool = True


@dataclass(frozen=True)
class CanaryStarted:
    batch_id: str
    plan: CanaryPlan


def plan_canary(db: Database, req: CanaryRequest) -> CanaryPlan:
    """The dry run: what ``start_canary`` would do now."""
    with db.read() as s:
        target = _version(s, req.target_version_id)
        return _plan(s, target, _source_version(s, target, req), req)


def start_canary(db: Database, req: CanaryRequest, *, actor: str) -> CanaryStarted:
    """Start the canary runs of ``req`` in one transaction (see the module docstring)."""
    with db.transaction() as s:
        lock_dag(s, dag_id_of(s, req.target_version_id), include_deregistered=False)
        target = _version(s, req.target_version_id)
        enforce(rules.START_RUN, facts(target))
        source = _source_version(s, target, req)
        plan = _plan(s, target, source, req)
        if not plan.runs:
            which = "failed runs" if req.failed_only else "finished runs"
            raise InvalidInputError(
                f"{plan.source_label} has no {which} to replay: choose another version to "
                "compare with (fromVersionId), or drop the failed-only filter."
            )
        if plan.problems:
            raise InvalidInputError(
                "Some runs cannot be replayed on this version: " + "; ".join(plan.problems)
            )
        batch = str(uuid.uuid4())
        spec = repo.load_spec(s, target.snapshot_digest)
        kind = RunType.TEST if target.status == VersionStatus.DRAFT else RunType.MANUAL
        for run_plan in plan.runs:
            _start_one(
                s, target=target, spec=spec, kind=kind, plan=run_plan, batch=batch, actor=actor
            )
        runs = [
            {
                "sourceRunId": r.source_run_id,
                "canaryRunId": r.canary_run_id,
                "reused": r.task_ids(CanaryAction.REUSED),
            }
            for r in plan.runs
        ]
        record(s, actor, events.canary_started(source, target, batch, runs, reuse=req.reuse))
        return CanaryStarted(batch, plan)


def _version(s: Session, version_id: str) -> WorkflowDefinition:
    row = s.get(WorkflowDefinition, version_id)
    if row is None:
        raise NotFoundError(f"Workflow version {version_id!r} was not found.")
    return row


def _source_version(
    s: Session, target: WorkflowDefinition, req: CanaryRequest
) -> WorkflowDefinition:
    if req.source_version_id == target.id:
        raise InvalidInputError(
            "fromVersionId names this version itself: choose the version whose runs to replay."
        )
    source_id = req.source_version_id or target.source_workflow_id or _current_id(s, target)
    if source_id is None or source_id == target.id:
        raise InvalidInputError(
            "Name the version whose runs to replay (fromVersionId): this version was not "
            "cloned from another one and is the DAG's current version."
        )
    source = s.get(WorkflowDefinition, source_id)
    if source is None or source.dag_id != target.dag_id:
        raise NotFoundError(
            f"Workflow version {source_id!r} (fromVersionId) was not found in DAG "
            f"{target.dag_id!r}."
        )
    return source


def _current_id(s: Session, target: WorkflowDefinition) -> str | None:
    dag = s.get(Dag, target.dag_id)
    return dag.current_version_id if dag is not None else None


def _plan(
    s: Session, target: WorkflowDefinition, source: WorkflowDefinition, req: CanaryRequest
) -> CanaryPlan:
    if not 1 <= req.last <= canary.MAX_RUNS:
        raise InvalidInputError(
            f"last must be between 1 and {canary.MAX_RUNS} (a larger replay is a backfill)."
        )
    target_side = _side(s, target)
    runs = _source_runs(s, source, target_side.spec, req)
    return canary.plan_canary(_side(s, source), target_side, runs, reuse=req.reuse)


def _side(s: Session, row: WorkflowDefinition) -> canary.VersionSide:
    code = hashlib.sha256(repo.load_bundle(s, row.snapshot_digest)).hexdigest()
    label = canary.version_label(row.status, row.version)
    return canary.VersionSide(row.id, label, repo.load_spec(s, row.snapshot_digest), code)


def _source_runs(
    s: Session, source: WorkflowDefinition, target_spec: DagSpec, req: CanaryRequest
) -> list[SourceRun]:
    states = (
        [RunState.FAILED.value]
        if req.failed_only
        else [
            RunState.FAILED.value,
            RunState.SUCCESS.value,
        ]
    )
    rows = s.scalars(
        select(DagRun)
        .where(DagRun.version_id == source.id, DagRun.state.in_(states))
        .where(DagRun.id.not_in(select(CanaryRun.run_pk)))  # a replay is not a source
        .order_by(DagRun.id.desc())
        .limit(req.last)
    ).all()
    return [_source_run(s, run, target_spec) for run in rows]


def _source_run(s: Session, run: DagRun, target_spec: DagSpec) -> SourceRun:
    tasks: dict[str, SourceTask] = {}
    for task_id, state, map_index in s.execute(
        select(TaskInstance.task_id, TaskInstance.state, TaskInstance.map_index).where(
            TaskInstance.run_pk == run.id
        )
    ):
        mapped = map_index >= 0 or (task_id in tasks and tasks[task_id].mapped)
        tasks[task_id] = SourceTask(TaskState(state), mapped=mapped)
    in_artifacts = set(
        s.scalars(select(XCom.task_id).where(XCom.run_pk == run.id, XCom.artifact_uri.is_not(None)))
    )
    for task_id in in_artifacts & set(tasks):
        tasks[task_id] = SourceTask(tasks[task_id].state, tasks[task_id].mapped, True)
    params, problem = _params_on(target_spec, run)
    return SourceRun(
        run.id,
        run.run_id,
        RunState(run.state),
        dict(run.params or {}),
        tasks,
        params,
        problem,
        _earlier_canaries(s, run),
    )


def _params_on(spec: DagSpec, run: DagRun) -> tuple[dict[str, object] | None, str | None]:
    try:
        return validate_conf(spec, dict(run.conf or {})), None
    except PinflowError as exc:
        return None, str(exc)


def _earlier_canaries(s: Session, run: DagRun) -> int:
    """The highest ``n`` among this run's ``canary__<run>__<n>`` runs (0: none)."""
    prefix = canary.canary_run_id(run.run_id, 0)[: -len("0")]
    ids = s.scalars(
        select(DagRun.run_id).where(
            DagRun.dag_id == run.dag_id, DagRun.run_id.startswith(prefix, autoescape=True)
        )
    )
    numbers = [int(rid[len(prefix) :]) for rid in ids if rid[len(prefix) :].isdigit()]
    return max(numbers, default=0)


def _start_one(
    s: Session,
    *,
    target: WorkflowDefinition,
    spec: DagSpec,
    kind: RunType,
    plan: RunPlan,
    batch: str,
    actor: str,
) -> None:
    src = s.get(DagRun, plan.source_run_pk)
    assert src is not None  # read in this transaction
    conf = dict(src.conf or {})
    note = f"Canary of run {src.run_id!r} ({plan.source_state.value})"
    logical = src.logical_date or now()
    new = RunSpec(
        plan.canary_run_id,
        kind,
        actor,
        logical,
        src.data_interval_start or logical,
        src.data_interval_end or logical,
        conf,
        validate_conf(spec, conf),
        note,
    )
    run = insert_run(s, target, spec, new, meta={"canaryOf": src.run_id, "batchId": batch})
    reused = plan.task_ids(CanaryAction.REUSED)
    _reuse(s, src.id, run.id, reused)
    s.add(
        CanaryRun(
            run_pk=run.id,
            batch_id=batch,
            source_run_pk=src.id,
            source_run_id=src.run_id,
            source_state=plan.source_state.value,
            source_version_id=src.version_id,
            target_version_id=target.id,
            reused_task_ids=reused,
            created_by=actor,
            created_at=now(),
        )
    )


def _reuse(s: Session, source_pk: int, run_pk: int, task_ids: Sequence[str]) -> None:
    """Mark ``task_ids`` of the new run ``success`` without a try, with the source's XComs."""
    if not task_ids:
        return
    stamp = now()
    s.execute(
        update(TaskInstance)
        .where(TaskInstance.run_pk == run_pk, TaskInstance.task_id.in_(task_ids))
        .values(state=TaskState.SUCCESS.value, start_date=stamp, end_date=stamp)
    )
    for x in s.scalars(select(XCom).where(XCom.run_pk == source_pk, XCom.task_id.in_(task_ids))):
        s.add(
            XCom(
                run_pk=run_pk,
                task_id=x.task_id,
                map_index=x.map_index,
                key=x.key,
                value=x.value,
                value_length=x.value_length,
                size=x.size,
                created_at=stamp,
            )
        )
