"""Response bodies of ``GET /api/workflows/{id}/stats`` (camelCase, as Pinflow's own routes):
a version's run statistics, and with ``compareTo`` the changes against another version."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from pinflow.api.schemas import Camel, Workflow
from pinflow.services.reads import Change, StatsComparison, TaskStats, VersionStats

PERCENTILES = "continuous percentile (percentile_cont: linear interpolation), in seconds"


class TaskStatsOut(Camel):
    """One task's tries on the version."""

    task_id: str
    tries: int
    retries: int = Field(description="Tries that were not their task instance's first.")
    failures: int = Field(description="Tries that failed.")
    failure_rate: float | None = Field(description="failures / tries (0 to 1).")
    p50_seconds: float | None = Field(description=f"Try duration, {PERCENTILES}.")
    p95_seconds: float | None = Field(description=f"Try duration, {PERCENTILES}.")

    @classmethod
    def of(cls, t: TaskStats) -> TaskStatsOut:
        return cls(
            task_id=t.task_id,
            tries=t.tries,
            retries=t.retries,
            failures=t.failures,
            failure_rate=t.failure_rate,
            p50_seconds=t.p50_seconds,
            p95_seconds=t.p95_seconds,
        )


class VersionStatsOut(Camel):
    """A version's runs (those pinned to it) and its tasks' tries (those that ran its code)."""

    workflow: Workflow
    runs: int
    finished_runs: int = Field(description="Runs that succeeded or failed.")
    succeeded_runs: int
    failed_runs: int
    success_rate: float | None = Field(description="succeeded / finished runs (0 to 1).")
    p50_seconds: float | None = Field(description=f"Finished run duration, {PERCENTILES}.")
    p95_seconds: float | None = Field(description=f"Finished run duration, {PERCENTILES}.")
    first_run_at: datetime | None = Field(description="The earliest start of its runs.")
    last_run_at: datetime | None = Field(description="The latest start of its runs.")
    tasks: list[TaskStatsOut]

    @classmethod
    def of(cls, v: VersionStats) -> VersionStatsOut:
        return cls(
            workflow=Workflow.of(v.version),
            runs=v.runs,
            finished_runs=v.finished_runs,
            succeeded_runs=v.succeeded_runs,
            failed_runs=v.failed_runs,
            success_rate=v.success_rate,
            p50_seconds=v.p50_seconds,
            p95_seconds=v.p95_seconds,
            first_run_at=v.first_run_at,
            last_run_at=v.last_run_at,
            tasks=[TaskStatsOut.of(t) for t in v.tasks],
        )


class ChangeOut(Camel):
    """One figure of both versions."""

    subject: str = Field(description='"runs", or a task id.')
    figure: str = Field(description='"p50", "p95" (seconds) or "failures" (a rate, 0 to 1).')
    old: float | None
    new: float | None
    delta: float | None = Field(description="new - old; null when either is missing.")
    changed: bool = Field(description="Whether the figure moved as shown (0.1 s, 1%).")
    text: str = Field(description='For people, e.g. "load p95 4.1 s → 0.9 s".')

    @classmethod
    def of(cls, c: Change) -> ChangeOut:
        return cls(
            subject=c.subject,
            figure=c.figure,
            old=c.old,
            new=c.new,
            delta=c.delta,
            changed=c.changed,
            text=c.text,
        )


class VersionStatsReply(Camel):
    """A version's statistics; with ``compareTo``, the other version's and each figure's
    change from it to this one."""

    stats: VersionStatsOut
    compare_to: VersionStatsOut | None = None
    changes: list[ChangeOut] = Field(default_factory=list)
    summary: str | None = Field(
        default=None, description='The changed figures, e.g. "v7 vs v6: load p95 4.1 s → 0.9 s".'
    )

    @classmethod
    def of(cls, v: VersionStats) -> VersionStatsReply:
        return cls(stats=VersionStatsOut.of(v))

    @classmethod
    def of_comparison(cls, c: StatsComparison) -> VersionStatsReply:
        return cls(
            stats=VersionStatsOut.of(c.new),
            compare_to=VersionStatsOut.of(c.old),
            changes=[ChangeOut.of(x) for x in c.changes],
            summary=c.summary,
        )
