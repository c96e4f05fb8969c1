"""Pools: a claim takes ``pool_slots`` slots of the task's pool while it is queued or running.

Every test runs on SQLite and, when configured, on PostgreSQL (the ``db`` fixture).
"""

from __future__ import annotations

import logging
import threading

import pytest
from sqlalchemy import func, select, update

from pinflow.lifecycle.states import RunState, TaskState
from pinflow.services.commands._push import register_snapshot
from pinflow.services.commands._runs import get_run, trigger_run
from pinflow.services.engine import _pools as pools
from pinflow.services.engine._claims import ClaimedTask, claim_scheduled
from pinflow.services.engine._pools import DEFAULT_POOL, DEFAULT_POOL_SLOTS
from pinflow.services.engine._reports import finish_task
from pinflow.services.engine._starts import start_task
from pinflow.services.engine._sweep import schedule_pass
from pinflow.spec.models import DagSpec
from pinflow.store import repo
from pinflow.store.db import Database
from pinflow.store.tables import Pool, TaskInstance
from pinflow.testing import make_spec

LIVE = (TaskState.QUEUED.value, TaskState.RUNNING.value)


def add_pool(db: Database, name: str, slots: int) -> None:
    with db.transaction() as s:
        s.add(Pool(name=name, slots=slots))


def publish(db: Database, spec: DagSpec) -> None:
    register_snapshot(db, spec, b"", actor="alice")


def slots_in_use(db: Database, pool: str) -> int:
    with db.read() as s:
        used = s.scalars(
            select(func.coalesce(func.sum(TaskInstance.pool_slots), 0))
            .where(TaskInstance.pool == pool)
            .where(TaskInstance.state.in_(LIVE))
        ).one()
    return int(used)


def run_claimed(db: Database, claimed: list[ClaimedTask]) -> None:
    for task in claimed:
        start_task(db, task.ti_id, try_number=task.try_number)
        finish_task(db, task.ti_id, try_number=task.try_number, success=True)


def drain(db: Database, pool: str, slots: int) -> list[list[ClaimedTask]]:
    """Claim, check the pool, run what was claimed; until nothing is left. Returns the claims."""
    claims: list[list[ClaimedTask]] = []
    for _ in range(100):
        schedule_pass(db)
        claimed = claim_scheduled(db, limit=10)
        if not claimed:
            return claims
        assert slots_in_use(db, pool) <= slots  # checked after every claim
        claims.append(claimed)
        run_claimed(db, claimed)
    raise AssertionError("did not settle")


def test_a_pool_of_one_slot_serializes_the_tasks_of_two_runs(db: Database) -> None:
    add_pool(db, "single", 1)
    publish(db, make_spec("etl", {"a": [], "b": [], "c": ["a"]}, default_args={"pool": "single"}))
    runs = [trigger_run(db, dag_id="etl", actor="alice", run_id=f"r{i}") for i in (1, 2)]
    claims = drain(db, "single", 1)
    assert all(len(claim) == 1 for claim in claims)
    # Oldest run first, then task order: r1 finishes before r2 starts.
    assert [(c[0].run_id, c[0].task_id) for c in claims] == [
        ("r1", "a"),
        ("r1", "b"),
        ("r1", "c"),
        ("r2", "a"),
        ("r2", "b"),
        ("r2", "c"),
    ]
    assert [get_run(db, "etl", r.run_id).state for r in runs] == [RunState.SUCCESS] * 2


