"""The structural difference between two definitions of a DAG (two versions' specs).

What a reviewer asks before publishing or after an incident: which tasks were added, removed
or changed (and how, field by field), which dependencies appeared or disappeared, what happened
to the schedule and to the context variables, and what else changed at DAG level.

Choices:
- A dependency is an edge ``upstream -> task`` from ``TaskSpec.upstream_task_ids``: explicit
  ``depends_on`` and data bindings (``inputs``/``expand``) alike, because both make the task
  wait. ``depends_on`` is therefore not repeated among a task's field changes; the bindings
  are (they also say which argument receives which output).
- Nested fields are compared leaf by leaf and named by dotted path (``http.url``,
  ``default_args.retries``); lists are compared whole (their order can matter).
- Requirements (ADR 0032) are compared entry by entry: a new pin is one removed and one
  added requirement (``pfdemo==1.0`` -> ``pfdemo==2.0``), as a reviewer reads a lock file.
- Pure: specs in, frozen data out, in a stable order (tasks by the newer spec's order).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pinflow.spec.models import DagSpec, TaskSpec

_TASK_IGNORED = frozenset({"task_id", "depends_on"})
_DAG_SECTIONS = frozenset({"tasks", "trigger", "params", "requirements"})
_MISSING: Any = object()


@dataclass(frozen=True)
class FieldChange:
    """One leaf that differs; ``None`` on a side means the field is absent there."""

    path: str
    before: Any
    after: Any


@dataclass(frozen=True)
class TaskChange:
    task_id: str
    changes: tuple[FieldChange, ...]


@dataclass(frozen=True)
class VariableChange:
    name: str
    changes: tuple[FieldChange, ...]


@dataclass(frozen=True)
class Edge:
    upstream: str
    downstream: str

    def __str__(self) -> str:
        return f"{self.upstream} -> {self.downstream}"


@dataclass(frozen=True)
class SpecDiff:
    tasks_added: tuple[str, ...] = ()
    tasks_removed: tuple[str, ...] = ()
    tasks_changed: tuple[TaskChange, ...] = ()
    dependencies_added: tuple[Edge, ...] = ()
    dependencies_removed: tuple[Edge, ...] = ()
    schedule_changes: tuple[FieldChange, ...] = ()
    variables_added: tuple[str, ...] = ()
    variables_removed: tuple[str, ...] = ()
    variables_changed: tuple[VariableChange, ...] = ()
    requirements_added: tuple[str, ...] = ()
    requirements_removed: tuple[str, ...] = ()
    dag_changes: tuple[FieldChange, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not any(getattr(self, name) for name in self.__dataclass_fields__)


def field_changes(before: Any, after: Any, prefix: str = "") -> list[FieldChange]:
    """Leaf-by-leaf differences of two JSON-like values; dicts are walked, the rest compared."""
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        out: list[FieldChange] = []
        for key in [*before, *(k for k in after if k not in before)]:
            path = f"{prefix}.{key}" if prefix else str(key)
            out.extend(field_changes(before.get(key, _MISSING), after.get(key, _MISSING), path))
        return out
    if (before is _MISSING and after is _MISSING) or before == after:
        return []
    return [
        FieldChange(
            prefix, None if before is _MISSING else before, None if after is _MISSING else after
        )
    ]


def _task_fields(task: TaskSpec) -> dict[str, Any]:
    data = task.model_dump(mode="json")
    return {k: v for k, v in data.items() if k not in _TASK_IGNORED}


def _edges(spec: DagSpec) -> list[Edge]:
    return [Edge(up, t.task_id) for t in spec.tasks for up in t.upstream_task_ids]


def _task_diff(old: DagSpec, new: DagSpec) -> tuple[list[str], list[str], list[TaskChange]]:
    old_ids, new_ids = set(old.task_ids), set(new.task_ids)
    added = [t for t in dict.fromkeys(new.task_ids) if t not in old_ids]
    removed = [t for t in dict.fromkeys(old.task_ids) if t not in new_ids]
    changed = []
    for task_id in dict.fromkeys(new.task_ids):
        before, after = old.task(task_id), new.task(task_id)
        if before is None or after is None:
            continue
        changes = field_changes(_task_fields(before), _task_fields(after))
        if changes:
            changed.append(TaskChange(task_id, tuple(changes)))
    return added, removed, changed


def _variable_diff(old: DagSpec, new: DagSpec) -> tuple[list[str], list[str], list[VariableChange]]:
    added = [n for n in new.params if n not in old.params]
    removed = [n for n in old.params if n not in new.params]
    changed = []
    for name, param in new.params.items():
        if name in old.params:
            changes = field_changes(
                old.params[name].model_dump(mode="json"), param.model_dump(mode="json")
            )
            if changes:
                changed.append(VariableChange(name, tuple(changes)))
    return added, removed, changed


def _dag_level(spec: DagSpec) -> dict[str, Any]:
    data = spec.model_dump(mode="json")
    return {k: v for k, v in data.items() if k not in _DAG_SECTIONS}


def diff_specs(old: DagSpec, new: DagSpec) -> SpecDiff:
    """What changed from ``old`` to ``new``."""
    added, removed, changed = _task_diff(old, new)
    old_edges, new_edges = _edges(old), _edges(new)
    v_added, v_removed, v_changed = _variable_diff(old, new)
    schedule = field_changes(
        old.trigger.model_dump(mode="json"), new.trigger.model_dump(mode="json")
    )
    return SpecDiff(
        tasks_added=tuple(added),
        tasks_removed=tuple(removed),
        tasks_changed=tuple(changed),
        dependencies_added=tuple(e for e in dict.fromkeys(new_edges) if e not in old_edges),
        dependencies_removed=tuple(e for e in dict.fromkeys(old_edges) if e not in new_edges),
        schedule_changes=tuple(schedule),
        variables_added=tuple(v_added),
        variables_removed=tuple(v_removed),
        variables_changed=tuple(v_changed),
        requirements_added=tuple(r for r in new.requirements if r not in old.requirements),
        requirements_removed=tuple(r for r in old.requirements if r not in new.requirements),
        dag_changes=tuple(field_changes(_dag_level(old), _dag_level(new))),
    )
