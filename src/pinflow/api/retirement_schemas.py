"""Bodies of a DAG's retirement policy, its preview and its version lineage (camelCase, as
Pinflow's own routes; ADR 0031)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field, field_validator

from pinflow.api.schemas import Camel
from pinflow.lifecycle.retirement import (
    ActionKind,
    ActionStatus,
    RetirementAction,
    format_duration,
    parse_duration,
)
from pinflow.lifecycle.states import VersionStatus
from pinflow.services.commands import retirement
from pinflow.services.reads import lineage
from pinflow.services.reads import retirement as policy_reads

DURATION = "A whole number and a unit: s, m, h, d or w (e.g. 30d); null: never purge."


class RetirementPolicyBody(Camel):
    """The whole policy (PUT replaces it): every rule off is the same as no policy."""

    keep_active: int | None = Field(
        default=None,
        ge=1,
        le=retirement.MAX_KEEP_ACTIVE,
        description="Keep at most this many active versions, the newest (the current one is "
        "always kept); older ones are deprecated. null: any number.",
    )
    deprecate_previous_on_publish: bool = Field(
        default=False,
        description="Deprecate a version once a version created from it (sourceWorkflowId) "
        "is published; counts publishes from when this is switched on.",
    )
    purge_deprecated_after: str | None = Field(
        default=None,
        max_length=20,
        description="Soft-delete (restorable) a deprecated version this long after its "
        f"deprecation or its last run, whichever is later, once no run is in flight. {DURATION}",
        examples=["30d"],
    )

    @field_validator("purge_deprecated_after")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)  # its ValueError becomes the field's 422 message
        return value

    def to_input(self) -> retirement.PolicyInput:
        after = self.purge_deprecated_after
        return retirement.PolicyInput(
            keep_active=self.keep_active,
            deprecate_previous_on_publish=self.deprecate_previous_on_publish,
            purge_deprecated_after=None if after is None else parse_duration(after),
        )


class RetirementPolicyOut(RetirementPolicyBody):
    dag_id: str
    is_set: bool = Field(description="False: no policy was ever set; nothing is automatic.")
    deprecate_previous_since: datetime | None = Field(
        description="When deprecatePreviousOnPublish was switched on."
    )
    updated_at: datetime | None
    updated_by: str | None

    @classmethod
    def of(cls, v: policy_reads.PolicyView) -> RetirementPolicyOut:
        p = v.policy
        after = p.purge_deprecated_after
        return cls(
            dag_id=v.dag_id,
            keep_active=p.keep_active,
            deprecate_previous_on_publish=p.deprecate_previous_on_publish,
            purge_deprecated_after=None if after is None else format_duration(after),
            is_set=v.is_set,
            deprecate_previous_since=p.in_force_since,
            updated_at=v.updated_at,
            updated_by=v.updated_by,
        )


class RetirementActionOut(Camel):
    kind: ActionKind = Field(description="deprecate, or purge (seed 001's soft delete).")
    workflow_id: str
    version: int
    rule: str = Field(description="The policy rule that asks for it.")
    reason: str
    status: ActionStatus = Field(
        description="due: at the scheduler's next pass; scheduled: at dueAt; blocked: waits "
        "for its runs in flight to finish."
    )
    due_at: datetime | None

    @classmethod
    def of(cls, a: RetirementAction) -> RetirementActionOut:
        return cls(
            kind=a.kind,
            workflow_id=a.version_id,
            version=a.version,
            rule=a.rule,
            reason=a.reason,
            status=a.status,
            due_at=a.due_at,
        )


class RetirementPreviewOut(Camel):
    """What the policy will do next and when, as of ``now``."""

    policy: RetirementPolicyOut
    now: datetime
    actions: list[RetirementActionOut]

    @classmethod
    def of(cls, p: policy_reads.PolicyPreview) -> RetirementPreviewOut:
        return cls(
            policy=RetirementPolicyOut.of(p.view),
            now=p.now,
            actions=[RetirementActionOut.of(a) for a in p.actions],
        )


class LineageEventOut(Camel):
    action: str
    actor: str
    at: datetime
    by_policy: bool = Field(description="Done by the DAG's retirement policy (actor policy).")
    metadata: dict[str, Any]


class LineageRunsOut(Camel):
    total: int
    queued: int
    running: int
    succeeded: int
    failed: int
    success_rate: float | None = Field(description="succeeded / finished runs (0 to 1).")
    first_run_at: datetime | None
    last_run_at: datetime | None
    p50_seconds: float | None = Field(description="Finished run duration, continuous p50.")
    p95_seconds: float | None = Field(description="Finished run duration, continuous p95.")


class LineageVersionOut(Camel):
    id: str
    version: int
    status: VersionStatus
    name: str
    source_workflow_id: str | None
    is_current: bool
    is_dev: bool
    created_at: datetime
    created_by: str | None
    published_at: datetime | None
    published_by: str | None
    deprecated_at: datetime | None
    deprecated_by: str | None
    deleted_at: datetime | None
    deleted_by: str | None
    runs: LineageRunsOut
    events: list[LineageEventOut]

    @classmethod
    def of(cls, v: lineage.LineageVersion) -> LineageVersionOut:
        r = v.runs
        return cls(
            id=v.id,
            version=v.version,
            status=v.status,
            name=v.name,
            source_workflow_id=v.source_workflow_id,
            is_current=v.is_current,
            is_dev=v.is_dev,
            created_at=v.created_at,
            created_by=v.created_by,
            published_at=v.published_at,
            published_by=v.published_by,
            deprecated_at=v.deprecated_at,
            deprecated_by=v.deprecated_by,
            deleted_at=v.deleted_at,
            deleted_by=v.deleted_by,
            runs=LineageRunsOut(
                total=r.total,
                queued=r.queued,
                running=r.running,
                succeeded=r.succeeded,
                failed=r.failed,
                success_rate=r.success_rate,
                first_run_at=r.first_run_at,
                last_run_at=r.last_run_at,
                p50_seconds=r.p50_seconds,
                p95_seconds=r.p95_seconds,
            ),
            events=[
                LineageEventOut(
                    action=e.action, actor=e.actor, at=e.at, by_policy=e.by_policy, metadata=e.meta
                )
                for e in v.events
            ],
        )


class PurgedVersionOut(Camel):
    id: str
    version: int | None
    name: str | None
    status: str | None = Field(description="What it was when it was purged.")
    purged_at: datetime
    purged_by: str


class LineageOut(Camel):
    """A DAG's versions, oldest first, as a timeline; purged versions from the audit log."""

    dag_id: str
    current_version_id: str | None
    versions: list[LineageVersionOut]
    purged: list[PurgedVersionOut]

    @classmethod
    def of(cls, found: lineage.Lineage) -> LineageOut:
        return cls(
            dag_id=found.dag_id,
            current_version_id=found.current_version_id,
            versions=[LineageVersionOut.of(v) for v in found.versions],
            purged=[
                PurgedVersionOut(
                    id=p.id,
                    version=p.version,
                    name=p.name,
                    status=p.status,
                    purged_at=p.purged_at,
                    purged_by=p.purged_by,
                )
                for p in found.purged
            ],
        )
