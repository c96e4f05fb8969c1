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
from pinflow.store.db import Database
from pinflow.testing import make_spec

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _claimed_run(db: Database, retries: int) -> None:
    spec = make_spec(
        "lost", {"a": [], "b": []}, default_args={"retries": retries, "retry_delay": 0}
    )
    register_snapshot(db, spec, actor="tester")
    trigger_run(db, dag_id="lost", run_id="r1", actor="tester")
    schedule_pass(db, now=T0)


def test_a_try_without_heartbeat_is_failed_and_retried_by_its_policy(db: Database) -> None:
    _claimed_run(db, retries=1)
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
    assert ti.state in ("up_for_retry", "scheduled")  # retry_delay=0: due at once
    (first,) = tries_of(db, ti.id)
    assert first.state == "up_for_retry"
    assert first.error is not None
    assert first.error.startswith("task lost: no heartbeat since")


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
    assert task_instances(db, "lost", "r1")["a"].state == "failed"  # no retries left

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