def test_pool_slots_count_per_task_and_a_smaller_task_may_pass_a_larger_one(
    db: Database,
) -> None:
    add_pool(db, "gpu", 3)
    spec = make_spec(
        "train",
        {"big1": [], "big2": [], "small": []},
        default_args={"pool": "gpu"},
        task_fields={"big1": {"pool_slots": 2}, "big2": {"pool_slots": 2}},
    )
    publish(db, spec)
    trigger_run(db, dag_id="train", actor="alice")
    schedule_pass(db)
    first = claim_scheduled(db, limit=10)
    assert [c.task_id for c in first] == ["big1", "small"]  # big2 does not fit: 2 + 2 > 3
    assert slots_in_use(db, "gpu") == 3
    assert claim_scheduled(db, limit=10) == []
    run_claimed(db, first[1:])  # small ends: 1 slot open, still not enough for big2
    assert claim_scheduled(db, limit=10) == []
    run_claimed(db, first[:1])
    assert [c.task_id for c in claim_scheduled(db, limit=10)] == ["big2"]


def test_pools_are_shared_by_dags_and_the_oldest_run_goes_first(db: Database) -> None:
    add_pool(db, "db", 1)
    for dag_id in ("zeta", "alpha"):
        publish(db, make_spec(dag_id, {"t": [], "u": ["t"]}, default_args={"pool": "db"}))
    trigger_run(db, dag_id="zeta", actor="alice")
    trigger_run(db, dag_id="alpha", actor="alice")
    claims = drain(db, "db", 1)
    assert [[(c.dag_id, c.task_id) for c in claim] for claim in claims] == [
        [("zeta", "t")],
        [("zeta", "u")],
        [("alpha", "t")],
        [("alpha", "u")],
    ]


def test_the_oldest_run_is_claimed_first_across_dags(db: Database) -> None:
    for dag_id in ("zeta", "alpha"):
        publish(db, make_spec(dag_id, {"t": []}))
    trigger_run(db, dag_id="zeta", actor="alice")
    trigger_run(db, dag_id="alpha", actor="alice")
    schedule_pass(db)
    assert [c.dag_id for c in claim_scheduled(db, limit=1)] == ["zeta"]
    assert [c.dag_id for c in claim_scheduled(db, limit=1)] == ["alpha"]


def test_a_missing_default_pool_row_means_128_slots_and_is_created(db: Database) -> None:
    width = DEFAULT_POOL_SLOTS + 2
    spec = make_spec("wide", {f"t{i}": [] for i in range(width)}, max_active_tasks=1000)
    publish(db, spec)
    trigger_run(db, dag_id="wide", actor="alice")
    schedule_pass(db)
    claimed = claim_scheduled(db, limit=1000)
    assert len(claimed) == DEFAULT_POOL_SLOTS
    assert claim_scheduled(db, limit=1000) == []
    with db.read() as s:
        assert s.scalars(select(Pool.slots).where(Pool.name == DEFAULT_POOL)).one() == 128
    run_claimed(db, claimed[:2])
    assert len(claim_scheduled(db, limit=1000)) == 2


def test_a_task_in_a_pool_that_does_not_exist_stays_scheduled_with_a_warning(
    db: Database, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pools, "_warned_at", {})  # warnings are rate-limited per process
    spec = make_spec("p", {"lost": [], "fine": []}, task_fields={"lost": {"pool": "nowhere"}})
    publish(db, spec)
    run = trigger_run(db, dag_id="p", actor="alice")
    schedule_pass(db)
    with caplog.at_level(logging.WARNING, logger="pinflow.services.engine._pools"):
        claimed = claim_scheduled(db, limit=10)
    assert [c.task_id for c in claimed] == ["fine"]
    assert "Tasks using non-existent pool 'nowhere' will not be scheduled" in caplog.messages
    run_claimed(db, claimed)
    with db.read() as s:
        lost = s.scalars(
            select(TaskInstance.state).where(
                TaskInstance.run_pk == run.id, TaskInstance.task_id == "lost"
            )
        ).one()
    assert lost == TaskState.SCHEDULED.value
    add_pool(db, "nowhere", 1)  # creating the pool lets it run
    assert [c.task_id for c in claim_scheduled(db, limit=10)] == ["lost"]


