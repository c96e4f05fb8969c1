"""Clearing task instances: which tasks are selected, and what happens to each (the plan).

Seed 000's amendment: clearing with reset re-binds the run to the DAG's current version. The
plan is computed here, purely, from the run's task states and the two graphs; the service
applies it in one transaction, and a dry run returns it unchanged.

Choices beyond the seed (ADR 0003):
- A task in ``upstream_failed`` downstream of a cleared task is reset as well: it never ran,
  so resetting it loses nothing, and without it "fix, clear, watch it pass" would end failed.
- Clearing a task clears its relevant setups and their teardowns, as in Airflow (ADR 0033).
- A task the target version removed is ``removed`` if it is cleared or never finished; a
  finished task that was not cleared keeps its result even when the target version dropped it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from pinflow.lifecycle.states import FINISHED_TASK_STATES, TaskState
from pinflow.spec.models import DagSpec


class PlanAction(StrEnum):
    REUSED = "reused"  # kept as it is, result and all
    RE_EXECUTED = "re_executed"  # reset; will run again on the target version
    NEW = "new"  # exists only in the target version; gets a task instance
    REMOVED = "removed"  # not in the target version; nothing is scheduled for it


@dataclass(frozen=True)
class Graph:
    """Just enough of a spec for planning: task ids in order and their upstream ids, and
    which tasks are setups and teardowns."""

    upstream: Mapping[str, Sequence[str]]
    setups: frozenset[str] = frozenset()
    teardowns: frozenset[str] = frozenset()

    @property
    def task_ids(self) -> list[str]:
        return list(self.upstream)

    def downstream_closure(self, roots: set[str]) -> set[str]:
        children: dict[str, list[str]] = {t: [] for t in self.upstream}
        for task_id, ups in self.upstream.items():
            for up in ups:
                children.setdefault(up, []).append(task_id)
        return _closure(roots, children)

    def upstream_closure(self, roots: set[str]) -> set[str]:
        return _closure(roots, {t: list(u) for t, u in self.upstream.items()})

    def setups_and_teardowns_of(self, task_ids: set[str]) -> set[str]:
        """Airflow's *relevant* setups of the tasks (the setups upstream of them whose
        teardown is downstream of them, or that have no teardown) and those setups'
        teardowns: clearing work clears what it runs on, so the work finds it set up again
        and it is torn down again after."""
        found: set[str] = set()
        for task_id in task_ids - self.setups:
            below = self.downstream_closure({task_id})
            for setup in self.upstream_closure({task_id}) & self.setups:
                teardowns = {t for t in self.teardowns if setup in self.upstream.get(t, ())}
                if not teardowns or teardowns & below:
                    found |= {setup, *teardowns}
        return found


def _closure(roots: set[str], edges: Mapping[str, Sequence[str]]) -> set[str]:
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        for nxt in edges.get(stack.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


@dataclass(frozen=True)
class ClearSelection:
    task_ids: Sequence[str] | None = None  # None: every task of the run
    only_failed: bool = False
    include_upstream: bool = False
    include_downstream: bool = False


def select_tasks(graph: Graph, states: Mapping[str, TaskState], sel: ClearSelection) -> set[str]:
    """The tasks to clear, Airflow-style, on the graph the run is pinned to."""
    known = set(graph.task_ids) | set(states)
    roots = set(sel.task_ids) & known if sel.task_ids is not None else set(known)
    chosen = set(roots)
    if sel.include_upstream:
        chosen |= graph.upstream_closure(roots)
    if sel.include_downstream:
        chosen |= graph.downstream_closure(roots)
    if sel.only_failed:
        chosen = {
            t for t in chosen if states.get(t) in (TaskState.FAILED, TaskState.UPSTREAM_FAILED)
        }
    chosen |= graph.setups_and_teardowns_of(chosen)
    chosen &= set(states)
    # Tasks that never ran because of a cleared failure come along (see module docstring).
    for task_id in graph.downstream_closure(chosen):
        if states.get(task_id) == TaskState.UPSTREAM_FAILED:
            chosen.add(task_id)
    return chosen


@dataclass(frozen=True)
class PlanEntry:
    task_id: str
    action: PlanAction
    state_before: TaskState | None
    in_target_version: bool


@dataclass(frozen=True)
class ClearPlan:
    from_version_id: str | None
    to_version_id: str | None
    from_snapshot: str
    to_snapshot: str
    entries: list[PlanEntry] = field(default_factory=list)

    @property
    def rebinds(self) -> bool:
        """Whether the run moves to another version. Seed 000: a reset re-binds the run to the
        DAG's current version, which is another version even when its snapshot is the same
        (a v2 published from a copy of v1): the version is what a run is pinned to."""
        return self.from_version_id != self.to_version_id or self.from_snapshot != self.to_snapshot

    def task_ids(self, action: PlanAction) -> list[str]:
        return [e.task_id for e in self.entries if e.action == action]


def plan_clear(
    *,
    states: Mapping[str, TaskState],
    selected: set[str],
    target: Graph,
    from_version_id: str | None,
    to_version_id: str | None,
    from_snapshot: str,
    to_snapshot: str,
) -> ClearPlan:
    """Per task of the run (and of the target version): reused, re-executed, new or removed."""
    target_ids = set(target.task_ids)
    entries: list[PlanEntry] = []
    for task_id, state in states.items():
        entries.append(
            PlanEntry(
                task_id, _action(task_id, state, selected, target_ids), state, task_id in target_ids
            )
        )
    entries.extend(
        PlanEntry(task_id, PlanAction.NEW, None, True)
        for task_id in target.task_ids
        if task_id not in states
    )
    return ClearPlan(from_version_id, to_version_id, from_snapshot, to_snapshot, entries)


def _action(task_id: str, state: TaskState, selected: set[str], target_ids: set[str]) -> PlanAction:
    if task_id not in target_ids:
        if task_id in selected or state not in FINISHED_TASK_STATES:
            return PlanAction.REMOVED
        return PlanAction.REUSED
    return PlanAction.RE_EXECUTED if task_id in selected else PlanAction.REUSED


def graph_of(spec: DagSpec) -> Graph:
    return Graph(
        {t.task_id: t.upstream_task_ids for t in spec.tasks},
        setups=frozenset(t.task_id for t in spec.tasks if t.setup),
        teardowns=frozenset(t.task_id for t in spec.tasks if t.teardown),
    )
