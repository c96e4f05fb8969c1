"""Seed 001's lifecycle table as pure rules: one case per status and action."""

from __future__ import annotations

import pytest

from pinflow.lifecycle import version_rules as rules
from pinflow.lifecycle.decisions import RefusalKind, first_refusal
from pinflow.lifecycle.states import VersionStatus as V
from pinflow.lifecycle.version_rules import VersionFacts, VersionRef


def refused(group: tuple[rules.Rule[VersionFacts], ...], **facts: object) -> str | None:
    state = VersionFacts(**{"name": "ETL", **facts})  # type: ignore[arg-type]
    refusal = first_refusal(group, state)
    return refusal.rule if refusal else None


@pytest.mark.parametrize(
    ("status", "can_edit", "can_run"),
    [(V.DRAFT, True, True), (V.ACTIVE, False, True), (V.DEPRECATED, False, False)],
)
def test_seed_lifecycle_table(status: V, can_edit: bool, can_run: bool) -> None:
    assert (refused(rules.EDIT_DRAFT, status=status) is None) is can_edit
    assert (refused(rules.START_RUN, status=status) is None) is can_run


def test_deprecated_run_refusal_is_the_seed_message_and_a_400() -> None:
    refusal = first_refusal(rules.START_RUN, VersionFacts(V.DEPRECATED, "ETL"))
    assert refusal is not None
    assert refusal.kind == RefusalKind.INVALID
    assert refusal.message == (
        "Deprecated workflows cannot start new runs. Create a new version instead."
    )


@pytest.mark.parametrize(
    ("status", "ok"), [(V.DRAFT, False), (V.ACTIVE, True), (V.DEPRECATED, True)]
)
def test_new_version_only_from_published(status: V, ok: bool) -> None:
    assert (refused(rules.CREATE_VERSION, status=status) is None) is ok


@pytest.mark.parametrize(
    ("status", "ok"), [(V.DRAFT, False), (V.ACTIVE, True), (V.DEPRECATED, False)]
)
def test_only_active_can_be_deprecated(status: V, ok: bool) -> None:
    assert (refused(rules.DEPRECATE, status=status) is None) is ok


@pytest.mark.parametrize(
    ("typed", "ok"), [("ETL", True), ("etl", False), (" ETL", False), (None, False), ("", False)]
)
def test_revert_needs_the_exact_name(typed: str | None, ok: bool) -> None:
    got = refused(rules.REVERT_TO_DRAFT, status=V.ACTIVE, confirmation_name=typed)
    assert (got is None) is ok
    if not ok:
        assert got == "RequireTypedConfirmation"


def test_deleted_versions_must_be_restored_first() -> None:
    for group in (rules.EDIT_DRAFT, rules.START_RUN, rules.DEPRECATE, rules.CREATE_VERSION):
        assert refused(group, status=V.ACTIVE, deleted=True) == "RequireNotDeleted"


def test_purge_refused_with_live_runs() -> None:
    assert refused(rules.PURGE, status=V.ACTIVE, live_runs=2) == "RefusePurgeWithLiveRuns"
    assert refused(rules.PURGE, status=V.ACTIVE, live_runs=0) is None


def test_next_version_number() -> None:
    assert rules.next_version_number([]) == 1
    assert rules.next_version_number([1, 3, 2]) == 4


def test_current_moves_to_newest_remaining_active() -> None:
    refs = [
        VersionRef("v1", 1, V.ACTIVE),
        VersionRef("v2", 2, V.ACTIVE),
        VersionRef("v3", 3, V.DEPRECATED),
        VersionRef("d", 4, V.DRAFT),
    ]
    assert rules.current_after_removal("v2", "v2", refs) == "v1"
    assert rules.current_after_removal("v1", "v2", refs) == "v1"
    assert rules.current_after_removal("v1", "v1", [VersionRef("v1", 1, V.ACTIVE)]) is None


def test_every_rule_says_why() -> None:
    named = [v for v in vars(rules).values() if isinstance(v, rules.Rule)]
    assert len(named) >= 9
    for rule in named:
        assert len(rule.why) > 20, rule.name
