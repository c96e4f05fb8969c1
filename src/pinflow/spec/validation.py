"""Checking a DAG spec: parsing, then the checks of every field, of the graph and of params.

Two modes, one set of checks:

* **lenient** (drafts): :func:`parse_spec` enforces *types* only (a retry count is an integer);
  the graph and semantic problems :func:`draft_warnings` returns are shown as warnings and the
  draft is saved anyway, because a draft is work in progress.
* **strict** (publish): :func:`validate_for_publish` refuses the spec when :func:`check_spec`
  finds any problem. Every problem is reported, each with its location
  (``tasks[2].depends_on[0]``), so one round trip fixes them all.

The graph's checks are in :mod:`pinflow.spec.graph`, the params' in :mod:`pinflow.spec.params`;
their public names are re-exported here, the one module callers need.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter
from pydantic import ValidationError

from pinflow.errors import InvalidInputError, Problem, format_problems
from pinflow.spec.graph import (
    cycle_problems,
    downstream_of,
    duplicate_id_problems,
    reference_problems,
    topological_order,
    upstream_of,
)
from pinflow.spec.locations import format_location
from pinflow.spec.models import KNOWN_TASK_KINDS, DagSpec, TaskFlow, TaskSpec
from pinflow.spec.params import param_problems, validate_conf

__all__ = [
    "SCHEDULE_PRESETS",
    "check_spec",
    "downstream_of",
    "draft_warnings",
    "format_location",
    "parse_spec",
    "topological_order",
    "upstream_of",
    "validate_conf",
    "validate_for_publish",
]

# Airflow's presets, without its timetable-only ones (@continuous and friends).
SCHEDULE_PRESETS = (
    "@once",
    "@hourly",
    "@daily",
    "@weekly",
    "@monthly",
    "@quarterly",
    "@yearly",
    "@annually",
)
_CRON_FIELDS = 5
_SUMMARY_PROBLEMS = 3
# The fields that carry what a task runs; each belongs to exactly one kind.
_KIND_FIELDS = {"python": "callable", "bash": "bash_command", "http": "http"}


# --- parsing (lenient) -------------------------------------------------------------------------


def parse_spec(data: dict[str, Any] | str | bytes) -> DagSpec:
    """A spec from a dict or JSON text; every type problem is reported with its location."""
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            problem = Problem(
                "", f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
            )
            raise _invalid_spec([problem]) from exc
        except UnicodeDecodeError as exc:
            raise _invalid_spec(
                [Problem("", f"invalid JSON: not Unicode text ({exc.reason})")]
            ) from exc
    try:
        return DagSpec.model_validate(data)
    except ValidationError as exc:
        raise _invalid_spec([_problem_from(err) for err in exc.errors()]) from exc


def _problem_from(error: Mapping[str, Any]) -> Problem:
    if not error["loc"] and error["type"] == "model_type":  # the document is not an object
        return Problem("", f"expected a JSON object, got {_json_type(error['input'])}")
    return Problem(format_location(*error["loc"]), error["msg"])


def _json_type(value: Any) -> str:
    names = {bool: "boolean", int: "integer", float: "number", str: "string", list: "array"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _invalid_spec(problems: list[Problem]) -> InvalidInputError:
    return InvalidInputError(
        f"The DAG spec is invalid: {len(problems)} problem(s)", problems=problems
    )


# --- strict checks -----------------------------------------------------------------------------


def check_spec(spec: DagSpec) -> list[Problem]:
    """Every graph and semantic problem of ``spec``, in document order; empty when publishable."""
    problems: list[Problem] = []
    if not spec.tasks:
        problems.append(Problem("tasks", "the DAG has no tasks"))
    problems += duplicate_id_problems(spec)
    known = set(spec.task_ids)
    for i, task in enumerate(spec.tasks):
        problems += reference_problems(i, task, known)
        problems += _kind_problems(i, task)
        problems += _binding_problems(i, task)
        problems += _flow_problems(i, task)
    problems += cycle_problems(spec)
    problems += _trigger_problems(spec)
    for name, param in spec.params.items():
        problems += param_problems(name, param)
    return problems


def validate_for_publish(spec: DagSpec) -> None:
    """Strict mode: refuse a spec with any problem, naming the first few in the message."""
    problems = check_spec(spec)
    if problems:
        summary = format_problems(problems[:_SUMMARY_PROBLEMS])
        if len(problems) > _SUMMARY_PROBLEMS:
            summary += "; …"
        raise InvalidInputError(
            f"The DAG cannot be published: {len(problems)} problem(s): {summary}",
            problems=problems,
        )


def draft_warnings(spec: DagSpec) -> list[Problem]:
    """Lenient mode: the same problems as :func:`check_spec`, shown as warnings on a draft."""
    return check_spec(spec)


# --- the fields --------------------------------------------------------------------------------


def _kind_problems(i: int, task: TaskSpec) -> list[Problem]:
    if task.kind not in KNOWN_TASK_KINDS:
        expected = ", ".join(KNOWN_TASK_KINDS)
        message = f"unknown task kind '{task.kind}' (expected one of: {expected})"
        return [Problem(format_location("tasks", i, "kind"), message)]
    problems = []
    missing = _required_field_problem(task)
    if missing:
        problems.append(Problem(format_location("tasks", i, _KIND_FIELDS[task.kind]), missing))
    for kind, field_name in _KIND_FIELDS.items():
        if kind != task.kind and getattr(task, field_name) is not None:
            message = f"'{field_name}' does not apply to a {task.kind} task"
            problems.append(Problem(format_location("tasks", i, field_name), message))
    return problems


def _required_field_problem(task: TaskSpec) -> str | None:
    if task.kind == "python":
        if task.callable is None:
            return "a python task needs 'callable' ('module:qualname')"
        if not _is_import_path(task.callable):
            return f"expected 'module:qualname', got '{task.callable}'"
    if task.kind == "bash" and not (task.bash_command or "").strip():
        return "a bash task needs a non-empty 'bash_command'"
    if task.kind == "http" and task.http is None:
        return "an http task needs 'http' (the request to send)"
    return None


def _is_import_path(value: str) -> bool:
    module, colon, qualname = value.partition(":")
    dotted = [*module.split("."), *qualname.split(".")]
    return bool(colon) and all(part.isidentifier() for part in dotted)


def _flow_problems(i: int, task: TaskSpec) -> list[Problem]:
    """The branch / short-circuit / setup / teardown flags that contradict each other."""
    problems = []
    if task.setup and task.teardown:
        message = "a task is a setup or a teardown, not both"
        problems.append(Problem(format_location("tasks", i, "teardown"), message))
    if not task.ignore_downstream_trigger_rules and task.flow != TaskFlow.SHORT_CIRCUIT:
        message = "'ignore_downstream_trigger_rules' applies to a short_circuit task only"
        location = format_location("tasks", i, "ignore_downstream_trigger_rules")
        problems.append(Problem(location, message))
    if task.on_failure_fail_dagrun and not task.teardown:
        message = "'on_failure_fail_dagrun' applies to a teardown task only"
        problems.append(Problem(format_location("tasks", i, "on_failure_fail_dagrun"), message))
    if task.flow is not None and task.kind != "python":
        message = f"a {task.flow.value} task must be a python task (its return value decides)"
        problems.append(Problem(format_location("tasks", i, "flow"), message))
    if task.sensor is not None and (task.kind != "python" or task.expand):
        message = "a sensor must be a python task that is not mapped (its poke says when done)"
        problems.append(Problem(format_location("tasks", i, "sensor"), message))
    return problems


def _binding_problems(i: int, task: TaskSpec) -> list[Problem]:
    """An argument bound twice (``args``, ``inputs``, ``expand``) has no single value."""
    problems = []
    for name in task.inputs:
        if name in task.args:
            message = f"argument '{name}' is set in both args and inputs"
            problems.append(Problem(format_location("tasks", i, "inputs", name), message))
    for name in task.expand:
        if name in task.args or name in task.inputs:
            other = "inputs" if name in task.inputs else "args"
            message = f"argument '{name}' is set in both {other} and expand"
            problems.append(Problem(format_location("tasks", i, "expand", name), message))
    return problems + _mapping_problems(i, task)


def _mapping_problems(i: int, task: TaskSpec) -> list[Problem]:
    """Literal lists, ``expand_kwargs`` and the argument order must describe one mapping."""
    problems = []
    for name in task.expand_literals:
        if name in task.args or name in task.inputs or name in task.expand:
            message = f"argument '{name}' is mapped over a literal list and also bound elsewhere"
            problems.append(Problem(format_location("tasks", i, "expand_literals", name), message))
    if task.expand_kwargs is not None and (task.expand or task.expand_literals):
        message = "expand_kwargs maps the task on its own; it cannot be combined with expand"
        problems.append(Problem(format_location("tasks", i, "expand_kwargs"), message))
    names = {*task.expand, *task.expand_literals}
    if task.expand_order and sorted(task.expand_order) != sorted(names):
        message = "expand_order must list each mapped argument once"
        problems.append(Problem(format_location("tasks", i, "expand_order"), message))
    return problems


def _trigger_problems(spec: DagSpec) -> list[Problem]:
    trigger = spec.trigger
    problems = []
    schedule = _schedule_problem(trigger.schedule)
    if schedule:
        problems.append(Problem("trigger.schedule", schedule))
    if trigger.assets is not None and trigger.schedule is not None:
        message = "a DAG is scheduled on a cron schedule or on assets, not both"
        problems.append(Problem("trigger.assets", message))
    zone = _zone(trigger.timezone)
    if zone is None:
        problems.append(Problem("trigger.timezone", f"unknown timezone '{trigger.timezone}'"))
    start, end = trigger.start_date, trigger.end_date
    if start and end and _aware(end, zone) < _aware(start, zone):
        message = f"end_date {end.isoformat()} is before start_date {start.isoformat()}"
        problems.append(Problem("trigger.end_date", message))
    return problems


def _schedule_problem(schedule: str | None) -> str | None:
    if schedule is None:
        return None
    if schedule.startswith("@"):
        if schedule in SCHEDULE_PRESETS:
            return None
        return f"unknown preset '{schedule}' (expected one of: {', '.join(SCHEDULE_PRESETS)})"
    fields = schedule.split()
    if len(fields) != _CRON_FIELDS:
        return (
            f"invalid cron expression '{schedule}': expected 5 fields "
            f"(minute hour day-of-month month day-of-week), got {len(fields)}"
        )
    try:
        croniter(schedule)
    except CroniterError as exc:
        return f"invalid cron expression '{schedule}': {exc}"
    return None


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory, a long name
        return None


def _aware(moment: datetime, zone: ZoneInfo | None) -> datetime:
    """Naive dates mean wall-clock time in the DAG's timezone (as in Airflow)."""
    if moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=zone or ZoneInfo("UTC"))
