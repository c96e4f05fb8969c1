"""The retirement policy's pure rule: state of a DAG's versions + now -> actions with reasons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pinflow.lifecycle.retirement import (
    ActionKind,
    ActionStatus,
    RetirementPolicy,
    VersionState,
    due_actions,
    format_duration,
    parse_duration,
    plan_retirement,
)
from pinflow.lifecycle.states import VersionStatus

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
A, D, DR = VersionStatus.ACTIVE, VersionStatus.DEPRECATED, VersionStatus.DRAFT


def v(n: int, status: VersionStatus, **fields: object) -> VersionState:
    published = fields.pop("published_at", NOW - timedelta(days=100 - n))
    return VersionState(
        id=f"v{n}",
        version=n,
        status=status,
        published_at=published,  # type: ignore[arg-type]
        **fields,  # type: ignore[arg-type]
    )


def plan(policy: RetirementPolicy, versions: list[VersionState], current: str | None = None):  # type: ignore[no-untyped-def]
    return plan_retirement(policy, versions, current_id=current, now=NOW)


def test_an_empty_policy_does_nothing() -> None:
    assert RetirementPolicy().is_empty
    assert plan(RetirementPolicy(), [v(1, A), v(2, A), v(3, D)], "v2") == []


def test_keep_active_deprecates_the_oldest_beyond_the_bound() -> None:
    actions = plan(RetirementPolicy(keep_active=1), [v(1, A), v(2, A), v(3, A)], "v3")
    assert [(a.kind, a.version_id, a.status) for a in actions] == [
        (ActionKind.DEPRECATE, "v1", ActionStatus.DUE),
        (ActionKind.DEPRECATE, "v2", ActionStatus.DUE),
    ]
    assert actions[0].rule == "KeepActive"
    assert "keep_active is 1" in actions[0].reason
    assert "v3" in actions[0].reason


def test_keep_active_never_deprecates_the_current_version_after_a_rollback() -> None:
    actions = plan(RetirementPolicy(keep_active=1), [v(1, A), v(2, A), v(3, A)], "v1")
    assert [a.version_id for a in actions] == ["v2"]


def test_keep_active_ignores_drafts_deleted_and_deprecated_versions() -> None:
    versions = [v(1, A, deleted=True), v(2, D), v(3, A), v(4, DR)]
    assert plan(RetirementPolicy(keep_active=1), versions, "v3") == []
    assert plan(RetirementPolicy(keep_active=0), versions, "v3") == []  # current is kept


def test_deprecate_previous_on_publish_follows_the_source_link() -> None:
    versions = [v(1, A), v(2, A, source_id="v1"), v(3, A)]  # v3 not cloned from anyone
    actions = plan(RetirementPolicy(deprecate_previous_on_publish=True), versions, "v2")
    assert [(a.version_id, a.rule) for a in actions] == [("v1", "DeprecatePreviousOnPublish")]
    assert actions[0].reason == "v2, created from it, was published."


def test_deprecate_previous_on_publish_counts_only_publishes_since_the_policy() -> None:
    versions = [v(1, A), v(2, A, source_id="v1", published_at=NOW - timedelta(days=2))]
    since_yesterday = RetirementPolicy(
        deprecate_previous_on_publish=True, in_force_since=NOW - timedelta(days=1)
    )
    assert plan(since_yesterday, versions, "v2") == []
    since_last_week = RetirementPolicy(
        deprecate_previous_on_publish=True, in_force_since=NOW - timedelta(days=7)
    )
    assert [a.version_id for a in plan(since_last_week, versions, "v2")] == ["v1"]


def test_a_draft_clone_is_no_successor_and_a_deprecated_successor_still_is() -> None:
    policy = RetirementPolicy(deprecate_previous_on_publish=True)
    assert plan(policy, [v(1, A), v(1, DR, source_id="v1")], "v1") == []
    versions = [v(1, A), v(2, D, source_id="v1")]
    assert [a.version_id for a in plan(policy, versions, None)] == ["v1"]
    assert plan(policy, versions, "v1") == []  # unless it is current (a rollback)


def test_two_rules_asking_the_same_deprecation_give_one_action() -> None:
    versions = [v(1, A), v(2, A, source_id="v1")]
    policy = RetirementPolicy(keep_active=1, deprecate_previous_on_publish=True)
    actions = plan(policy, versions, "v2")
    assert [(a.version_id, a.rule) for a in actions] == [("v1", "KeepActive")]


def test_purge_waits_its_delay_from_the_deprecation() -> None:
    policy = RetirementPolicy(purge_deprecated_after=timedelta(days=30))
    recent = v(1, D, deprecated_at=NOW - timedelta(days=10))
    (action,) = plan(policy, [recent, v(2, A)], "v2")
    assert (action.kind, action.status) == (ActionKind.PURGE, ActionStatus.SCHEDULED)
    assert action.due_at == NOW + timedelta(days=20)
    assert "since its deprecation" in action.reason
    old = v(1, D, deprecated_at=NOW - timedelta(days=30))
    (action,) = plan(policy, [old, v(2, A)], "v2")
    assert action.status == ActionStatus.DUE
    assert action.due_at == NOW - timedelta(0)


def test_purge_clock_starts_at_the_last_run_when_it_ended_later() -> None:
    policy = RetirementPolicy(purge_deprecated_after=timedelta(days=30))
    version = v(
        1, D, deprecated_at=NOW - timedelta(days=40), last_run_ended_at=NOW - timedelta(days=5)
    )
    (action,) = plan(policy, [version], None)
    assert action.status == ActionStatus.SCHEDULED
    assert action.due_at == NOW + timedelta(days=25)
    assert "since its last run" in action.reason


def test_nothing_with_a_run_in_flight_is_purged_whatever_the_clock() -> None:
    policy = RetirementPolicy(purge_deprecated_after=timedelta(0))
    busy = v(1, D, deprecated_at=NOW - timedelta(days=400), live_runs=2)
    (action,) = plan(policy, [busy], None)
    assert (action.status, action.due_at) == (ActionStatus.BLOCKED, None)
    assert action.reason == "2 runs are queued or running; purged once drained."
    assert due_actions([action]) == []


def test_purge_never_touches_drafts_active_deleted_or_current_versions() -> None:
    policy = RetirementPolicy(purge_deprecated_after=timedelta(0))
    old = NOW - timedelta(days=1)
    versions = [
        v(1, DR),
        v(2, A),
        v(3, D, deleted=True, deprecated_at=old),
        v(4, D, deprecated_at=old),
    ]
    assert [a.version_id for a in plan(policy, versions, "v4")] == []
    assert [a.version_id for a in plan(policy, versions, "v2")] == ["v4"]


def test_due_actions_come_first_then_by_date() -> None:
    policy = RetirementPolicy(keep_active=1, purge_deprecated_after=timedelta(days=1))
    versions = [
        v(1, D, deprecated_at=NOW, live_runs=1),
        v(2, D, deprecated_at=NOW),
        v(3, D, deprecated_at=NOW - timedelta(days=2)),
        v(4, A),
        v(5, A),
    ]
    actions = plan(policy, versions, "v5")
    assert [(a.kind.value, a.version_id, a.status.value) for a in actions] == [
        ("purge", "v3", "due"),
        ("deprecate", "v4", "due"),
        ("purge", "v2", "scheduled"),
        ("purge", "v1", "blocked"),
    ]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30d", 30 * 86400), ("12h", 43200), (" 90m ", 5400), ("2w", 1209600), ("0s", 0)],
)
def test_durations_parse_and_format_back(text: str, seconds: int) -> None:
    value = parse_duration(text)
    assert value == timedelta(seconds=seconds)
    assert parse_duration(format_duration(value)) == value


@pytest.mark.parametrize("text", ["", "30", "d", "1.5d", "-1d", "30 days", "3651d"])
def test_bad_durations_say_how_to_write_one(text: str) -> None:
    with pytest.raises(ValueError, match=r"duration|ten years"):
        parse_duration(text)
