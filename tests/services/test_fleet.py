"""The fleet's rows: beats (one upsert on both databases), stops, pruning, and how the reads
judge each component by the age of its heartbeat."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from pinflow.services.engine import fleet, scheduler_id, worker_id
from pinflow.services.reads import fleet as fleet_reads
from pinflow.store.db import Database
from pinflow.store.tables import Component

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
THRESHOLD = 30.0


def rows(db: Database) -> dict[str, Component]:
    with db.read() as s:
        return {row.id: row for row in s.scalars(select(Component))}


def beat_scheduler(db: Database, pid: int, at: datetime, **info: object) -> str:
    sid = scheduler_id("host-a", pid)
    fleet.beat(db, sid, kind="scheduler", hostname="host-a", pid=pid, info=info, now=at)
    return sid


def test_a_beat_inserts_then_updates_one_row(db: Database) -> None:
    sid = beat_scheduler(db, 41, T0, live_tries=0)
    assert sid == "scheduler:host-a:41"
    later = T0 + timedelta(seconds=5)
    beat_scheduler(db, 41, later, live_tries=3)

    (row,) = rows(db).values()
    assert (row.id, row.kind, row.hostname, row.pid) == (sid, "scheduler", "host-a", 41)
    assert row.started_at == T0  # the first beat's
    assert row.heartbeat_at == later
    assert row.info == {"live_tries": 3}
    assert row.stopped_at is None


def test_a_beat_never_moves_the_last_heartbeat_back(db: Database) -> None:
    """Two schedulers report one worker, each as it last saw it: the latest sighting wins."""
    wid = worker_id("celery@h1")
    later = T0 + timedelta(seconds=10)
    fleet.beat(db, wid, kind="worker", hostname="h1", pid=7, now=later)
    fleet.beat(db, wid, kind="worker", hostname="h1", pid=7, now=T0)
    assert rows(db)[wid].heartbeat_at == later


def test_worker_queues_are_kept_sorted_and_replaced_by_the_next_beat(db: Database) -> None:
    wid = worker_id("celery@h1")
    fleet.beat(db, wid, kind="worker", hostname="h1", pid=7, queues=["b", "a"], now=T0)
    assert rows(db)[wid].queues == ["a", "b"]
    fleet.beat(db, wid, kind="worker", hostname="h1", pid=7, queues=["gpu"], now=T0)
    assert rows(db)[wid].queues == ["gpu"]


def test_an_unknown_kind_is_refused(db: Database) -> None:
    with pytest.raises(ValueError, match="not 'robot'"):
        fleet.beat(db, "robot:1", kind="robot", hostname=None, pid=None)
    assert rows(db) == {}


def test_stopped_marks_the_row_and_a_later_beat_starts_it_afresh(db: Database) -> None:
    sid = beat_scheduler(db, 42, T0)
    assert fleet.stopped(db, sid, now=T0 + timedelta(seconds=1))
    assert not fleet.stopped(db, scheduler_id("host-a", 999))
    assert rows(db)[sid].stopped_at == T0 + timedelta(seconds=1)

    restart = T0 + timedelta(minutes=5)  # a new process that got the same pid
    beat_scheduler(db, 42, restart)
    row = rows(db)[sid]
    assert (row.started_at, row.heartbeat_at, row.stopped_at) == (restart, restart, None)


def test_prune_forgets_what_was_not_seen_for_a_day(db: Database) -> None:
    old = beat_scheduler(db, 1, T0 - timedelta(days=1, seconds=1))
    recent = beat_scheduler(db, 2, T0 - timedelta(hours=23))
    assert fleet.prune(db, now=T0) == 1
    assert set(rows(db)) == {recent}
    assert old not in rows(db)
    assert fleet.prune(db, timedelta(hours=1), now=T0) == 1
    assert rows(db) == {}


def test_concurrent_beats_of_one_row_all_succeed(db: Database) -> None:
    """Schedulers beat at the same moment (the first beat of a row included): an upsert, so
    none fails on the primary key."""
    errors: list[BaseException] = []
    wid = worker_id("celery@shared")

    def beat_many(n: int) -> None:
        try:
            for i in range(10):
                at = T0 + timedelta(seconds=i)
                fleet.beat(db, wid, kind="worker", hostname="h", pid=n, now=at)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=beat_many, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    (row,) = rows(db).values()
    assert row.heartbeat_at == T0 + timedelta(seconds=9)


def test_the_fleet_read_judges_each_component_by_its_heartbeat_age(db: Database) -> None:
    fresh = beat_scheduler(db, 1, T0 - timedelta(seconds=5))
    stale = beat_scheduler(db, 2, T0 - timedelta(seconds=31))
    gone = beat_scheduler(db, 3, T0 - timedelta(seconds=1))
    fleet.stopped(db, gone, now=T0)
    wid = worker_id("celery@w1")
    fleet.beat(db, wid, kind="worker", hostname="w1", pid=9, queues=["a"], now=T0)

    seen = fleet_reads.fleet(db, threshold=THRESHOLD, now=T0)
    status = {c.id: c.status for c in (*seen.schedulers, *seen.workers)}
    assert status == {fresh: "healthy", stale: "unhealthy", gone: "stopped", wid: "healthy"}
    assert [c.id for c in seen.schedulers] == [gone, fresh, stale]  # most recently seen first
    assert seen.latest_scheduler_heartbeat == T0 - timedelta(seconds=1)
    assert seen.scheduler_status == "healthy"
    assert seen.workers[0].queues == ("a",)
    assert seen.workers[0].age == 0.0
    assert seen.broker is None

    later = fleet_reads.fleet(db, threshold=THRESHOLD, now=T0 + timedelta(seconds=40))
    assert later.scheduler_status == "unhealthy"
    assert {c.status for c in later.schedulers} == {"unhealthy", "stopped"}
    assert later.workers[0].status == "unhealthy"


def test_no_scheduler_ever_seen_has_no_status(db: Database) -> None:
    seen = fleet_reads.fleet(db, threshold=THRESHOLD, now=T0)
    assert (seen.scheduler_status, seen.latest_scheduler_heartbeat) == (None, None)
    assert seen.schedulers == seen.workers == ()


def test_the_broker_check_and_its_age(db: Database) -> None:
    fleet.broker_checked(db, now=T0)
    broker = fleet_reads.fleet(db, threshold=THRESHOLD, now=T0).broker
    assert broker is not None
    assert (broker.status, broker.info) == ("healthy", {"status": "healthy"})

    error = "Error 111 connecting to redis://:s3cret@broker.example:6379/0. Connection refused."
    fleet.broker_checked(db, error=error, now=T0 + timedelta(seconds=1))
    broker = fleet_reads.fleet(db, threshold=THRESHOLD, now=T0 + timedelta(seconds=2)).broker
    assert broker is not None
    assert broker.status == "unreachable"
    assert broker.info["error"] == (
        "Error 111 connecting to redis://***@broker.example:6379/0. Connection refused."
    )
    stale = fleet_reads.fleet(db, threshold=THRESHOLD, now=T0 + timedelta(minutes=5)).broker
    assert stale is not None
    assert stale.status == "unknown"  # nobody checked it lately


def test_credentials_in_any_reported_string_are_masked(db: Database) -> None:
    info = {
        "broker": "amqp://guest:guest@rabbit:5672//",
        "nested": {"urls": ["redis://user:pw@r:6379/1", "http://plain.example/x"]},
        "count": 3,
    }
    fleet.beat(db, worker_id("celery@w"), kind="worker", hostname="w", pid=1, info=info, now=T0)
    (worker,) = fleet_reads.fleet(db, threshold=THRESHOLD, now=T0).workers
    assert worker.info == {
        "broker": "amqp://***@rabbit:5672//",
        "nested": {"urls": ["redis://***@r:6379/1", "http://plain.example/x"]},
        "count": 3,
    }
