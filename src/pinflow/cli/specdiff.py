"""Rendering ``pinflow.lifecycle.diff`` (the structural diff of two versions) for a terminal
or as JSON; the specs come from the API as JSON."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from pinflow.lifecycle.diff import FieldChange, SpecDiff, diff_specs
from pinflow.spec.canonical import spec_from_dict


def diff_json_specs(old: dict[str, Any], new: dict[str, Any]) -> SpecDiff:
    return diff_specs(spec_from_dict(old), spec_from_dict(new))


def diff_to_dict(diff: SpecDiff) -> dict[str, Any]:
    data = dataclasses.asdict(diff)
    for key in ("dependencies_added", "dependencies_removed"):
        data[key] = [str(edge) for edge in getattr(diff, key)]
    return data


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _changes(changes: tuple[FieldChange, ...], indent: str) -> list[str]:
    return [f"{indent}{c.path}: {_short(c.before)} -> {_short(c.after)}" for c in changes]


def diff_lines(diff: SpecDiff) -> list[str]:
    """``+`` added, ``-`` removed, ``~`` changed; plain text (no markup)."""
    if diff.is_empty:
        return ["No structural difference."]
    lines = [f"+ task {t}" for t in diff.tasks_added]
    lines += [f"- task {t}" for t in diff.tasks_removed]
    for task in diff.tasks_changed:
        lines += [f"~ task {task.task_id}", *_changes(task.changes, "    ")]
    lines += [f"+ dependency {e}" for e in diff.dependencies_added]
    lines += [f"- dependency {e}" for e in diff.dependencies_removed]
    lines += _changes(diff.schedule_changes, "~ schedule ")
    lines += [f"+ variable {v}" for v in diff.variables_added]
    lines += [f"- variable {v}" for v in diff.variables_removed]
    for variable in diff.variables_changed:
        lines += [f"~ variable {variable.name}", *_changes(variable.changes, "    ")]
    lines += [f"+ requirement {r}" for r in diff.requirements_added]
    lines += [f"- requirement {r}" for r in diff.requirements_removed]
    lines += _changes(diff.dag_changes, "~ ")
    return lines
