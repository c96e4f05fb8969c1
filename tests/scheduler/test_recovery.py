"""Lost tries: found by heartbeat, by a vanished supervising process, or stuck in queued."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.scheduler.helpers import task_instances, tries_of

from pinflow.services.commands._push import register_snapshot
from pinflow.services.commands._runs import trigger_run
from pinflow.services.engine._claims import claim_scheduled
from pinflow.services.engine._heartbeats import heartbeat
from pinflow.services.engine._recovery import find_lost_tries, pid_alive, recover_lost_tries
from pinflow.services.engine._starts import start_task
from pinflow.services.engine._sweep import schedule_pass
from pinflow.services.reads import TaskRef, task_queries
from pinflow.store.db import Database
from pinflow.testing import make_spec

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _claimed_run(db: Database, retries: int, retry_delay: float = 0) -> None:
    spec = make_spec(
        "lost", {"a": [], "b": []}, default_args={"retries": retries, "retry_delay": retry_delay}
    )
    register_snapshot(db, spec, actor="tester")
    trigger_run(db, dag_id="lost", run_id="r1", actor="tester")
    schedule_pass(db, now=T0)


def test_a_try_without_heartbeat_is_interrupted_and_retried_at_once_for_free(
    db: Database,
) -> None:
    _claimed_run(db, retries=0, retry_delay=300)
    (a, b) = sorted(claim_scheduled(db, limit=2, now=T0), key=lambda c: c.task_id)
    start_task(db, a.ti_id, try_number=1, hostname="other-host", pid=4242, now=T0)
    start_task(db, b.ti_id, try_number=1, hostname="other-host", pid=4242, now=T0)
    heartbeat(db, b.ti_id, try_number=1, now=T0 + timedelta(seconds=55))

    lost = find_lost_tries(
        db,
        hostname="this-host",
        own_pid=1,
        owned=[],
        zombie_threshold=60,
        now=T0 + timedelta(seconds=90),
    )
    assert [(x.ti_id, x.try_number, x.state.value) for x in lost] == [(a.ti_id, 1, "running")]
    assert recover_lost_tries(db, lost) == lost
    assert recover_lost_tries(db, lost) == []  # already handled: a guarded no-op

    ti = task_instances(db, "lost", "r1")["a"]
    # No retries and a 300 s retry_delay: the interruption is retried anyway, and at once.
    # (``scheduled``: due at once, the run's advance made it ready; a normal failure would
    # wait in ``up_for_retry`` for 300 s.)
    assert (ti.state, ti.try_number, ti.max_tries) == ("scheduled", 1, 1)
    (first,) = tries_of(db, ti.id)
    assert (first.state, first.interrupted) == ("up_for_retry", True)
    assert first.error is not None
    assert first.error.startswith("interrupted: task lost: no heartbeat since")
    # What the API and the UI read of the try (``interrupted`` on task instance tries).
    (read,) = task_queries.list_tries(db, TaskRef("lost", "r1", "a"))
    assert (read.state.value, read.interrupted) == ("up_for_retry", True)


def _lose(db: Database, ti_id: int, try_number: int, at: datetime, bound: int) -> None:
    start_task(db, ti_id, try_number=try_number, hostname="gone", pid=1, now=at)
    found = find_lost_tries(
        db, hostname="here", own_pid=1, owned=[], zombie_threshold=60, now=at + timedelta(0, 90)
    )
    lost = [x for x in found if x.ti_id == ti_id]  # (not ``b``, queued all along)
    assert [(x.try_number, x.state.value) for x in lost] == [(try_number, "running")]
    assert recover_lost_tries(db, lost, max_interruptions=bound) == lost


def test_interruptions_in_a_row_past_the_bound_count_as_failures(db: Database) -> None:
    _claimed_run(db, retries=1)
    (a, _b) = sorted(claim_scheduled(db, limit=2, now=T0), key=lambda c: c.task_id)
    for number in (1, 2):  # two interruptions, forgiven: max_tries 1 -> 3
        _lose(db, a.ti_id, number, T0 + timedelta(days=number), bound=2)
        schedule_pass(db, now=T0 + timedelta(days=number, seconds=91))
        claim_scheduled(db, limit=2, now=T0 + timedelta(days=number, seconds=91))
    # The third in a row is past the bound: it spends the task's own retry...
    _lose(db, a.ti_id, 3, T0 + timedelta(days=3), bound=2)
    ti = task_instances(db, "lost", "r1")["a"]
    assert (ti.state, ti.max_tries) == ("scheduled", 3)
    schedule_pass(db, now=T0 + timedelta(days=3, seconds=91))
    claim_scheduled(db, limit=2, now=T0 + timedelta(days=3, seconds=91))
    # ... and a fourth is forgiven again (the one before it was not): the bound is "in a row".
    _lose(db, a.ti_id, 4, T0 + timedelta(days=4), bound=2)
    ti = task_instances(db, "lost", "r1")["a"]
    assert (ti.state, ti.max_tries) == ("scheduled", 4)
    tries = tries_of(db, ti.id)
    assert [t.interrupted for t in tries] == [True, True, False, True]
    assert tries[2].error is not None
    assert "counted as a failure" in tries[2].error

    # With a bound of 0 every interruption is a failure: no retries left, the task fails.
    schedule_pass(db, now=T0 + timedelta(days=4, seconds=91))
    claim_scheduled(db, limit=2, now=T0 + timedelta(days=4, seconds=91))
    _lose(db, a.ti_id, 5, T0 + timedelta(days=5), bound=0)
    assert task_instances(db, "lost", "r1")["a"].state == "failed"


def test_a_try_whose_supervisor_died_on_this_host_is_lost_at_once(db: Database) -> None:
    _claimed_run(db, retries=0)
    (a, b) = sorted(claim_scheduled(db, limit=2, now=T0), key=lambda c: c.task_id)
    start_task(db, a.ti_id, try_number=1, hostname="this-host", pid=999_999_999, now=T0)
    start_task(db, b.ti_id, try_number=1, hostname="this-host", pid=7, now=T0)
    recent = T0 + timedelta(seconds=1)

    lost = find_lost_tries(
        db,
        hostname="this-host",
        own_pid=7,
        owned=[(b.ti_id, 1)],
        zombie_threshold=60,
        now=recent,
        alive=lambda pid: pid != 999_999_999,
    )
    assert [x.ti_id for x in lost] == [a.ti_id]
    assert "pid 999999999 on this-host" in lost[0].reason
    recover_lost_tries(db, lost)
    a_ti = task_instances(db, "lost", "r1")["a"]
    # Its supervisor died: an interruption, retried although the task has no retries.
    assert (a_ti.state, a_ti.max_tries) == ("scheduled", 1)

    # The same pid without the try in its executor: a restarted scheduler that reused the pid.
    again = find_lost_tries(
        db, hostname="this-host", own_pid=7, owned=[], zombie_threshold=60, now=recent
    )
    assert [x.ti_id for x in again] == [b.ti_id]


def test_a_claimed_try_that_never_started_goes_back_to_scheduled(db: Database) -> None:
    _claimed_run(db, retries=0)
    claimed = claim_scheduled(db, limit=1, now=T0)
    args = {"hostname": "h", "own_pid": 1, "owned": [], "zombie_threshold": 60}
    assert find_lost_tries(db, **args, now=T0 + timedelta(seconds=30)) == []
    lost = find_lost_tries(db, **args, now=T0 + timedelta(seconds=61))
    assert [(x.ti_id, x.try_number, x.state.value) for x in lost] == [
        (claimed[0].ti_id, 1, "queued")
    ]
    assert recover_lost_tries(db, lost) == lost
    ti = next(t for t in task_instances(db, "lost", "r1").values() if t.id == claimed[0].ti_id)
    assert (ti.state, ti.try_number) == ("scheduled", 0)  # no try used up


def test_pid_alive() -> None:
    import os

    assert pid_alive(os.getpid())
    assert not pid_alive(999_999_999)
