"""Runs progressing end to end: scheduling, claiming, reporting, retries, limits, XComs.

Every test that takes ``db`` runs on SQLite and, when configured, on PostgreSQL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from pinflow.errors import ConflictError, InvalidInputError, NotFoundError
from pinflow.lifecycle.states import RunState, TaskState
from pinflow.services.commands._push import register_snapshot
from pinflow.services.commands._runs import get_run, trigger_run
from pinflow.services.engine._claims import ClaimedTask, claim_scheduled
from pinflow.services.engine._heartbeats import heartbeat
from pinflow.services.engine._new_runs import start_queued_runs
from pinflow.services.engine._reports import XCOM_DB_LIMIT_BYTES, finish_task
from pinflow.services.engine._starts import start_task
from pinflow.services.engine._sweep import schedule_pass
from pinflow.services.reads._views import RunView
from pinflow.services.xcom_values import value_of as get_xcom
from pinflow.spec.models import DagSpec, ErrorStrategy
from pinflow.store.db import Database
from pinflow.store.tables import AuditEvent, Dag, DagRun, TaskInstance, TaskInstanceTry, XCom
from pinflow.testing import (
    ExecutionContext,
    TaskOutcome,
    make_spec,
    run_until_idle,
    scripted,
)

DIAMOND = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}
T0 = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)


def publish(db: Database, spec: DagSpec) -> str:
    return register_snapshot(db, spec, b"", actor="alice").version.id


def start(db: Database, spec: DagSpec, **kwargs: Any) -> RunView:
    publish(db, spec)
    return trigger_run(db, dag_id=spec.dag_id, actor="alice", **kwargs)


def task_instances(db: Database, run_pk: int) -> dict[str, TaskInstance]:
    with db.read() as s:
        rows = s.scalars(select(TaskInstance).where(TaskInstance.run_pk == run_pk)).all()
        return {row.task_id: row for row in rows}


def states(db: Database, run_pk: int) -> dict[str, TaskState]:
    return {t: TaskState(ti.state) for t, ti in task_instances(db, run_pk).items()}


def tries(db: Database, ti_id: int) -> list[TaskInstanceTry]:
    with db.read() as s:
        stmt = select(TaskInstanceTry).where(TaskInstanceTry.ti_id == ti_id)
        return list(s.scalars(stmt.order_by(TaskInstanceTry.try_number)))


def dump(db: Database) -> dict[str, list[dict[str, Any]]]:
    """Every row a report could touch, to prove that a refused report changed nothing."""
    tables = {
        "run": DagRun,
        "ti": TaskInstance,
        "try": TaskInstanceTry,
        "xcom": XCom,
        "audit": AuditEvent,
    }
    with db.read() as s:
        return {
            name: [
                {c.key: getattr(row, c.key) for c in table.__mapper__.column_attrs}
                for row in s.scalars(select(table).order_by(table.id))
            ]
            for name, table in tables.items()
        }


def claim_one(db: Database, run_pk: int | None = None) -> ClaimedTask:
    claimed = claim_scheduled(db, limit=1, run_pk=run_pk)
    assert len(claimed) == 1
    return claimed[0]


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)


# --- end to end -----------------------------------------------------------------------------------


def test_a_diamond_runs_to_success(db: Database) -> None:
    version_id = publish(db, make_spec("diamond", DIAMOND))
    run = trigger_run(db, dag_id="diamond", actor="alice")
    order: list[str] = []

    def handler(ctx: ExecutionContext) -> TaskOutcome:
        order.append(ctx.task_id)
        return TaskOutcome(success=True)

    assert run_until_idle(db, handler) == 4
    assert order[0] == "a"
    assert sorted(order[1:3]) == ["b", "c"]
    assert order[3] == "d"
    done = get_run(db, "diamond", run.run_id)
    assert done.state == RunState.SUCCESS
    assert done.start_date is not None
    assert done.end_date is not None
    assert done.start_date <= done.end_date
    for ti in task_instances(db, run.id).values():
        assert ti.state == TaskState.SUCCESS
        assert ti.try_number == 1
        assert ti.snapshot_digest == run.snapshot_digest
        [only] = tries(db, ti.id)
        assert (only.state, only.snapshot_digest, only.version_id) == (
            TaskState.SUCCESS,
            run.snapshot_digest,
            version_id,
        )
    with db.read() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "run.finished")).one()
    assert event.target_id == f"diamond/{run.run_id}"
    assert event.actor == "system"
    assert event.meta["outcome"] == "success"
    assert event.meta["failedTasks"] == []


def test_a_failed_branch_fails_the_join_and_the_run(db: Database) -> None:
    run = start(db, make_spec("diamond", DIAMOND))
    run_until_idle(db, scripted({"c": [False]}))
    assert states(db, run.id) == {
        "a": TaskState.SUCCESS,
        "b": TaskState.SUCCESS,
        "c": TaskState.FAILED,
        "d": TaskState.UPSTREAM_FAILED,
    }
    assert get_run(db, "diamond", run.run_id).state == RunState.FAILED
    with db.read() as s:
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "run.finished")).one()
    assert event.meta["outcome"] == "failed"
    assert event.meta["failedTasks"] == ["c", "d"]


def test_a_scripted_function_decides_per_try(db: Database) -> None:
    run = start(db, make_spec("diamond", DIAMOND))
    assert run_until_idle(db, scripted(lambda ctx: ctx.task_id != "b")) == 3
    assert states(db, run.id)["b"] == TaskState.FAILED
    assert states(db, run.id)["d"] == TaskState.UPSTREAM_FAILED


@pytest.mark.parametrize(
    ("strategy", "x_after", "y_after"),
    [
        # x was already queued when a failed: it finishes either way; y starts only on continue
        (ErrorStrategy.CONTINUE, TaskState.SUCCESS, TaskState.SUCCESS),
        (ErrorStrategy.FAIL_FAST, TaskState.SUCCESS, TaskState.UPSTREAM_FAILED),
    ],
)
def test_error_strategy(
    db: Database, strategy: ErrorStrategy, x_after: TaskState, y_after: TaskState
) -> None:
    spec = make_spec("two", {"a": [], "b": ["a"], "x": [], "y": ["x"]}, error_strategy=strategy)
    run = start(db, spec)
    run_until_idle(db, scripted({"a": [False]}))
    assert states(db, run.id) == {
        "a": TaskState.FAILED,
        "b": TaskState.UPSTREAM_FAILED,
        "x": x_after,
        "y": y_after,
    }
    assert get_run(db, "two", run.run_id).state == RunState.FAILED


def test_a_handler_that_raises_fails_its_try(db: Database) -> None:
    run = start(db, make_spec("boom", {"a": []}))

    def handler(ctx: ExecutionContext) -> TaskOutcome:
        raise RuntimeError("kaboom")

    run_until_idle(db, handler)
    ti = task_instances(db, run.id)["a"]
    assert ti.state == TaskState.FAILED
    [only] = tries(db, ti.id)
    assert only.error is not None
    assert "RuntimeError: kaboom" in only.error


def test_a_skipped_task_skips_its_downstream_and_the_run_succeeds(db: Database) -> None:
    run = start(db, make_spec("diamond", DIAMOND))
    run_until_idle(db, scripted({"b": [TaskOutcome(success=True, skipped=True)]}))
    assert states(db, run.id)["d"] == TaskState.SKIPPED
    assert get_run(db, "diamond", run.run_id).state == RunState.SUCCESS


# --- retries --------------------------------------------------------------------------------------


def test_retries_wait_for_their_backoff_delay_and_keep_a_row_per_try(db: Database) -> None:
    spec = make_spec(
        "flaky",
        {"a": []},
        default_args={"retries": 2, "retry_delay": 10, "retry_exponential_backoff": True},
    )
    run = start(db, spec)
    clock = Clock(T0)
    handler = scripted({"a": [False, False, True]})

    assert run_until_idle(db, handler, clock=clock) == 1
    ti = task_instances(db, run.id)["a"]
    assert (ti.state, ti.next_try_at) == (TaskState.UP_FOR_RETRY, T0 + timedelta(seconds=10))
    clock.advance(9)
    assert run_until_idle(db, handler, clock=clock) == 0  # not due yet
    clock.advance(1)
    assert run_until_idle(db, handler, clock=clock) == 1
    ti = task_instances(db, run.id)["a"]
    assert (ti.state, ti.next_try_at) == (TaskState.UP_FOR_RETRY, clock.at + timedelta(seconds=20))
    clock.advance(20)
    assert run_until_idle(db, handler, clock=clock) == 1

    assert get_run(db, "flaky", run.run_id).state == RunState.SUCCESS
    rows = tries(db, ti.id)
    assert [(r.try_number, r.state) for r in rows] == [
        (1, TaskState.UP_FOR_RETRY),
        (2, TaskState.UP_FOR_RETRY),
        (3, TaskState.SUCCESS),
    ]
    assert {r.snapshot_digest for r in rows} == {run.snapshot_digest}
    assert rows[0].error == "scripted failure of a (try 1)"


def test_ignore_retry_delay_drains_retries_at_once(db: Database) -> None:
    spec = make_spec(
        "flaky", {"a": [], "b": ["a"]}, default_args={"retries": 3, "retry_delay": 3600}
    )
    run = start(db, spec)
    assert run_until_idle(db, scripted({"a": [False, False, True]}), ignore_retry_delay=True) == 4
    assert get_run(db, "flaky", run.run_id).state == RunState.SUCCESS
    assert task_instances(db, run.id)["a"].try_number == 3


def test_tries_exhausted_fail_the_task(db: Database) -> None:
    run = start(db, make_spec("flaky", {"a": []}, default_args={"retries": 1, "retry_delay": 0}))
    assert run_until_idle(db, scripted({"a": [False]}), ignore_retry_delay=True) == 2
    assert states(db, run.id) == {"a": TaskState.FAILED}


def test_each_try_records_the_snapshot_the_run_was_pinned_to_when_it_started(
    db: Database,
) -> None:
    first = make_spec("pinned", {"a": []}, default_args={"retries": 1, "retry_delay": 60})
    run = start(db, first)
    assert run_until_idle(db, scripted({"a": [False, True]})) == 1  # try 1 failed, retry waits
    pushed = register_snapshot(
        db, first.model_copy(update={"description": "fixed"}), b"", actor="alice"
    )
    new_digest, fixed_id = pushed.digest, pushed.version.id
    assert new_digest != run.snapshot_digest
    with db.transaction() as s:  # what a clear with re-bind does to the run's pin
        s.execute(
            update(DagRun)
            .where(DagRun.id == run.id)
            .values(snapshot_digest=new_digest, version_id=fixed_id)
        )
    seen: list[str] = []

    def handler(ctx: ExecutionContext) -> TaskOutcome:
        seen.append(ctx.snapshot_digest)
        return TaskOutcome(success=True)

    run_until_idle(db, handler, ignore_retry_delay=True)
    rows = tries(db, task_instances(db, run.id)["a"].id)
    assert [(r.snapshot_digest, r.state) for r in rows] == [
        (run.snapshot_digest, TaskState.UP_FOR_RETRY),
        (new_digest, TaskState.SUCCESS),
    ]
    assert rows[1].version_id == fixed_id
    assert seen == [new_digest]


# --- reports are guarded --------------------------------------------------------------------------


def test_reporting_schedules_downstream_in_the_same_transaction(db: Database) -> None:
    run = start(db, make_spec("diamond", DIAMOND))
    schedule_pass(db)
    a = claim_one(db)
    start_task(db, a.ti_id, try_number=a.try_number)
    assert finish_task(db, a.ti_id, try_number=1, success=True) == TaskState.SUCCESS
    assert states(db, run.id) == {
        "a": TaskState.SUCCESS,
        "b": TaskState.SCHEDULED,
        "c": TaskState.SCHEDULED,
        "d": TaskState.NONE,
    }


def test_a_stale_or_duplicate_report_is_a_conflict_and_changes_nothing(db: Database) -> None:
    run = start(db, make_spec("flaky", {"a": []}, default_args={"retries": 1, "retry_delay": 0}))
    schedule_pass(db)
    first = claim_one(db)
    start_task(db, first.ti_id, try_number=1)
    assert finish_task(db, first.ti_id, try_number=1, success=False) == TaskState.UP_FOR_RETRY
    schedule_pass(db)
    second = claim_one(db)
    assert second.try_number == 2
    start_task(db, second.ti_id, try_number=2)

    before = dump(db)
    stale: list[Callable[[], object]] = [
        lambda: finish_task(db, first.ti_id, try_number=1, success=True, xcom="late"),
        lambda: finish_task(db, first.ti_id, try_number=3, success=True),
        lambda: heartbeat(db, first.ti_id, try_number=1),
        lambda: start_task(db, first.ti_id, try_number=2),
    ]
    for report in stale:
        with pytest.raises(ConflictError):
            report()
        assert dump(db) == before

    finish_task(db, second.ti_id, try_number=2, success=True, xcom=1)
    after = dump(db)
    with pytest.raises(ConflictError, match="stale or a duplicate"):
        finish_task(db, second.ti_id, try_number=2, success=False)
    assert dump(db) == after
    assert get_run(db, "flaky", run.run_id).state == RunState.SUCCESS
    with pytest.raises(NotFoundError):
        finish_task(db, 999_999, try_number=1, success=True)


def test_a_try_number_used_before_is_a_conflict_and_changes_nothing(db: Database) -> None:
    run = start(db, make_spec("one", {"a": []}))
    schedule_pass(db)
    a = claim_one(db)
    with db.transaction() as s:  # a try row left over, as if try numbers had been reset
        s.add(
            TaskInstanceTry(
                ti_id=a.ti_id, try_number=1, state="failed", snapshot_digest=run.snapshot_digest
            )
        )
    before = dump(db)
    with pytest.raises(ConflictError, match="Try 1 of task 'a'"):
        start_task(db, a.ti_id, try_number=1)
    assert dump(db) == before


def test_heartbeat_of_the_running_try(db: Database) -> None:
    run = start(db, make_spec("one", {"a": []}))
    schedule_pass(db)
    a = claim_one(db)
    start_task(db, a.ti_id, try_number=1, hostname="worker-1", pid=42, now=T0)
    heartbeat(db, a.ti_id, try_number=1, now=T0 + timedelta(seconds=5))
    ti = task_instances(db, run.id)["a"]
    assert (ti.heartbeat_at, ti.hostname, ti.pid) == (T0 + timedelta(seconds=5), "worker-1", 42)


# --- claims and limits ----------------------------------------------------------------------------


def test_a_claim_carries_what_an_executor_needs(db: Database) -> None:
    spec = make_spec("params", {"a": []}, params={"n": {"type": "integer", "default": 1}})
    version_id = publish(db, spec)
    run = trigger_run(db, dag_id="params", actor="alice", conf={"n": 5}, run_id="r1")
    assert claim_scheduled(db, limit=5) == []  # nothing is scheduled before a pass
    schedule_pass(db)
    claimed = claim_one(db, run_pk=run.id)
    assert claimed == ClaimedTask(
        ti_id=task_instances(db, run.id)["a"].id,
        run_pk=run.id,
        dag_id="params",
        run_id="r1",
        task_id="a",
        map_index=-1,
        try_number=1,
        snapshot_digest=run.snapshot_digest,
        version_id=version_id,
        params=run.params,
        conf={"n": 5},
    )
    assert run.params["n"] == 5
    assert states(db, run.id) == {"a": TaskState.QUEUED}


def test_max_active_runs_is_enforced_oldest_first(db: Database) -> None:
    publish(db, make_spec("serial", {"a": [], "b": ["a"]}, max_active_runs=1))
    runs = [trigger_run(db, dag_id="serial", actor="alice", run_id=f"r{i}") for i in range(3)]
    assert start_queued_runs(db) == 1
    assert start_queued_runs(db) == 0
    assert [get_run(db, "serial", r.run_id).state for r in runs] == [
        RunState.RUNNING,
        RunState.QUEUED,
        RunState.QUEUED,
    ]
    overlaps: list[int] = []

    def handler(ctx: ExecutionContext) -> TaskOutcome:
        with db.read() as s:
            running = s.scalars(
                select(func.count())
                .select_from(DagRun)
                .where(DagRun.state == RunState.RUNNING.value)
            ).one()
        if running > 1:
            overlaps.append(running)
        return TaskOutcome(success=True)

    assert run_until_idle(db, handler) == 6
    assert overlaps == []
    done = [get_run(db, "serial", r.run_id) for r in runs]
    assert [r.state for r in done] == [RunState.SUCCESS] * 3
    ends = [r.end_date for r in done]
    starts = [r.start_date for r in done]
    assert all(e is not None and s is not None for e, s in zip(ends, starts, strict=True))
    assert starts[1] >= ends[0]
    assert starts[2] >= ends[1]


def test_runs_of_a_paused_dag_stay_queued(db: Database) -> None:
    run = start(db, make_spec("paused", {"a": []}))
    with db.transaction() as s:
        s.execute(update(Dag).where(Dag.dag_id == "paused").values(is_paused=True))
    assert schedule_pass(db) == 0
    assert get_run(db, "paused", run.run_id).state == RunState.QUEUED


def test_max_active_tasks_counts_queued_and_running_tasks_of_the_dag(db: Database) -> None:
    run = start(db, make_spec("wide", {"a": [], "b": [], "c": [], "d": []}, max_active_tasks=2))
    schedule_pass(db)
    first = claim_scheduled(db, limit=10)
    assert [c.task_id for c in first] == ["a", "b"]
    assert claim_scheduled(db, limit=10) == []
    start_task(db, first[0].ti_id, try_number=1)
    assert claim_scheduled(db, limit=10) == []  # running counts as well as queued
    finish_task(db, first[0].ti_id, try_number=1, success=True)
    assert [c.task_id for c in claim_scheduled(db, limit=10)] == ["c"]
    assert sorted(states(db, run.id).values()) == sorted(
        [TaskState.SUCCESS, TaskState.QUEUED, TaskState.QUEUED, TaskState.SCHEDULED]
    )


# --- XComs ----------------------------------------------------------------------------------------


def test_return_values_reach_downstream_inputs(db: Database) -> None:
    spec = make_spec(
        "data",
        {"a": [], "b": ["a"], "s": [], "c": ["s"]},
        task_fields={
            "b": {"inputs": {"rows": {"task_id": "a"}}},
            "c": {"inputs": {"nothing": {"task_id": "s"}}, "trigger_rule": "none_failed"},
        },
    )
    run = start(db, spec)
    seen: dict[str, dict[str, Any]] = {}

    def handler(ctx: ExecutionContext) -> TaskOutcome:
        seen[ctx.task_id] = ctx.inputs
        if ctx.task_id == "s":
            return TaskOutcome(success=True, skipped=True)
        return TaskOutcome(success=True, value={"rows": 3} if ctx.task_id == "a" else None)

    run_until_idle(db, handler)
    assert seen["b"] == {"rows": {"rows": 3}}
    assert seen["c"] == {"nothing": None}  # a skipped upstream's return value is None
    assert get_xcom(db, run.id, "a") == {"rows": 3}
    with pytest.raises(NotFoundError):
        get_xcom(db, run.id, "b")


def test_an_xcom_over_the_size_limit_is_refused_and_changes_nothing(db: Database) -> None:
    run = start(db, make_spec("big", {"a": []}))
    schedule_pass(db)
    a = claim_one(db)
    start_task(db, a.ti_id, try_number=1)
    before = dump(db)
    value = "x" * XCOM_DB_LIMIT_BYTES  # plus two quotes once encoded as JSON
    with pytest.raises(InvalidInputError, match=f"{XCOM_DB_LIMIT_BYTES + 2} bytes") as caught:
        finish_task(db, a.ti_id, try_number=1, success=True, xcom=value)
    assert caught.value.details == {"size": XCOM_DB_LIMIT_BYTES + 2, "limit": XCOM_DB_LIMIT_BYTES}
    with pytest.raises(InvalidInputError, match="JSON"):
        finish_task(db, a.ti_id, try_number=1, success=True, xcom={"when": T0})
    assert dump(db) == before
    finish_task(db, a.ti_id, try_number=1, success=True, xcom="x" * (XCOM_DB_LIMIT_BYTES - 2))
    assert get_run(db, "big", run.run_id).state == RunState.SUCCESS


def test_run_until_idle_fails_a_try_whose_value_cannot_be_stored(db: Database) -> None:
    run = start(db, make_spec("big", {"a": []}))
    run_until_idle(db, scripted({"a": [TaskOutcome(success=True, value="x" * 70_000)]}))
    ti = task_instances(db, run.id)["a"]
    assert ti.state == TaskState.FAILED
    [only] = tries(db, ti.id)
    assert only.error is not None
    assert "70002 bytes" in only.error


# --- PostgreSQL races -----------------------------------------------------------------------------


def test_two_upstreams_reported_at_once_still_schedule_the_join(pg_db: Database) -> None:
    db = pg_db
    for attempt in range(5):
        run = trigger_run(db, dag_id=_ensure_diamond(db), actor="alice", run_id=f"r{attempt}")
        schedule_pass(db)
        a = claim_one(db, run_pk=run.id)
        start_task(db, a.ti_id, try_number=1)
        finish_task(db, a.ti_id, try_number=1, success=True)
        branches = claim_scheduled(db, limit=2, run_pk=run.id)
        assert len(branches) == 2
        for b in branches:
            start_task(db, b.ti_id, try_number=1)
        barrier = threading.Barrier(len(branches))
        errors: list[BaseException] = []

        def report(
            ti_id: int, barrier: threading.Barrier = barrier, errors: list[BaseException] = errors
        ) -> None:
            barrier.wait()
            try:
                finish_task(db, ti_id, try_number=1, success=True)
            except BaseException as exc:  # surfaced below
                errors.append(exc)

        threads = [threading.Thread(target=report, args=(b.ti_id,)) for b in branches]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert states(db, run.id)["d"] == TaskState.SCHEDULED


def _ensure_diamond(db: Database) -> str:
    publish(db, make_spec("diamond", DIAMOND))
    return "diamond"