def test_a_task_asking_for_more_slots_than_its_pool_has_stays_scheduled(db: Database) -> None:
    add_pool(db, "small", 2)
    spec = make_spec(
        "p",
        {"huge": [], "ok": []},
        default_args={"pool": "small"},
        task_fields={"huge": {"pool_slots": 3}},
    )
    publish(db, spec)
    trigger_run(db, dag_id="p", actor="alice")
    schedule_pass(db)
    assert [c.task_id for c in claim_scheduled(db, limit=10)] == ["ok"]


def test_an_unlimited_pool_never_holds_a_task_back(db: Database) -> None:
    add_pool(db, "open", -1)
    spec = make_spec(
        "p",
        {f"t{i}": [] for i in range(5)},
        default_args={"pool": "open"},
        task_fields={"t0": {"pool_slots": 1000}},
    )
    publish(db, spec)
    trigger_run(db, dag_id="p", actor="alice")
    schedule_pass(db)
    assert len(claim_scheduled(db, limit=10)) == 5


def test_max_active_tasks_still_holds_with_pools_and_other_runs_fill_in(db: Database) -> None:
    add_pool(db, "wide", 10)
    spec = make_spec(
        "m", {"a": [], "b": [], "c": []}, max_active_tasks=1, default_args={"pool": "wide"}
    )
    publish(db, spec)
    for i in (1, 2):
        trigger_run(db, dag_id="m", actor="alice", run_id=f"r{i}")
    schedule_pass(db)
    claimed = claim_scheduled(db, limit=10)
    assert [(c.run_id, c.task_id) for c in claimed] == [("r1", "a"), ("r2", "a")]


@pytest.mark.postgres_only
@pytest.mark.parametrize("round_", range(3))
def test_two_claimers_of_different_dags_never_share_the_last_slot(
    pg_db: Database, round_: int
) -> None:
    add_pool(pg_db, "one", 1)
    run_pks = []
    for dag_id in ("left", "right"):
        publish(pg_db, make_spec(dag_id, {"t": []}, default_args={"pool": "one"}))
        run_pks.append(trigger_run(pg_db, dag_id=dag_id, actor="alice").id)
    schedule_pass(pg_db)
    barrier = threading.Barrier(2)
    claimed: list[ClaimedTask] = []
    errors: list[BaseException] = []

    def claim(run_pk: int) -> None:
        db = Database(pg_db.url)  # a connection of its own: the DAG rows differ, the pool not
        try:
            barrier.wait(timeout=10)
            claimed.extend(claim_scheduled(db, limit=5, run_pk=run_pk))
        except BaseException as exc:  # reported by the test thread below
            errors.append(exc)
        finally:
            db.dispose()

    threads = [threading.Thread(target=claim, args=(pk,)) for pk in run_pks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    assert len(claimed) == 1
    assert slots_in_use(pg_db, "one") == 1


def test_another_projects_pool_created_after_the_push_is_not_used_at_claim(
    db: Database, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The push refuses another project's pool (ADR 0017); one created under the name later,
    in another project, holds the task back at claim with a warning instead of throttling it."""
    monkeypatch.setattr(pools, "_warned_at", {})
    spec = make_spec("p", {"late": []}, task_fields={"late": {"pool": "later"}}, project="alpha")
    publish(db, spec)
    with db.transaction() as s:
        s.add(Pool(name="later", slots=5, project_id=repo.project_id(s, "beta")))
    trigger_run(db, dag_id="p", actor="alice")
    schedule_pass(db)
    with caplog.at_level(logging.WARNING, logger="pinflow.services.engine._pools"):
        assert claim_scheduled(db, limit=10) == []
    expected = "Tasks of DAG 'p' will not be scheduled: pool 'later' belongs to another project"
    assert expected in caplog.messages
    with db.transaction() as s:
        s.execute(update(Pool).where(Pool.name == "later").values(project_id=None))
    assert [c.task_id for c in claim_scheduled(db, limit=10)] == ["late"]
