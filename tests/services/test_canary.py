"""Canary re-runs on the store, with real runs drained by ``run_until_idle`` (ADR 0030).

v1 runs fail at ``load``; a draft of v1 fixes ``load``; the canary replays v1's runs on the
draft: ``extract`` and ``transform`` are reused from each source run (XComs and all),
``load`` runs on the draft's definition and passes; the comparison says "2 fixed".
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from pinflow.errors import InvalidInputError, NotFoundError
from pinflow.lifecycle.canary import CanaryAction, Outcome
from pinflow.lifecycle.states import RunState, RunType
from pinflow.services.commands import canary, push, runs, versions
from pinflow.services.commands._canary import CanaryRequest
from pinflow.services.engine import create_scheduled_runs
from pinflow.services.reads import canary as canary_reads
from pinflow.spec.models import DagSpec
from pinflow.store.db import Database
from pinflow.store.tables import AuditEvent, CanaryRun, Dag, DagRun, TaskInstance, XCom
from pinflow.testing import ExecutionContext, TaskOutcome, make_spec, run_until_idle

BROKEN = "exit 1"


def etl(load: str = BROKEN, **fields: Any) -> DagSpec:
    return make_spec(
        "etl",
        {"extract": [], "transform": ["extract"], "load": ["transform"]},
        task_fields={"load": {"bash_command": load}},
        **fields,
    )


executed: list[tuple[str, str]] = []


def bash_like(ctx: ExecutionContext) -> TaskOutcome:
    """Succeeds unless the pinned definition says ``exit 1``; returns the task's id."""
    executed.append((ctx.run_id, ctx.task_id))
    ok = ctx.task.bash_command != BROKEN
    return TaskOutcome(success=ok, value=f"{ctx.task_id}@{ctx.run_id}", error=None if ok else "1")


def failing_v1(db: Database, n: int = 2) -> tuple[str, list[str]]:
    v1 = push.register_snapshot(db, etl(), b"", actor="ci").version
    ids = [
        runs.trigger_run(db, dag_id="etl", actor="alice", conf={"day": str(i)}).run_id
        for i in range(n)
    ]
    run_until_idle(db, bash_like)
    return v1.id, ids


def fixed_draft(db: Database, v1_id: str) -> str:
    draft = versions.create_version(db, v1_id, actor="bob")
    versions.edit_draft(db, draft.id, etl(load="echo fixed"), actor="bob")
    return draft.id


def test_dry_run_plans_and_changes_nothing(db: Database) -> None:
    v1, ids = failing_v1(db)
    draft = fixed_draft(db, v1)
    plan = canary.plan_canary(db, CanaryRequest(draft, failed_only=True))
    assert (plan.source_label, plan.target_label) == ("v1", "draft of v1")
    assert [r.source_run_id for r in plan.runs] == list(reversed(ids))  # newest first
    assert plan.changed_tasks == ("load",)
    for r in plan.runs:
        assert r.task_ids(CanaryAction.REUSED) == ["extract", "transform"]
        assert r.task_ids(CanaryAction.RERUN) == ["load"]
    with db.read() as s:
        assert s.scalars(select(CanaryRun)).all() == []
        assert len(s.scalars(select(DagRun)).all()) == 2


def test_canary_reuses_upstream_results_and_fixes_the_runs(db: Database) -> None:
    v1, ids = failing_v1(db)
    draft = fixed_draft(db, v1)
    executed.clear()
    started = canary.start_canary(db, CanaryRequest(draft, last=5), actor="carol")
    canary_ids = [r.canary_run_id for r in started.plan.runs]
    assert sorted(canary_ids) == sorted(f"canary__{i}__1" for i in ids)
    run_until_idle(db, bash_like)
    assert sorted(executed) == sorted((c, "load") for c in canary_ids)  # only load ran
    with db.read() as s:
        rows = {r.run_id: r for r in s.scalars(select(DagRun).where(DagRun.run_id.in_(canary_ids)))}
        source = {r.run_id: r for r in s.scalars(select(DagRun).where(DagRun.run_id.in_(ids)))}
        for src_id in ids:
            run = rows[f"canary__{src_id}__1"]
            assert (run.version_id, run.run_type, run.state) == (draft, RunType.TEST, "success")
            assert run.conf == source[src_id].conf  # same conf and logical date
            assert run.logical_date == source[src_id].logical_date
            xcom = s.scalars(
                select(XCom.value).where(XCom.run_pk == run.id, XCom.task_id == "transform")
            ).one()
            assert xcom == f"transform@{src_id}"  # the source run's output, reused
            tries = dict(
                s.execute(
                    select(TaskInstance.task_id, TaskInstance.try_number).where(
                        TaskInstance.run_pk == run.id
                    )
                ).all()
            )
            assert tries == {"extract": 0, "transform": 0, "load": 1}
        event = s.scalars(
            select(AuditEvent).where(AuditEvent.action == "workflow.canary_started")
        ).one()
        assert (event.actor, event.target_id) == ("carol", draft)
        assert event.meta["sourceWorkflowId"] == v1
        assert sorted(r["canaryRunId"] for r in event.meta["runs"]) == sorted(canary_ids)
    report = canary_reads.latest_comparison(db, draft)
    assert report.summary == "draft of v1 vs v1 on 2 runs: 2 fixed, 0 still failing, 0 regressed"
    assert {r.outcome for r in report.runs} == {Outcome.FIXED}
    changes = {t.task_id: t.change for t in report.runs[0].tasks}
    assert changes == {"extract": "reused", "transform": "reused", "load": "state"}
    load = next(t for t in report.runs[0].tasks if t.task_id == "load")
    assert (load.source.state, load.canary.state) == ("failed", "success")  # type: ignore[union-attr]


