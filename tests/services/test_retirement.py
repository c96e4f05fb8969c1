"""A DAG's retirement policy, applied by the service the scheduler calls (ADR 0031), on SQLite
and PostgreSQL: every automatic action audited with actor ``policy``, re-checked under the
DAG's lock, never twice, never on a version with a run in flight or on the current one."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from pinflow.errors import InvalidInputError, NotFoundError
from pinflow.lifecycle.retirement import ActionKind, ActionStatus
from pinflow.lifecycle.states import VersionStatus
from pinflow.services.commands import dags, retirement, version_deletes, versions
from pinflow.services.commands._push import register_snapshot
from pinflow.services.commands._retirement import PolicyInput, _apply_one
from pinflow.services.commands._runs import trigger_run
from pinflow.services.reads import queries
from pinflow.services.reads import retirement as policy_reads
from pinflow.store.db import Database
from pinflow.store.tables import AuditEvent, DagRun
from pinflow.testing import make_spec, run_until_idle, scripted

DAYS = timedelta(days=1)


def push(db: Database, command: str, dag_id: str = "etl") -> str:
    spec = make_spec(dag_id, {"a": []}, task_fields={"a": {"bash_command": command}})
    return register_snapshot(db, spec, b"", actor="ci").version.id


def status_of(db: Database, version_id: str) -> tuple[VersionStatus, bool]:
    v = queries.get_version(db, version_id)
    return v.status, v.deleted


def policy_events(db: Database) -> list[AuditEvent]:
    with db.read() as s:
        rows = s.scalars(
            select(AuditEvent).where(AuditEvent.actor == "policy").order_by(AuditEvent.id)
        ).all()
        s.expunge_all()
        return list(rows)


def later(days: float) -> datetime:
    return datetime.now(UTC) + timedelta(days=days)


def test_setting_a_policy_is_audited_with_what_it_was(db: Database) -> None:
    push(db, "echo 1")
    view = retirement.set_policy(db, "etl", PolicyInput(keep_active=2), actor="alice")
    assert (view.is_set, view.policy.keep_active, view.updated_by) == (True, 2, "alice")
    retirement.set_policy(
        db,
        "etl",
        PolicyInput(keep_active=1, purge_deprecated_after=30 * DAYS),
        actor="bob",
    )
    with db.read() as s:
        metas = s.scalars(
            select(AuditEvent.meta).where(AuditEvent.action == "dag.retirement_policy_set")
        ).all()
    off = {"keepActive": 2, "deprecatePreviousOnPublish": False, "purgeDeprecatedAfter": None}
    assert metas[0] == {"from": None, "to": off}
    assert metas[1]["to"] == {
        "keepActive": 1,
        "deprecatePreviousOnPublish": False,
        "purgeDeprecatedAfter": "30d",
    }
    assert metas[1]["from"] == off


@pytest.mark.parametrize(
    ("policy", "message"),
    [
        (PolicyInput(keep_active=0), "keep_active must be between 1 and 1000"),
        (PolicyInput(purge_deprecated_after=-DAYS), "purge_deprecated_after must be between"),
        (PolicyInput(purge_deprecated_after=4000 * DAYS), "or null to never purge"),
    ],
)
def test_bad_policies_say_what_to_do(db: Database, policy: PolicyInput, message: str) -> None:
    push(db, "echo 1")
    with pytest.raises(InvalidInputError, match=message):
        retirement.set_policy(db, "etl", policy, actor="alice")


def test_unknown_and_deregistered_dags_have_no_policy_to_set(db: Database) -> None:
    with pytest.raises(NotFoundError, match="DAG 'nope' was not found"):
        retirement.set_policy(db, "nope", PolicyInput(keep_active=1), actor="alice")
    push(db, "echo 1")
    dags.deregister(db, "etl", actor="alice")
    with pytest.raises(NotFoundError):
        retirement.set_policy(db, "etl", PolicyInput(keep_active=1), actor="alice")


def test_keep_active_deprecates_the_older_versions_once(db: Database) -> None:
    v1, v2, v3 = push(db, "echo 1"), push(db, "echo 2"), push(db, "echo 3")
    retirement.set_policy(db, "etl", PolicyInput(keep_active=1), actor="alice")
    done = retirement.apply_due(db)
    assert sorted((d.action.kind, d.action.version_id) for d in done) == sorted(
        [(ActionKind.DEPRECATE, v1), (ActionKind.DEPRECATE, v2)]
    )
    assert status_of(db, v1) == (VersionStatus.DEPRECATED, False)
    assert status_of(db, v3) == (VersionStatus.ACTIVE, False)
    assert queries.get_version(db, v1).deprecated_by == "policy"
    events = policy_events(db)
    assert [(e.action, e.target_id) for e in events] == [
        ("workflow.deprecated", v1),
        ("workflow.deprecated", v2),
    ]
    assert events[0].meta["policy"]["rule"] == "KeepActive"
    assert "keep_active is 1" in events[0].meta["policy"]["reason"]
    assert retirement.apply_due(db) == []  # idempotent: nothing is due any more
    assert len(policy_events(db)) == 2


def test_the_current_version_is_kept_after_a_rollback(db: Database) -> None:
    v1, v2 = push(db, "echo 1"), push(db, "echo 2")
    versions.set_current_version(db, v1, actor="alice")
    retirement.set_policy(db, "etl", PolicyInput(keep_active=1), actor="alice")
    assert retirement.apply_due(db) == []
    assert status_of(db, v1)[0] == status_of(db, v2)[0] == VersionStatus.ACTIVE


def test_deprecate_previous_on_publish(db: Database) -> None:
    v1 = push(db, "echo 1")
    retirement.set_policy(db, "etl", PolicyInput(deprecate_previous_on_publish=True), actor="alice")
    assert retirement.apply_due(db) == []
    draft = versions.create_version(db, v1, actor="alice")
    assert retirement.apply_due(db) == []  # a draft supersedes nothing yet
    versions.publish(db, draft.id, actor="alice")
    (done,) = retirement.apply_due(db)
    assert (done.action.version_id, done.action.rule) == (v1, "DeprecatePreviousOnPublish")
    assert status_of(db, v1)[0] == VersionStatus.DEPRECATED
    # A push names the current version as its source: the same rule holds for GitOps.
    v3 = push(db, "echo 3")
    (done,) = retirement.apply_due(db)
    assert done.action.version_id == draft.id
    assert status_of(db, v3)[0] == VersionStatus.ACTIVE


def test_switching_deprecate_previous_on_does_not_rewrite_history(db: Database) -> None:
    v1 = push(db, "echo 1")
    push(db, "echo 2")  # published before the policy: its source stays active
    retirement.set_policy(db, "etl", PolicyInput(deprecate_previous_on_publish=True), actor="alice")
    assert retirement.apply_due(db) == []
    assert status_of(db, v1)[0] == VersionStatus.ACTIVE


def test_purge_waits_for_runs_in_flight_and_its_delay(db: Database) -> None:
    v1 = push(db, "echo 1")
    trigger_run(db, version_id=v1, run_id="busy", actor="alice")  # queued, not drained
    v2 = push(db, "echo 2")
    versions.deprecate(db, v1, actor="alice")
    policy = PolicyInput(purge_deprecated_after=30 * DAYS)
    retirement.set_policy(db, "etl", policy, actor="alice")

    (blocked,) = policy_reads.preview(db, "etl", now=later(400)).actions
    assert (blocked.kind, blocked.status, blocked.due_at) == (
        ActionKind.PURGE,
        ActionStatus.BLOCKED,
        None,
    )
    assert retirement.apply_due(db, at=later(400)) == []  # never with a run in flight

    run_until_idle(db, scripted({}))  # the run finishes on the deprecated version
    (waiting,) = policy_reads.preview(db, "etl", now=later(29)).actions
    assert waiting.status == ActionStatus.SCHEDULED
    assert waiting.due_at is not None
    assert later(29) < waiting.due_at < later(31)
    assert retirement.apply_due(db, at=later(29)) == []

    (done,) = retirement.apply_due(db, at=later(31))
    assert (done.action.kind, done.action.version_id) == (ActionKind.PURGE, v1)
    assert status_of(db, v1) == (VersionStatus.DEPRECATED, True)  # soft: restorable
    (event,) = [e for e in policy_events(db) if e.action == "workflow.deleted"]
    assert event.meta["policy"]["rule"] == "PurgeDrainedDeprecated"
    assert retirement.apply_due(db, at=later(31)) == []
    version_deletes.restore(db, v1, actor="alice")
    assert status_of(db, v2) == (VersionStatus.ACTIVE, False)


def test_a_stale_plan_is_not_applied_under_the_lock(db: Database) -> None:
    """What the unlocked read planned is re-planned under the DAG's lock: a person (or another
    scheduler) who acted in between leaves nothing to do, and no second event."""
    v1 = push(db, "echo 1")
    push(db, "echo 2")
    retirement.set_policy(db, "etl", PolicyInput(keep_active=1), actor="alice")
    (action,) = policy_reads.preview(db, "etl", now=later(0)).actions
    versions.deprecate(db, v1, actor="alice")
    assert _apply_one(db, "etl", action, later(0)) is None
    assert policy_events(db) == []


def test_a_version_that_got_a_run_meanwhile_is_not_purged(db: Database) -> None:
    v1 = push(db, "echo 1")
    push(db, "echo 2")
    versions.deprecate(db, v1, actor="alice")
    retirement.set_policy(db, "etl", PolicyInput(purge_deprecated_after=0 * DAYS), actor="a")
    (action,) = policy_reads.preview(db, "etl", now=later(1)).actions
    assert action.status == ActionStatus.DUE
    # A run re-queued on the deprecated version between the plan and the act (a clear that
    # keeps its pin): written straight into the store, as the race would leave it.
    with db.transaction() as s:
        s.add(
            DagRun(
                dag_id="etl",
                run_id="late",
                version_id=v1,
                state="running",
                snapshot_digest=queries.get_version(db, v1).snapshot_digest,
            )
        )
    assert _apply_one(db, "etl", action, later(1)) is None
    assert status_of(db, v1) == (VersionStatus.DEPRECATED, False)


def test_deregistered_dags_are_left_alone(db: Database) -> None:
    push(db, "echo 1")
    push(db, "echo 2")
    retirement.set_policy(db, "etl", PolicyInput(keep_active=1), actor="alice")
    dags.deregister(db, "etl", actor="alice")
    assert retirement.apply_due(db) == []


@pytest.mark.postgresql_only
def test_two_schedulers_at_once_act_once(db: Database) -> None:
    """ADR 0015: no leader; the DAG's row lock and the re-plan make the second pass find
    nothing. Both passes start together (a barrier); every action is recorded once."""
    for i in range(6):
        push(db, f"echo {i}")
    retirement.set_policy(db, "etl", PolicyInput(keep_active=1), actor="alice")
    barrier = threading.Barrier(2)
    results: list[int] = []

    def scheduler() -> None:
        barrier.wait()
        results.append(len(retirement.apply_due(db)))

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(results) == 5
    assert len(policy_events(db)) == 5
