"""Seed 000's amendment end to end on the store: fix the DAG, clear the failed task, it passes.

A run on v1 fails at B; v2 is pushed; clearing B re-binds the run to v2, B is re-executed on
v2's definition and A's result is kept. Variants: v2 removed B; v2 added C after B.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from pinflow.lifecycle.rebind import PlanAction
from pinflow.lifecycle.states import RunState, TaskState
from pinflow.services.commands import _clear as clear
from pinflow.services.commands import _push as push
from pinflow.services.commands import _runs as runs
from pinflow.spec.models import DagSpec, TaskSpec
from pinflow.store.db import Database
from pinflow.store.tables import AuditEvent, DagRun, TaskInstance, TaskInstanceTry
from pinflow.testing import ExecutionContext, TaskOutcome, run_until_idle

BROKEN = "exit 1"


def spec(tasks: dict[str, tuple[str, list[str]]]) -> DagSpec:
    return DagSpec(
        dag_id="etl",
        name="ETL",
        tasks=[
            TaskSpec(task_id=t, kind="bash", bash_command=cmd, depends_on=ups)
            for t, (cmd, ups) in tasks.items()
        ],
    )


V1 = spec({"a": ("echo a", []), "b": (BROKEN, ["a"])})


def bash_like(ctx: ExecutionContext) -> TaskOutcome:
    """Succeeds unless the pinned definition of the task says ``exit 1``."""
    ok = ctx.task.bash_command != BROKEN
    return TaskOutcome(success=ok, value=ctx.task.bash_command, error=None if ok else "exit 1")


def fail_then(db: Database) -> tuple[str, str]:
    v1 = push.register_snapshot(db, V1, b"", actor="ci").version
    run = runs.trigger_run(db, dag_id="etl", actor="alice")
    run_until_idle(db, bash_like)
    assert states(db, run.run_id) == {"a": TaskState.SUCCESS, "b": TaskState.FAILED}
    assert runs.get_run(db, "etl", run.run_id).state == RunState.FAILED
    return v1.id, run.run_id


def states(db: Database, run_id: str) -> dict[str, TaskState]:
    with db.read() as s:
        rows = s.execute(
            select(TaskInstance.task_id, TaskInstance.state)
            .join(DagRun, DagRun.id == TaskInstance.run_pk)
            .where(DagRun.run_id == run_id)
        ).all()
    return {t: TaskState(st) for t, st in rows}


def tries(db: Database, run_id: str, task_id: str) -> list[tuple[int, str, str]]:
    with db.read() as s:
        rows = s.execute(
            select(
                TaskInstanceTry.try_number, TaskInstanceTry.state, TaskInstanceTry.snapshot_digest
            )
            .join(TaskInstance, TaskInstance.id == TaskInstanceTry.ti_id)
            .join(DagRun, DagRun.id == TaskInstance.run_pk)
            .where(DagRun.run_id == run_id, TaskInstance.task_id == task_id)
            .order_by(TaskInstanceTry.try_number)
        ).all()
    return [(n, st, d) for n, st, d in rows]


def test_fix_clear_and_watch_it_pass(db: Database) -> None:
    v1_id, run_id = fail_then(db)
    v2 = push.register_snapshot(
        db, spec({"a": ("echo a", []), "b": ("echo fixed", ["a"])}), b"", actor="ci"
    ).version

    dry = clear.clear_task_instances(
        db, "etl", actor="alice", task_ids=["b"], dag_run_id=run_id, dry_run=True
    )
    plan = dry.runs[0].plan
    assert (plan.from_version_id, plan.to_version_id) == (v1_id, v2.id)
    assert {e.task_id: e.action for e in plan.entries} == {
        "a": PlanAction.REUSED,
        "b": PlanAction.RE_EXECUTED,
    }
    assert runs.get_run(db, "etl", run_id).version_id == v1_id  # the dry run changed nothing

    clear.clear_task_instances(db, "etl", actor="alice", task_ids=["b"], dag_run_id=run_id)
    rebound = runs.get_run(db, "etl", run_id)
    assert (rebound.version_id, rebound.snapshot_digest) == (v2.id, v2.snapshot_digest)
    run_until_idle(db, bash_like)

    assert runs.get_run(db, "etl", run_id).state == RunState.SUCCESS
    assert states(db, run_id) == {"a": TaskState.SUCCESS, "b": TaskState.SUCCESS}
    b_tries = tries(db, run_id, "b")
    assert [(n, st) for n, st, _ in b_tries] == [(1, "failed"), (2, "success")]
    assert [d for _, _, d in b_tries] == [push_digest(V1), v2.snapshot_digest]
    assert len(tries(db, run_id, "a")) == 1  # A was not re-run: its result is kept
    assert cleared_event(db)["fromVersionId"] == v1_id
    assert cleared_event(db)["toVersionId"] == v2.id


def push_digest(s: DagSpec) -> str:
    from pinflow.spec.canonical import snapshot_digest

    return snapshot_digest(s, b"")


def cleared_event(db: Database) -> dict[str, Any]:
    with db.read() as s:
        row = s.scalars(select(AuditEvent).where(AuditEvent.action == "run.tasks_cleared")).one()
        return dict(row.meta)


def test_v2_removed_the_failed_task(db: Database) -> None:
    _, run_id = fail_then(db)
    push.register_snapshot(db, spec({"a": ("echo a", [])}), b"", actor="ci")
    result = clear.clear_task_instances(db, "etl", actor="alice", task_ids=["b"], dag_run_id=run_id)
    assert result.runs[0].plan.task_ids(PlanAction.REMOVED) == ["b"]
    run_until_idle(db, bash_like)
    assert states(db, run_id) == {"a": TaskState.SUCCESS, "b": TaskState.REMOVED}
    assert runs.get_run(db, "etl", run_id).state == RunState.SUCCESS
    assert len(tries(db, run_id, "b")) == 1  # nothing was scheduled for the removed task


def test_v2_added_a_task_after_the_fixed_one(db: Database) -> None:
    _, run_id = fail_then(db)
    v3 = spec({"a": ("echo a", []), "b": ("echo fixed", ["a"]), "c": ("echo c", ["b"])})
    push.register_snapshot(db, v3, b"", actor="ci")
    result = clear.clear_task_instances(db, "etl", actor="alice", task_ids=["b"], dag_run_id=run_id)
    assert result.runs[0].plan.task_ids(PlanAction.NEW) == ["c"]
    run_until_idle(db, bash_like)
    assert states(db, run_id) == {a: TaskState.SUCCESS for a in "abc"}
    assert [st for _, st, _ in tries(db, run_id, "c")] == ["success"]
    assert runs.get_run(db, "etl", run_id).state == RunState.SUCCESS


def test_run_on_latest_version_false_keeps_the_pin(db: Database) -> None:
    v1_id, run_id = fail_then(db)
    push.register_snapshot(
        db, spec({"a": ("echo a", []), "b": ("echo fixed", ["a"])}), b"", actor="ci"
    )
    clear.clear_task_instances(
        db, "etl", actor="alice", task_ids=["b"], dag_run_id=run_id, run_on_latest_version=False
    )
    assert runs.get_run(db, "etl", run_id).version_id == v1_id
    run_until_idle(db, bash_like)
    assert states(db, run_id)["b"] == TaskState.FAILED  # still v1's broken definition


def test_same_version_clear_is_a_plain_reset(db: Database) -> None:
    _, run_id = fail_then(db)
    result = clear.clear_task_instances(db, "etl", actor="alice", dag_run_id=run_id)
    plan = result.runs[0].plan
    assert not plan.rebinds
    assert plan.task_ids(PlanAction.RE_EXECUTED) == ["b"]
    assert runs.get_run(db, "etl", run_id).state == RunState.QUEUED


def test_a_clear_rebinds_to_the_current_version_even_when_its_snapshot_is_the_same(
    db: Database,
) -> None:
    """Seed 000: on reset the run's version becomes the DAG's current one. A v2 published from
    a copy of v1 has v1's snapshot, yet it is another version: the plan must say it re-binds,
    and the run must end up pinned to v2, not to the deprecated v1 (issue #16, point 6)."""
    from pinflow.services.commands import _versions as versions

    v1_id, run_id = fail_then(db)
    draft = versions.create_version(db, v1_id, actor="alice")
    v2 = versions.publish(db, draft.id, actor="alice", deprecate_previous_version_id=v1_id)
    assert v2.version.id == draft.id

    dry = clear.clear_task_instances(db, "etl", actor="alice", dag_run_id=run_id, dry_run=True)
    (planned,) = dry.runs
    assert (planned.plan.from_version_id, planned.plan.to_version_id) == (v1_id, draft.id)
    assert planned.plan.rebinds  # another version, though the same snapshot
    assert runs.get_run(db, "etl", run_id).version_id == v1_id  # a dry run changes nothing

    clear.clear_task_instances(db, "etl", actor="alice", dag_run_id=run_id)
    assert runs.get_run(db, "etl", run_id).version_id == draft.id