def test_published_version_canary_counts_new_and_removed_and_regressions(db: Database) -> None:
    daily = {"schedule": "@daily", "start_date": "2100-01-01T00:00:00Z"}
    v1 = push.register_snapshot(db, etl(load="echo ok", trigger=daily), b"", actor="ci").version
    ok = runs.trigger_run(db, dag_id="etl", actor="alice").run_id
    run_until_idle(db, bash_like)
    v2_spec = make_spec(
        "etl",
        {"extract": [], "transform": ["extract"], "report": ["transform"]},
        task_fields={"report": {"bash_command": BROKEN}},
        trigger=daily,
    )
    v2 = push.register_snapshot(db, v2_spec, b"", actor="ci").version
    position = datetime(2100, 1, 2, tzinfo=UTC)  # as the cron sweep leaves it
    assert create_scheduled_runs(db, "etl", version_id=v2.id, intervals=[], next_due=position) == 0
    plan = canary.plan_canary(db, CanaryRequest(v2.id, source_version_id=v1.id))
    actions = {t.task_id: t.action for t in plan.runs[0].tasks}
    assert actions["report"] == CanaryAction.NEW
    assert actions["load"] == CanaryAction.REMOVED
    canary.start_canary(db, CanaryRequest(v2.id, source_version_id=v1.id), actor="carol")
    again = canary.start_canary(db, CanaryRequest(v2.id, source_version_id=v1.id), actor="carol")
    assert again.plan.runs[0].canary_run_id == f"canary__{ok}__2"  # numbered, never clashing
    run_until_idle(db, bash_like)
    report = canary_reads.latest_comparison(db, v2.id)
    assert report.summary == "v2 vs v1 on 1 run: 0 fixed, 0 still failing, 1 regressed"
    changes = {t.task_id: t.change for t in report.runs[0].tasks}
    assert changes["report"] == "new"
    assert changes["load"] == "removed"
    with db.read() as s:
        run = s.scalars(select(DagRun).where(DagRun.run_id == f"canary__{ok}__1")).one()
        assert run.run_type == RunType.MANUAL
        assert run.state == RunState.FAILED
        assert s.get(Dag, "etl").next_dagrun_after == position  # type: ignore[union-attr]
        scheduled = select(DagRun).where(DagRun.run_type == RunType.SCHEDULED.value)
        assert s.scalars(scheduled).all() == []
    # Canary runs are not sources: replaying v2 on v1 finds no run of v2 to replay.
    with pytest.raises(InvalidInputError, match="v2 has no finished runs to replay"):
        canary.start_canary(db, CanaryRequest(v1.id, source_version_id=v2.id), actor="carol")


def test_refusals(db: Database) -> None:
    v1, _ = failing_v1(db, n=1)
    with pytest.raises(InvalidInputError, match="fromVersionId"):
        canary.plan_canary(db, CanaryRequest(v1))  # its own source
    with pytest.raises(InvalidInputError, match="names this version itself"):
        canary.plan_canary(db, CanaryRequest(v1, source_version_id=v1))
    draft = fixed_draft(db, v1)
    with pytest.raises(InvalidInputError, match="last must be between 1 and 50"):
        canary.plan_canary(db, CanaryRequest(draft, last=0))
    with pytest.raises(NotFoundError, match="fromVersionId"):
        canary.plan_canary(db, CanaryRequest(draft, source_version_id="nope"))
    with pytest.raises(NotFoundError, match="no canary runs"):
        canary_reads.latest_comparison(db, draft)
    strict = etl(load="echo fixed", params={"day": {"type": "integer", "required": True}})
    versions.edit_draft(db, draft, strict, actor="bob")
    plan = canary.plan_canary(db, CanaryRequest(draft))
    assert plan.runs[0].problem is not None
    assert "conf.day" in plan.runs[0].problem
    with pytest.raises(InvalidInputError, match="cannot be replayed"):
        canary.start_canary(db, CanaryRequest(draft), actor="carol")
    versions.deprecate(db, v1, actor="ci")
    other = push.register_snapshot(db, etl(load="echo x"), b"", actor="ci").version
    versions.deprecate(db, other.id, actor="ci")
    with pytest.raises(InvalidInputError, match="Deprecated workflows cannot start new runs"):
        canary.start_canary(db, CanaryRequest(other.id, source_version_id=v1), actor="carol")
    with db.read() as s:
        assert s.scalars(select(CanaryRun)).all() == []
