"""A DAG's retirement policy (issue #18, point 3; ADR 0031): what to retire next, and why.

``plan_retirement`` is pure: the policy, a snapshot of the DAG's versions (status, lineage,
runs in flight, when they were published, deprecated and last ran) and ``now`` give the
actions, each with the rule that asks for it, a reason for people and when it is due. The
scheduler applies the due ones (one transaction each, re-planned under the DAG's lock); the
preview shows all of them. Named rules, each with its why:

- ``KeepActive``: at most ``keep_active`` active versions, the newest by version number;
- ``DeprecatePreviousOnPublish``: an active version is deprecated once a version cloned from
  it (``sourceWorkflowId``, which a push also sets) is published while the policy is in force;
- ``PurgeDrainedDeprecated``: a deprecated version is soft-deleted (seed 001's delete:
  restorable) ``purge_deprecated_after`` after it was deprecated and its last run ended.

Two guards hold over all of them: the current version is never retired
(``NeverRetireCurrent``), and a version with a run queued or running is never purged
(``NeverPurgeInFlight``: it waits, and the preview says so). Drafts and deleted versions are
never touched.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from pinflow.lifecycle.states import VersionStatus

POLICY_ACTOR = "policy"
_DURATION = re.compile(r"^\s*(\d{1,6})\s*([smhdw])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
MAX_DURATION = timedelta(days=3650)


class ActionKind(StrEnum):
    DEPRECATE = "deprecate"
    PURGE = "purge"  # seed 001's soft delete: hidden from lists, restorable


class ActionStatus(StrEnum):
    DUE = "due"  # the scheduler applies it at its next retirement pass
    SCHEDULED = "scheduled"  # due at ``due_at``
    BLOCKED = "blocked"  # waits for something that has no date (runs in flight)


@dataclass(frozen=True)
class RetirementPolicy:
    keep_active: int | None = None
    deprecate_previous_on_publish: bool = False
    purge_deprecated_after: timedelta | None = None
    # Since when ``deprecate_previous_on_publish`` holds: publishes before it are history.
    in_force_since: datetime | None = None

    @property
    def is_empty(self) -> bool:
        return (
            self.keep_active is None
            and not self.deprecate_previous_on_publish
            and self.purge_deprecated_after is None
        )


@dataclass(frozen=True)
class VersionState:
    id: str
    version: int
    status: VersionStatus
    source_id: str | None = None
    published_at: datetime | None = None
    deprecated_at: datetime | None = None
    deleted: bool = False
    live_runs: int = 0
    last_run_ended_at: datetime | None = None


@dataclass(frozen=True)
class RetirementAction:
    kind: ActionKind
    version_id: str
    version: int
    rule: str
    reason: str
    status: ActionStatus
    due_at: datetime | None  # None while blocked

    def same_as(self, other: RetirementAction) -> bool:
        """The same act on the same version (what a re-plan under the lock must still find)."""
        return (self.kind, self.version_id) == (other.kind, other.version_id)


def parse_duration(text: str) -> timedelta:
    """``30d``, ``12h``, ``90m``, ``2w``, ``45s``: one number and one unit, up to ten years."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(
            f"{text!r} is not a duration: write a whole number and a unit, "
            "s, m, h, d or w (e.g. 30d)."
        )
    value = timedelta(seconds=int(match.group(1)) * _UNIT_SECONDS[match.group(2)])
    if value > MAX_DURATION:
        raise ValueError(f"{text!r} is longer than ten years; use at most 3650d.")
    return value


def format_duration(value: timedelta) -> str:
    """The shortest ``parse_duration`` text that gives ``value`` back."""
    seconds = int(value.total_seconds())
    for unit in ("w", "d", "h", "m"):
        size = _UNIT_SECONDS[unit]
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _in_service(versions: Sequence[VersionState], status: VersionStatus) -> list[VersionState]:
    return [v for v in versions if v.status == status and not v.deleted]


def keep_active(
    policy: RetirementPolicy,
    versions: Sequence[VersionState],
    current_id: str | None,
    now: datetime,
) -> list[RetirementAction]:
    """KeepActive: the newest ``keep_active`` active versions stay, older ones are deprecated.

    Why: a long-lived DAG accumulates active versions that anyone may start runs on; a bound
    keeps "which version is production?" answerable. The current version is kept even when
    older (a rollback chose it): it does not count against the newer ones.
    """
    if policy.keep_active is None:
        return []
    active = sorted(_in_service(versions, VersionStatus.ACTIVE), key=lambda v: -v.version)
    kept = [f"v{v.version}" for v in active[: policy.keep_active]]
    return [
        RetirementAction(
            ActionKind.DEPRECATE,
            v.id,
            v.version,
            "KeepActive",
            f"keep_active is {policy.keep_active}: the newest active "
            f"version{'s are' if len(kept) > 1 else ' is'} {', '.join(kept) or 'none'}.",
            ActionStatus.DUE,
            now,
        )
        for v in active[policy.keep_active :]
        if v.id != current_id
    ]


