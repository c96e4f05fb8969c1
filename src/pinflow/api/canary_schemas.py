"""Bodies of ``/api/workflows/{id}/canary`` (camelCase, as Pinflow's own routes): the request,
the plan (a dry run's answer, and what a start did), and the comparison of outcomes."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from pinflow.api.schemas import Camel
from pinflow.lifecycle.canary import MAX_RUNS, CanaryAction, CanaryPlan, Outcome, RunPlan
from pinflow.services.reads import canary as reads


class CanaryBody(Camel):
    from_version_id: str | None = Field(
        default=None,
        max_length=250,
        description="The version whose runs are replayed; default: the one this version was "
        "cloned from, else the DAG's current version.",
    )
    last: int = Field(default=5, ge=1, le=MAX_RUNS, description="How many runs to replay.")
    failed_only: bool = Field(default=False, description="Replay only failed runs.")
    reuse: bool = Field(
        default=True,
        description="Reuse the results of unchanged tasks that succeeded in the source run "
        "(false: every task runs again, e.g. when tasks pass data through the staging dir).",
    )
    dry_run: bool = Field(default=False, description="Return the plan; change nothing.")


class TaskPlanOut(Camel):
    task_id: str
    action: CanaryAction
    reason: str


class RunPlanOut(Camel):
    source_run_id: str
    source_state: str
    canary_run_id: str
    problem: str | None = Field(description="Why this run cannot be replayed (set: refused).")
    tasks: list[TaskPlanOut]

    @classmethod
    def of(cls, r: RunPlan) -> RunPlanOut:
        return cls(
            source_run_id=r.source_run_id,
            source_state=r.source_state.value,
            canary_run_id=r.canary_run_id,
            problem=r.problem,
            tasks=[
                TaskPlanOut(task_id=t.task_id, action=t.action, reason=t.reason) for t in r.tasks
            ],
        )


class CanaryPlanOut(Camel):
    dry_run: bool
    batch_id: str | None = Field(description="The canary's id (null for a dry run).")
    source_workflow_id: str
    source_label: str
    target_workflow_id: str
    target_label: str
    changed_tasks: list[str] = Field(description="Tasks in both versions whose digest differs.")
    runs: list[RunPlanOut]

    @classmethod
    def of(cls, plan: CanaryPlan, batch_id: str | None) -> CanaryPlanOut:
        return cls(
            dry_run=batch_id is None,
            batch_id=batch_id,
            source_workflow_id=plan.source_version_id,
            source_label=plan.source_label,
            target_workflow_id=plan.target_version_id,
            target_label=plan.target_label,
            changed_tasks=list(plan.changed_tasks),
            runs=[RunPlanOut.of(r) for r in plan.runs],
        )


class TaskSideOut(Camel):
    state: str
    duration_seconds: float | None
    tries: int


class TaskComparisonOut(Camel):
    task_id: str
    map_index: int
    change: str = Field(description="new, removed, reused, state, tries or same.")
    source: TaskSideOut | None
    canary: TaskSideOut | None

    @classmethod
    def of(cls, t: reads.TaskComparison) -> TaskComparisonOut:
        def side(x: reads.TaskSide | None) -> TaskSideOut | None:
            return (
                None
                if x is None
                else TaskSideOut(state=x.state, duration_seconds=x.duration, tries=x.tries)
            )

        return cls(
            task_id=t.task_id,
            map_index=t.map_index,
            change=t.change,
            source=side(t.source),
            canary=side(t.canary),
        )


class RunComparisonOut(Camel):
    source_run_id: str
    source_state: str
    canary_run_id: str
    canary_state: str
    outcome: Outcome
    tasks: list[TaskComparisonOut]


class CanaryComparisonOut(Camel):
    batch_id: str
    dag_id: str
    source_workflow_id: str | None
    source_label: str
    target_workflow_id: str
    target_label: str
    started_at: datetime
    started_by: str | None
    summary: str = Field(description='e.g. "v7 vs v6 on 5 runs: 4 fixed, 1 still failing, ..."')
    runs: list[RunComparisonOut]

    @classmethod
    def of(cls, c: reads.CanaryComparison) -> CanaryComparisonOut:
        return cls(
            batch_id=c.batch_id,
            dag_id=c.dag_id,
            source_workflow_id=c.source_version_id,
            source_label=c.source_label,
            target_workflow_id=c.target_version_id,
            target_label=c.target_label,
            started_at=c.started_at,
            started_by=c.started_by,
            summary=c.summary,
            runs=[
                RunComparisonOut(
                    source_run_id=r.source_run_id,
                    source_state=r.source_state,
                    canary_run_id=r.canary_run_id,
                    canary_state=r.canary_state,
                    outcome=r.outcome,
                    tasks=[TaskComparisonOut.of(t) for t in r.tasks],
                )
                for r in c.runs
            ],
        )
