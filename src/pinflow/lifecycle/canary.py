"""Canary re-runs: replay a version's recent runs on another version, and what each task does.

A canary takes the last runs of a *source* version (their conf and logical date) and starts
one new run of the *target* version (a draft's test run, or an active version's run) per
source run. This module decides, purely, from the two versions and the source runs, what
each canary run will do per task (ADR 0030):

- ``reused``: the task's definition and code are unchanged, every upstream is reused too,
  and it succeeded in the source run with outputs kept in the database: the canary marks it
  ``success`` without running it and copies its XComs;
- ``rerun``: everything else that exists in both versions (the reason says why);
- ``new``: only in the target version; ``removed``: only in the source version.

A task is *unchanged* when its digest is: the task's fields (its dependencies included, its
doc excluded), the DAG defaults it resolves to, and, for tasks that can read the code bundle
(every kind but ``http``), the bundle's digest. A bundle is one unit: any change to it may
change any task that imports from it, so a Python task is never reused across a code change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pinflow.lifecycle.states import RunState, TaskState
from pinflow.spec.canonical import canonical_json
from pinflow.spec.models import DagSpec, TaskSpec

MAX_RUNS = 50  # one action; a larger replay is a backfill
RUN_ID_PREFIX = "canary"
_RUN_ID_MAX = 250
_TASK_IGNORED = frozenset({"doc"})


class CanaryAction(StrEnum):
    REUSED = "reused"
    RERUN = "rerun"
    NEW = "new"
    REMOVED = "removed"


@dataclass(frozen=True)
class VersionSide:
    """One version as the plan needs it: its spec and the digest of its code bundle."""

    version_id: str
    label: str  # "v6", "draft of v6"
    spec: DagSpec
    code_digest: str


@dataclass(frozen=True)
class SourceTask:
    state: TaskState
    mapped: bool = False  # it expanded into elements (map_index >= 0)
    outputs_in_artifacts: bool = False  # an XCom kept in the artifact store, not the database


@dataclass(frozen=True)
class SourceRun:
    run_pk: int
    run_id: str
    state: RunState
    params: Mapping[str, Any]
    tasks: Mapping[str, SourceTask]
    canary_params: Mapping[str, Any] | None  # the target's params for its conf; None: invalid
    conf_problem: str | None = None  # why the conf does not fit the target's params
    earlier_canaries: int = 0  # canary runs already made of this run (for the run id)


@dataclass(frozen=True)
class TaskPlan:
    task_id: str
    action: CanaryAction
    reason: str


@dataclass(frozen=True)
class RunPlan:
    source_run_pk: int
    source_run_id: str
    source_state: RunState
    canary_run_id: str
    tasks: tuple[TaskPlan, ...]
    problem: str | None = None  # set: this run cannot be replayed on the target

    def task_ids(self, action: CanaryAction) -> list[str]:
        return [t.task_id for t in self.tasks if t.action == action]


@dataclass(frozen=True)
class CanaryPlan:
    source_version_id: str
    source_label: str
    target_version_id: str
    target_label: str
    changed_tasks: tuple[str, ...]  # in both versions, with another digest
    runs: tuple[RunPlan, ...]

    @property
    def problems(self) -> list[str]:
        return [f"run {r.source_run_id!r}: {r.problem}" for r in self.runs if r.problem]


def task_digest(spec: DagSpec, task: TaskSpec, code_digest: str) -> str:
    """What a task does, hashed: equal digests in two versions mean the same task."""
    fields = {k: v for k, v in task.model_dump(mode="json").items() if k not in _TASK_IGNORED}
    document = {
        "task": fields,
        "resolved": spec.resolve(task).model_dump(mode="json"),
        "code": None if task.kind == "http" else code_digest,
    }
    return hashlib.sha256(canonical_json(document).encode()).hexdigest()


def unchanged_tasks(source: VersionSide, target: VersionSide) -> set[str]:
    out = set()
    for task in target.spec.tasks:
        before = source.spec.task(task.task_id)
        if before is not None and task_digest(source.spec, before, source.code_digest) == (
            task_digest(target.spec, task, target.code_digest)
        ):
            out.add(task.task_id)
    return out


def canary_run_id(source_run_id: str, number: int) -> str:
    """``canary__<source run id>__<n>``; a long source id is cut so that the whole fits."""
    suffix = f"__{number}"
    head = f"{RUN_ID_PREFIX}__"
    return head + source_run_id[: _RUN_ID_MAX - len(head) - len(suffix)] + suffix


def plan_canary(
    source: VersionSide, target: VersionSide, runs: Sequence[SourceRun], *, reuse: bool = True
) -> CanaryPlan:
    """Per source run, the canary run it becomes and what each of its tasks does."""
    unchanged = unchanged_tasks(source, target)
    both = [t.task_id for t in target.spec.tasks if source.spec.task(t.task_id) is not None]
    changed = tuple(t for t in both if t not in unchanged)
    plans = tuple(_plan_run(source, target, run, unchanged, reuse) for run in runs)
    return CanaryPlan(
        source.version_id, source.label, target.version_id, target.label, changed, plans
    )


def _plan_run(
    source: VersionSide,
    target: VersionSide,
    run: SourceRun,
    unchanged: set[str],
    reuse: bool,
) -> RunPlan:
    same_params = run.canary_params is not None and dict(run.canary_params) == dict(run.params)
    walker = _ReuseWalk(target.spec, run, unchanged, _run_blocker(reuse, same_params))
    tasks: list[TaskPlan] = []
    for task in target.spec.tasks:
        if source.spec.task(task.task_id) is None:
            tasks.append(TaskPlan(task.task_id, CanaryAction.NEW, "only in the target version"))
            continue
        reason = walker.reason(task.task_id)
        action = CanaryAction.REUSED if reason == _REUSABLE else CanaryAction.RERUN
        tasks.append(TaskPlan(task.task_id, action, reason))
    tasks.extend(
        TaskPlan(t.task_id, CanaryAction.REMOVED, "not in the target version")
        for t in source.spec.tasks
        if target.spec.task(t.task_id) is None
    )
    return RunPlan(
        run.run_pk,
        run.run_id,
        run.state,
        canary_run_id(run.run_id, run.earlier_canaries + 1),
        tuple(tasks),
        run.conf_problem,
    )


_REUSABLE = "unchanged, succeeded in the source run: its result is reused"


def _run_blocker(reuse: bool, same_params: bool) -> str | None:
    if not reuse:
        return "reuse was turned off"
    if not same_params:
        return "the run's params differ on the target version"
    return None


class _ReuseWalk:
    """Why each task is re-run (or ``_REUSABLE``): upstreams first, memoized, cycle-safe."""

    def __init__(
        self, spec: DagSpec, run: SourceRun, unchanged: set[str], blocker: str | None
    ) -> None:
        self.spec, self.run, self.unchanged, self.blocker = spec, run, unchanged, blocker
        self.memo: dict[str, str] = {}
        self.visiting: set[str] = set()

    def reason(self, task_id: str) -> str:
        if task_id in self.memo:
            return self.memo[task_id]
        task = self.spec.task(task_id)
        if task is None or task_id in self.visiting:
            return "its upstream is not part of the target version"
        self.visiting.add(task_id)
        reason = self._own_reason(task)
        if reason is None:
            for up in task.upstream_task_ids:
                if self.reason(up) != _REUSABLE:
                    reason = f"upstream {up!r} is re-run"
                    break
        self.visiting.discard(task_id)
        self.memo[task_id] = reason or _REUSABLE
        return self.memo[task_id]

    def _own_reason(self, task: TaskSpec) -> str | None:
        facts = self.run.tasks.get(task.task_id)
        checks = (
            (task.task_id not in self.unchanged, "changed in the target version"),
            (self.blocker is not None, self.blocker or ""),
            (facts is None, "it has no task instance in the source run"),
        )
        for failed, why in checks:
            if failed:
                return why
        assert facts is not None
        checks = (
            (facts.state != TaskState.SUCCESS, f"it ended {facts.state.value} in the source run"),
            (facts.mapped or task.mapped, "a mapped task is always re-run"),
            (
                facts.outputs_in_artifacts,
                "its output is in the artifact store, which belongs to the source run",
            ),
        )
        return next((why for failed, why in checks if failed), None)


class Outcome(StrEnum):
    """A canary run against its source run."""

    FIXED = "fixed"  # failed, now succeeds
    STILL_FAILING = "still_failing"
    REGRESSED = "regressed"  # succeeded, now fails
    STILL_PASSING = "still_passing"
    PENDING = "pending"  # the canary run has not finished


def outcome(source: RunState, canary: RunState) -> Outcome:
    if canary not in (RunState.SUCCESS, RunState.FAILED):
        return Outcome.PENDING
    if source == RunState.FAILED:
        return Outcome.FIXED if canary == RunState.SUCCESS else Outcome.STILL_FAILING
    return Outcome.STILL_PASSING if canary == RunState.SUCCESS else Outcome.REGRESSED


def summary(target_label: str, source_label: str, outcomes: Sequence[Outcome]) -> str:
    """``v7 vs v6 on 5 runs: 4 fixed, 1 still failing, 0 regressed`` (and the other outcomes
    when there are any)."""
    count = {o: sum(1 for x in outcomes if x == o) for o in Outcome}
    parts = [
        f"{count[Outcome.FIXED]} fixed",
        f"{count[Outcome.STILL_FAILING]} still failing",
        f"{count[Outcome.REGRESSED]} regressed",
    ]
    if count[Outcome.STILL_PASSING]:
        parts.append(f"{count[Outcome.STILL_PASSING]} still passing")
    if count[Outcome.PENDING]:
        parts.append(f"{count[Outcome.PENDING]} not finished")
    runs = "run" if len(outcomes) == 1 else "runs"
    return f"{target_label} vs {source_label} on {len(outcomes)} {runs}: " + ", ".join(parts)


def version_label(status: str, number: int) -> str:
    """How a version is named to people: ``v6``; a draft carries its source's number."""
    return (
        f"draft of v{number}"
        if status == "draft" and number
        else ("draft" if status == "draft" else f"v{number}")
    )
