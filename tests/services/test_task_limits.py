"""A task's ``queue`` on its task instances, ``max_active_tis_per_dag`` in the claim, and the
claimer written to ``queued_by``.

Every test that takes ``db`` runs on SQLite and, when configured, on PostgreSQL; the race at
the end needs PostgreSQL's row locks (``pg_db``).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select, text

from pinflow.lifecycle.states import RunState, TaskState
from pinflow.services.commands._clear import clear_task_instances
from pinflow.services.commands._push import register_snapshot
from pinflow.services.commands._runs import get_run, trigger_run
from pinflow.services.engine._claims import ClaimedTask, claim_in, claim_scheduled
from pinflow.services.engine._reports import finish_task
from pinflow.services.engine._starts import claim_and_start, claim_and_start_in, start_task
from pinflow.services.engine._sweep import schedule_pass
from pinflow.spec.models import DagSpec
from pinflow.store.db import Database
from pinflow.store.tables import DagRun, Pool, TaskInstance, TaskInstanceTry
from pinflow.store.tables.base import utcnow
from pinflow.testing import ExecutionContext, TaskOutcome, make_spec, run_until_idle, scripted

LIVE = (TaskState.QUEUED.value, TaskState.RUNNING.value)


def publish(db: Database, spec: DagSpec) -> str:
    return register_snapshot(db, spec, b"", actor="alice").version.id


def trigger(db: Database, dag_id: str, runs: int, version_id: str | None = None) -> None:
    for _ in range(runs):
        trigger_run(db, dag_id=dag_id, version_id=version_id, actor="alice")


def live_of(db: Database, dag_id: str, task_id: str) -> int:
    with db.read() as s:
        count = s.scalars(
            select(func.count())
            .select_from(TaskInstance)
            .where(TaskInstance.dag_id == dag_id, TaskInstance.task_id == task_id)
            .where(TaskInstance.state.in_(LIVE))
        ).one()
    return int(count)


def rows(db: Database, dag_id: str, task_id: str) -> list[TaskInstance]:
    with db.read() as s:
        return list(
            s.scalars(
                select(TaskInstance)
                .where(TaskInstance.dag_id == dag_id, TaskInstance.task_id == task_id)
                .order_by(TaskInstance.id)
            )
        )


def run_of(db: Database, run_pk: int) -> str:
    with db.read() as s:
        return s.scalars(select(DagRun.run_id).where(DagRun.id == run_pk)).one()


def add_pool(db: Database, name: str, slots: int) -> None:
    with db.transaction() as s:
        s.add(Pool(name=name, slots=slots))


def finish(db: Database, claimed: list[ClaimedTask]) -> None:
    for task in claimed:
        start_task(db, task.ti_id, try_number=task.try_number)
        finish_task(db, task.ti_id, try_number=task.try_number, success=True)


# --- queue -------------------------------------------------------------------------------------


def test_a_task_instance_takes_its_queue_from_the_task_default_args_or_the_default(
    db: Database,
) -> None:
    publish(
        db,
        make_spec(
            "routed",
            {"gpu": [], "etl": []},
            default_args={"queue": "etl-hosts"},
            task_fields={"gpu": {"queue": "gpu-hosts"}},
        ),
    )
    publish(db, make_spec("plain", {"t": []}))
    trigger(db, "routed", 1)
    trigger(db, "plain", 1)

    assert [ti.queue for ti in rows(db, "routed", "gpu")] == ["gpu-hosts"]
    assert [ti.queue for ti in rows(db, "routed", "etl")] == ["etl-hosts"]
    assert [ti.queue for ti in rows(db, "plain", "t")] == ["default"]
    schedule_pass(db)
    claimed = {(c.dag_id, c.task_id): c.queue for c in claim_scheduled(db, limit=10)}
    assert claimed == {
        ("routed", "gpu"): "gpu-hosts",
        ("routed", "etl"): "etl-hosts",
        ("plain", "t"): "default",
    }


def test_mapped_elements_take_the_queue_of_their_task(db: Database) -> None:
    spec = make_spec(
        "fan",
        {"list": [], "square": []},
        task_fields={"square": {"expand": {"x": {"task_id": "list"}}, "queue": "wide"}},
    )
    publish(db, spec)
    trigger(db, "fan", 1)
    values = {"list": [TaskOutcome(success=True, value=[1, 2, 3])]}
    run_until_idle(db, scripted(values))

    squares = rows(db, "fan", "square")
    assert [(ti.map_index, ti.queue, ti.state) for ti in squares] == [
        (i, "wide", TaskState.SUCCESS.value) for i in range(3)
    ]


def test_a_clear_that_moves_the_run_to_a_new_version_takes_its_queue(db: Database) -> None:
    publish(db, make_spec("moved", {"a": []}, task_fields={"a": {"queue": "old"}}))
    trigger(db, "moved", 1)
    run_until_idle(db, scripted({"a": [False]}))
    (a,) = rows(db, "moved", "a")
    assert (a.state, a.queue) == (TaskState.FAILED.value, "old")

    publish(db, make_spec("moved", {"a": []}, default_args={"queue": "new"}))
    clear_task_instances(db, "moved", actor="alice", task_ids=["a"])
    (a,) = rows(db, "moved", "a")
    assert (a.state, a.queue) == (TaskState.NONE.value, "new")
    schedule_pass(db)
    assert [c.queue for c in claim_scheduled(db, limit=5)] == ["new"]


# --- the claimer -------------------------------------------------------------------------------


def test_the_claimer_is_written_to_queued_by(db: Database) -> None:
    publish(db, make_spec("who", {"a": [], "b": [], "c": [], "d": []}))
    trigger(db, "who", 1)
    schedule_pass(db)
    by_task = {ti.task_id: ti for ti in rows_of_dag(db, "who")}

    (a,) = claim_scheduled(db, limit=1, claimer="scheduler-1")
    started, held = claim_and_start(db, limit=2, hold={by_task["c"].id}, claimer="scheduler-2")
    (d,) = claim_scheduled(db, limit=1)

    assert a.task_id == "a"
    assert [t.task_id for t, _ in started] == ["b"]
    assert [t.task_id for t in held] == ["c"]
    assert d.task_id == "d"
    after = {ti.task_id: (ti.state, ti.queued_by) for ti in rows_of_dag(db, "who")}
    assert after == {
        "a": (TaskState.QUEUED.value, "scheduler-1"),
        "b": (TaskState.RUNNING.value, "scheduler-2"),  # claimed and started at once
        "c": (TaskState.QUEUED.value, "scheduler-2"),  # held: left queued
        "d": (TaskState.QUEUED.value, None),  # no claimer given
    }
    start_task(db, a.ti_id, try_number=1)
    (a_row,) = [ti for ti in rows_of_dag(db, "who") if ti.task_id == "a"]
    assert (a_row.state, a_row.queued_by) == (TaskState.RUNNING.value, "scheduler-1")


def rows_of_dag(db: Database, dag_id: str) -> list[TaskInstance]:
    with db.read() as s:
        return list(s.scalars(select(TaskInstance).where(TaskInstance.dag_id == dag_id)))


# --- max_active_tis_per_dag --------------------------------------------------------------------


def limited(dag_id: str, limit: int = 1, **fields: Any) -> DagSpec:
    """``a`` (at most ``limit`` at once over all runs) -> ``b``, and ``c`` on its own."""
    return make_spec(
        dag_id,
        {"a": [], "b": ["a"], "c": []},
        task_fields={"a": {"max_active_tis_per_dag": limit}},
        **fields,
    )


def watching(db: Database, dag_id: str, task_id: str, seen: list[int]) -> Callable[..., Any]:
    """A handler that records, whenever ``task_id`` runs, how many of it are live; the claim
    batch it belongs to is queued meanwhile, so a second one claimed with it is counted."""

    def handler(ctx: ExecutionContext) -> TaskOutcome:
        if ctx.task_id == task_id:
            seen.append(live_of(db, dag_id, task_id))
        return TaskOutcome(success=True)

    return handler


def test_three_runs_never_have_two_of_a_limited_task_live_at_once(db: Database) -> None:
    publish(db, limited("serial_a"))
    trigger(db, "serial_a", 3)
    seen: list[int] = []

    run_until_idle(db, watching(db, "serial_a", "a", seen))

    assert seen == [1, 1, 1]
    with db.read() as s:
        states = s.scalars(select(DagRun.state).where(DagRun.dag_id == "serial_a")).all()
    assert states == [RunState.SUCCESS.value] * 3
    # The try rows say the same: each ``a`` started after the one before it ended.
    intervals = []
    for ti in rows(db, "serial_a", "a"):
        with db.read() as s:
            (one,) = s.scalars(select(TaskInstanceTry).where(TaskInstanceTry.ti_id == ti.id))
        assert one.start_date is not None
        assert one.end_date is not None
        intervals.append((one.start_date, one.end_date))
    intervals.sort()
    assert all(prev[1] <= nxt[0] for prev, nxt in itertools.pairwise(intervals))


def test_the_rest_of_each_run_goes_on_while_the_limited_task_waits(db: Database) -> None:
    publish(db, limited("others"))
    trigger(db, "others", 3)
    schedule_pass(db)

    first = claim_scheduled(db, limit=20)

    # One ``a`` (the oldest run's); every run's ``c``: the limit is the task's, not the run's.
    assert sorted(c.task_id for c in first) == ["a", "c", "c", "c"]
    oldest_a = next(c for c in first if c.task_id == "a")
    assert oldest_a.run_pk == min(c.run_pk for c in first)
    assert claim_scheduled(db, limit=20) == []  # ``a`` is live: the other two wait
    finish(db, first)
    schedule_pass(db)
    second = claim_scheduled(db, limit=20)
    assert sorted(c.task_id for c in second) == ["a", "b"]  # the next run's a, the first's b


def test_a_limit_of_two_admits_two(db: Database) -> None:
    publish(db, limited("pairs", limit=2))
    trigger(db, "pairs", 3)
    schedule_pass(db)
    claimed = claim_scheduled(db, limit=20)
    assert [c.task_id for c in claimed].count("a") == 2
    assert live_of(db, "pairs", "a") == 2


def test_claim_and_start_holds_the_limit_too(db: Database) -> None:
    publish(db, limited("local"))
    trigger(db, "local", 3)
    schedule_pass(db)
    started, held = claim_and_start(db, limit=20)
    assert held == []
    assert [t.task_id for t, _ in started].count("a") == 1
    assert live_of(db, "local", "a") == 1
    assert claim_and_start(db, limit=20) == ([], [])


def test_mapped_elements_count_against_their_task_limit(db: Database) -> None:
    spec = make_spec(
        "fan",
        {"list": [], "square": []},
        task_fields={"square": {"expand": {"x": {"task_id": "list"}}, "max_active_tis_per_dag": 2}},
    )
    publish(db, spec)
    trigger(db, "fan", 1)
    seen: list[int] = []

    def handler(ctx: ExecutionContext) -> TaskOutcome:
        if ctx.task_id == "list":
            return TaskOutcome(success=True, value=list(range(5)))
        seen.append(live_of(db, "fan", "square"))
        return TaskOutcome(success=True)

    run_until_idle(db, handler)
    assert len(seen) == 5
    assert max(seen) == 2  # two at once, never three


def test_each_run_is_held_to_the_limit_of_its_own_version(db: Database) -> None:
    # v1 limits ``a`` to one; v2 lifts the limit. A run of v2 is not held back by v1's limit;
    # a run of v1 counts every live ``a``, whatever version its run is pinned to.
    one_at_a_time = {"a": {"max_active_tis_per_dag": 1}}
    v1 = publish(db, make_spec("mixed", {"a": []}, task_fields=one_at_a_time))
    trigger(db, "mixed", 2, version_id=v1)
    v2 = publish(db, make_spec("mixed", {"a": []}))
    trigger(db, "mixed", 1, version_id=v2)
    schedule_pass(db)

    # A first page of two: the first run's ``a`` is taken, the second's refused; the next
    # page leaves out v1's ``a`` only, so v2's is still found.
    claimed = claim_scheduled(db, limit=2)
    assert [(c.task_id, c.version_id) for c in claimed] == [("a", v1), ("a", v2)]
    first_v1, only_v2 = claimed
    finish(db, [first_v1])
    assert claim_scheduled(db, limit=5) == []  # v2's ``a`` is live: v1's limit counts it
    finish(db, [only_v2])
    assert [c.version_id for c in claim_scheduled(db, limit=5)] == [v1]


def test_an_unlimited_instance_taken_earlier_in_the_same_claim_is_counted(db: Database) -> None:
    # v1's ``a`` has no limit, v2's has one. The claim takes v1's first, in the same page as
    # v2's: those are not written yet when v2's count is read, and must be counted anyway.
    v1 = publish(db, make_spec("order", {"a": []}))
    trigger(db, "order", 1, version_id=v1)
    limit_one = {"a": {"max_active_tis_per_dag": 1}}
    v2 = publish(db, make_spec("order", {"a": []}, task_fields=limit_one))
    trigger(db, "order", 2, version_id=v2)
    schedule_pass(db)

    claimed = claim_scheduled(db, limit=10)
    assert [c.version_id for c in claimed] == [v1]
    assert live_of(db, "order", "a") == 1
    started, _ = claim_and_start(db, limit=10)
    assert started == []


def test_what_an_earlier_page_of_the_claim_queued_is_counted_once(db: Database) -> None:
    # Page one (two rows): v1's run takes ``a`` and is then full (max_active_tasks=1), so the
    # claim reads a second page, where v2's ``a`` (limit 2) sees the queued one exactly once.
    v1 = publish(db, make_spec("pages", {"a": [], "b": []}, max_active_tasks=1))
    trigger(db, "pages", 1, version_id=v1)
    limit_two = {"a": {"max_active_tis_per_dag": 2}}
    v2 = publish(db, make_spec("pages", {"a": [], "b": []}, task_fields=limit_two))
    trigger(db, "pages", 2, version_id=v2)
    schedule_pass(db)

    claimed = claim_scheduled(db, limit=2)
    assert [(c.task_id, c.version_id) for c in claimed] == [("a", v1), ("a", v2)]
    assert live_of(db, "pages", "a") == 2


def test_the_limit_is_per_dag(db: Database) -> None:
    for dag_id in ("left", "right"):
        publish(db, limited(dag_id))
        trigger(db, dag_id, 2)
    schedule_pass(db)
    claimed = claim_scheduled(db, limit=20)
    assert sorted((c.dag_id, c.task_id) for c in claimed if c.task_id == "a") == [
        ("left", "a"),
        ("right", "a"),
    ]
    assert get_run(db, "left", claimed[0].run_id).state == RunState.RUNNING


# --- two claimers on PostgreSQL ----------------------------------------------------------------


@pytest.mark.postgres_only
@pytest.mark.parametrize("round_", range(5))
def test_two_claimers_never_start_a_limited_task_twice(pg_db: Database, round_: int) -> None:
    # Two versions put ``a`` in two pools, so that only the DAG row's lock stands between the
    # claimers: no pool row is shared.
    versions = []
    for pool in ("left", "right"):
        add_pool(pg_db, pool, 10)
        fields = {"a": {"max_active_tis_per_dag": 1, "pool": pool}}
        versions.append(publish(pg_db, make_spec("race", {"a": []}, task_fields=fields)))
    run_pks = []
    for version_id in versions:
        run_pks.append(trigger_run(pg_db, version_id=version_id, actor="alice").id)
    schedule_pass(pg_db)
    barrier = threading.Barrier(2)
    claimed: list[tuple[str, ClaimedTask]] = []
    errors: list[BaseException] = []

    def claim(name: str, run_pk: int) -> None:
        db = Database(pg_db.url)  # a connection of its own
        try:
            barrier.wait(timeout=10)
            claimed.extend(
                (name, t) for t in claim_scheduled(db, limit=5, run_pk=run_pk, claimer=name)
            )
        except BaseException as exc:  # reported by the test thread below
            errors.append(exc)
        finally:
            db.dispose()

    if round_ % 2:
        run_pks.reverse()
    threads = [
        threading.Thread(target=claim, args=(f"scheduler-{i}", run_pk))
        for i, run_pk in enumerate(run_pks)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert len(claimed) == 1
    assert live_of(pg_db, "race", "a") == 1
    (winner, task) = claimed[0]
    live = [ti for ti in rows(pg_db, "race", "a") if ti.state in LIVE]
    assert [(ti.id, ti.queued_by) for ti in live] == [(task.ti_id, winner)]


def waiting_on_a_lock(db: Database) -> bool:
    """Whether another connection to this database waits for a lock (``pg_stat_activity``)."""
    with db.read() as s:
        waiting = s.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
            )
        )
    return bool(waiting)


@pytest.mark.postgres_only
@pytest.mark.parametrize("first_starts", [False, True], ids=["claim", "claim_and_start"])
def test_a_second_claimer_waits_for_the_first_to_commit(
    pg_db: Database, first_starts: bool
) -> None:
    # The interleaving a race needs, made to happen: the first claimer has taken ``a`` and not
    # committed when the second one claims. Only the DAG row's lock is shared (the two runs
    # put ``a`` in two pools): the second must wait for it, then find ``a`` live.
    run_pks = []
    for pool in ("left", "right"):
        add_pool(pg_db, pool, 10)
        fields = {"a": {"max_active_tis_per_dag": 1, "pool": pool}}
        version_id = publish(pg_db, make_spec("held", {"a": []}, task_fields=fields))
        run_pks.append(trigger_run(pg_db, version_id=version_id, actor="alice").id)
    schedule_pass(pg_db)
    first_db, second_db = Database(pg_db.url), Database(pg_db.url)
    second: list[ClaimedTask] = []
    errors: list[BaseException] = []

    def claim_second() -> None:
        try:
            second.extend(claim_scheduled(second_db, limit=5, run_pk=run_pks[1], claimer="s2"))
        except BaseException as exc:  # reported by the test thread below
            errors.append(exc)

    thread = threading.Thread(target=claim_second)
    try:
        with first_db.transaction() as s:
            if first_starts:
                started, _ = claim_and_start_in(
                    s, limit=5, hostname=None, pid=None, hold=(), stamp=utcnow(), claimer="s1"
                )
                first = [task for task, _ in started]
            else:
                first = claim_in(s, limit=5, run_pk=run_pks[0], claimer="s1")
            thread.start()
            deadline = time.monotonic() + 20
            while thread.is_alive() and not waiting_on_a_lock(pg_db):
                assert time.monotonic() < deadline, "the second claimer neither waited nor ended"
                time.sleep(0.01)
        thread.join(timeout=30)
    finally:
        first_db.dispose()
        second_db.dispose()
    assert errors == []
    assert [t.run_pk for t in first] == [run_pks[0]]
    assert second == []
    assert live_of(pg_db, "held", "a") == 1
