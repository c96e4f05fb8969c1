"""What a branch or short-circuit task's return value decides downstream (ADR 0033).

Pure rules, asked by the engine when such a task's successful try is recorded; the tasks
they name are skipped in the same transaction, and trigger rules carry the skip on from
there (``none_failed_min_one_success`` joins run, ``all_success`` ones are skipped).

- ``branch`` (Airflow's ``BranchMixIn`` / ``SkipMixin.skip_all_except``): the value is a task
  id, a task group id, a list of them, or ``None``. A group id stands for the group's tasks.
  Every *direct* downstream task that is neither followed nor downstream of a followed task
  is skipped (so ``branch >> join`` with ``branch >> a >> join`` and ``a`` followed keeps the
  join). An id that is no task or group of the DAG, or a value of another type, fails the try.
- ``short_circuit`` (``ShortCircuitOperator``): a truthy value changes nothing; a falsy one
  skips every downstream task (``ignore_downstream_trigger_rules``, the default) or only the
  direct ones, whose trigger rules then decide for the rest. Teardown tasks are never skipped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pinflow.lifecycle.run_planning import downstream_map, spec_order
from pinflow.spec.models import DagSpec, TaskFlow, TaskSpec


@dataclass(frozen=True)
class FlowDecision:
    """The tasks to skip (in the spec's order), or why the value cannot be followed."""

    skip: tuple[str, ...] = ()
    error: str | None = None


def flow_decision(spec: DagSpec, task: TaskSpec, value: Any) -> FlowDecision:
    """What ``task``'s return ``value`` decides; nothing for a task without ``flow``."""
    if task.flow == TaskFlow.BRANCH:
        return branch_decision(spec, task, value)
    if task.flow == TaskFlow.SHORT_CIRCUIT:
        return short_circuit_decision(spec, task, value)
    return FlowDecision()


def branch_decision(spec: DagSpec, task: TaskSpec, value: Any) -> FlowDecision:
    chosen = _branch_ids(value)
    if isinstance(chosen, str):
        return FlowDecision(error=f"branch task {task.task_id!r} {chosen}")
    downstream = downstream_map(spec)
    followed: set[str] = set()
    for task_id in chosen:
        members = _members(spec, task_id)
        if not members:
            return FlowDecision(
                error=f"branch task {task.task_id!r} returned {task_id!r}, which is no task or "
                f"task group of DAG {spec.dag_id!r}; return the ids of the tasks to follow"
            )
        followed.update(members)
        followed.update(_descendants(downstream, members))
    direct = downstream.get(task.task_id, ())
    return FlowDecision(skip=_in_order(spec, [t for t in direct if t not in followed]))


def short_circuit_decision(spec: DagSpec, task: TaskSpec, value: Any) -> FlowDecision:
    if value:
        return FlowDecision()
    downstream = downstream_map(spec)
    if task.ignore_downstream_trigger_rules:
        reached: Iterable[str] = _descendants(downstream, [task.task_id])
    else:
        reached = downstream.get(task.task_id, ())
    tasks = spec.tasks_by_id
    return FlowDecision(skip=_in_order(spec, [t for t in reached if not tasks[t].teardown]))


def _branch_ids(value: Any) -> list[str] | str:
    """The ids a branch returned, or what is wrong with the value."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple) and all(isinstance(item, str) for item in value):
        return list(value)
    return (
        f"returned {value!r}; a branch returns a task id, a task group id, a list of them, or None"
    )


def _members(spec: DagSpec, task_or_group_id: str) -> list[str]:
    if task_or_group_id in spec.tasks_by_id:
        return [task_or_group_id]
    prefix = f"{task_or_group_id}."
    return [t.task_id for t in spec.tasks if t.task_id.startswith(prefix)]


def _descendants(downstream: Mapping[str, tuple[str, ...]], start: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    stack = list(start)
    while stack:
        for d in downstream.get(stack.pop(), ()):
            if d not in seen:
                seen.add(d)
                stack.append(d)
    return seen


def _in_order(spec: DagSpec, task_ids: Iterable[str]) -> tuple[str, ...]:
    return spec_order(spec, set(task_ids))
