"""The version lifecycle of seed 001: draft -> active -> deprecated, as named rules.

Each rule takes a ``VersionFacts`` (a snapshot of one version's state, plus what the request
brings) and refuses with the reason shown to the user, or passes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pinflow.lifecycle.decisions import Refusal, RefusalKind, Rule
from pinflow.lifecycle.states import PUBLISHED_STATUSES, VersionStatus

DEPRECATED_RUN_MESSAGE = "Deprecated workflows cannot start new runs. Create a new version instead."
CONFIRMATION_MISMATCH_MESSAGE = "Confirmation name does not match the workflow name"


@dataclass(frozen=True)
class VersionFacts:
    status: VersionStatus
    name: str
    deleted: bool = False
    live_runs: int = 0
    confirmation_name: str | None = None


def _require_not_deleted(v: VersionFacts) -> Refusal | None:
    if v.deleted:
        return Refusal("RequireNotDeleted", "This workflow version is deleted; restore it first.")
    return None


RequireNotDeleted = Rule[VersionFacts](
    "RequireNotDeleted",
    "A soft-deleted version is hidden on purpose; acting on it would surprise whoever deleted "
    "it, so it must be restored explicitly first.",
    _require_not_deleted,
)


def _require_draft_for_edit(v: VersionFacts) -> Refusal | None:
    if v.status != VersionStatus.DRAFT:
        return Refusal(
            "RequireDraftForEdit",
            f"Only draft versions can be edited; this one is {v.status}. "
            "Create a new version instead.",
        )
    return None


RequireDraftForEdit = Rule[VersionFacts](
    "RequireDraftForEdit",
    "Published versions are immutable so that every run stays reproducible (seed 001).",
    _require_draft_for_edit,
)


def _require_published_source(v: VersionFacts) -> Refusal | None:
    if v.status not in PUBLISHED_STATUSES:
        return Refusal(
            "RequirePublishedSource",
            "Only active or deprecated versions can be copied into a new version; "
            "edit this draft directly.",
        )
    return None


RequirePublishedSource = Rule[VersionFacts](
    "RequirePublishedSource",
    "New versions exist to evolve published workflows without editing them in place; a draft "
    "is already editable.",
    _require_published_source,
)


def _require_draft_for_publish(v: VersionFacts) -> Refusal | None:
    if v.status != VersionStatus.DRAFT:
        return Refusal(
            "RequireDraftForPublish", f"Only drafts can be published; this version is {v.status}."
        )
    return None


RequireDraftForPublish = Rule[VersionFacts](
    "RequireDraftForPublish",
    "Publishing assigns the next version number and freezes the snapshot; doing it twice "
    "would burn version numbers and re-freeze nothing.",
    _require_draft_for_publish,
)


def _only_active_can_be_deprecated(v: VersionFacts) -> Refusal | None:
    if v.status != VersionStatus.ACTIVE:
        return Refusal(
            "OnlyActiveCanBeDeprecated",
            f"Only active workflows can be deprecated; this one is {v.status}.",
        )
    return None


OnlyActiveCanBeDeprecated = Rule[VersionFacts](
    "OnlyActiveCanBeDeprecated",
    "Seed 001: deprecation marks a production version as superseded; a draft was never in "
    "production and a deprecated one already is superseded.",
    _only_active_can_be_deprecated,
)


def _require_published_for_revert(v: VersionFacts) -> Refusal | None:
    if v.status not in PUBLISHED_STATUSES:
        return Refusal("RequirePublishedForRevert", "This workflow is already a draft.")
    return None


RequirePublishedForRevert = Rule[VersionFacts](
    "RequirePublishedForRevert",
    "Only a published version can go back to draft.",
    _require_published_for_revert,
)


def _require_typed_confirmation(v: VersionFacts) -> Refusal | None:
    if v.confirmation_name is None or v.confirmation_name != v.name:
        return Refusal(
            "RequireTypedConfirmation", CONFIRMATION_MISMATCH_MESSAGE, RefusalKind.INVALID
        )
    return None


RequireTypedConfirmation = Rule[VersionFacts](
    "RequireTypedConfirmation",
    "Reverting a published version breaks the integrity of its runs (seed 001); typing the "
    "exact name, checked on the server, makes sure it is never done by a stray click or script.",
    _require_typed_confirmation,
)


def _prevent_run_on_deprecated(v: VersionFacts) -> Refusal | None:
    if v.status == VersionStatus.DEPRECATED:
        return Refusal("PreventRunOnDeprecated", DEPRECATED_RUN_MESSAGE, RefusalKind.INVALID)
    return None


PreventRunOnDeprecated = Rule[VersionFacts](
    "PreventRunOnDeprecated",
    "Seed 001: a deprecated version is superseded; new runs must use a newer version, while "
    "runs already in flight finish normally.",
    _prevent_run_on_deprecated,
)


def _refuse_purge_with_live_runs(v: VersionFacts) -> Refusal | None:
    if v.live_runs:
        return Refusal(
            "RefusePurgeWithLiveRuns",
            f"This version has {v.live_runs} queued or running run(s); wait for them to finish "
            "or mark them failed before deleting it permanently.",
        )
    return None


RefusePurgeWithLiveRuns = Rule[VersionFacts](
    "RefusePurgeWithLiveRuns",
    "A running task needs its version row; purging it underneath would orphan live work.",
    _refuse_purge_with_live_runs,
)


def _require_active_for_current(v: VersionFacts) -> Refusal | None:
    if v.status != VersionStatus.ACTIVE:
        return Refusal(
            "RequireActiveForCurrent",
            f"Only an active version can become the current version; this one is {v.status}.",
        )
    return None


RequireActiveForCurrent = Rule[VersionFacts](
    "RequireActiveForCurrent",
    "The current version is what new runs and re-runs use; a draft is untested and a "
    "deprecated version must not receive new runs.",
    _require_active_for_current,
)

EDIT_DRAFT = (RequireNotDeleted, RequireDraftForEdit)
CREATE_VERSION = (RequireNotDeleted, RequirePublishedSource)
PUBLISH = (RequireNotDeleted, RequireDraftForPublish)
DEPRECATE = (RequireNotDeleted, OnlyActiveCanBeDeprecated)
REVERT_TO_DRAFT = (RequireNotDeleted, RequirePublishedForRevert, RequireTypedConfirmation)
START_RUN = (RequireNotDeleted, PreventRunOnDeprecated)
PURGE = (RefusePurgeWithLiveRuns,)
SET_CURRENT = (RequireNotDeleted, RequireActiveForCurrent)


def next_version_number(published_numbers: Sequence[int]) -> int:
    """Seed 001: the version number is incremented on publish (highest published + 1)."""
    return max(published_numbers, default=0) + 1


@dataclass(frozen=True)
class VersionRef:
    id: str
    version: int
    status: VersionStatus


def current_after_removal(
    current_id: str | None, removed_id: str, others: Sequence[VersionRef]
) -> str | None:
    """Where ``current`` goes when ``removed_id`` stops being runnable (deprecate, revert, delete).

    It stays put unless it pointed at the removed version; then it moves to the newest remaining
    active version, or to nothing (new runs must then name a version explicitly).
    """
    if current_id != removed_id:
        return current_id
    candidates = [v for v in others if v.status == VersionStatus.ACTIVE and v.id != removed_id]
    if not candidates:
        return None
    return max(candidates, key=lambda v: v.version).id