def deprecate_previous_on_publish(
    policy: RetirementPolicy,
    versions: Sequence[VersionState],
    current_id: str | None,
    now: datetime,
) -> list[RetirementAction]:
    """DeprecatePreviousOnPublish: seed 001's "deprecate the previous version?", answered yes.

    Why: the seed asks after every publish whether to deprecate the source; a team that always
    answers yes sets it once. Only publishes since the policy is in force count, so enabling
    it does not rewrite history (``keep_active`` is the rule for that).
    """
    if not policy.deprecate_previous_on_publish:
        return []
    since = policy.in_force_since
    successors: dict[str, VersionState] = {}
    for w in versions:
        published = w.status in (VersionStatus.ACTIVE, VersionStatus.DEPRECATED)
        if not published or w.source_id is None or w.published_at is None:
            continue
        if since is not None and w.published_at < since:
            continue
        best = successors.get(w.source_id)
        if best is None or w.version > best.version:
            successors[w.source_id] = w
    actions = []
    for v in _in_service(versions, VersionStatus.ACTIVE):
        successor = successors.get(v.id)
        if successor is None or successor.version <= v.version or v.id == current_id:
            continue
        actions.append(
            RetirementAction(
                ActionKind.DEPRECATE,
                v.id,
                v.version,
                "DeprecatePreviousOnPublish",
                f"v{successor.version}, created from it, was published.",
                ActionStatus.DUE,
                now,
            )
        )
    return actions


def purge_drained_deprecated(
    policy: RetirementPolicy,
    versions: Sequence[VersionState],
    current_id: str | None,
    now: datetime,
) -> list[RetirementAction]:
    """PurgeDrainedDeprecated: seed 001's advice, "delete deprecated workflows once all their
    runs have completed", on a timer.

    Why: a deprecated version is kept for its in-flight runs and for a while after (to look at
    or restore); then it only clutters the lists. The clock starts at the later of its
    deprecation and the end of its last run, so a version still busy last week is kept longer.
    NeverPurgeInFlight: with a run queued or running it waits, whatever the clock says.
    """
    after = policy.purge_deprecated_after
    if after is None:
        return []
    actions = []
    for v in _in_service(versions, VersionStatus.DEPRECATED):
        if v.id == current_id:
            continue
        since = max((d for d in (v.deprecated_at, v.last_run_ended_at) if d), default=None)
        since = since or v.published_at
        if v.live_runs:
            runs = "run is" if v.live_runs == 1 else "runs are"
            reason = f"{v.live_runs} {runs} queued or running; purged once drained."
            status, due = ActionStatus.BLOCKED, None
        elif since is None:
            continue
        else:
            due = since + after
            status = ActionStatus.DUE if due <= now else ActionStatus.SCHEDULED
            basis = "its last run" if since == v.last_run_ended_at else "its deprecation"
            reason = (
                "deprecated and without runs in flight; purge_deprecated_after is "
                f"{format_duration(after)} since {basis}."
            )
        actions.append(
            RetirementAction(
                ActionKind.PURGE, v.id, v.version, "PurgeDrainedDeprecated", reason, status, due
            )
        )
    return actions


RULES = (keep_active, deprecate_previous_on_publish, purge_drained_deprecated)


def plan_retirement(
    policy: RetirementPolicy,
    versions: Sequence[VersionState],
    *,
    current_id: str | None,
    now: datetime,
) -> list[RetirementAction]:
    """Every action the policy asks for, due ones first, then by date and version number.

    A version asked to be deprecated by two rules appears once (the first rule's reason).
    """
    seen: set[tuple[ActionKind, str]] = set()
    actions: list[RetirementAction] = []
    for rule in RULES:
        for action in rule(policy, versions, current_id, now):
            key = (action.kind, action.version_id)
            if key not in seen:
                seen.add(key)
                actions.append(action)
    order = {ActionStatus.DUE: 0, ActionStatus.SCHEDULED: 1, ActionStatus.BLOCKED: 2}
    return sorted(
        actions,
        key=lambda a: (
            order[a.status],
            a.due_at or datetime.max.replace(tzinfo=now.tzinfo),
            a.version,
        ),
    )


def due_actions(actions: Sequence[RetirementAction]) -> list[RetirementAction]:
    return [a for a in actions if a.status == ActionStatus.DUE]
