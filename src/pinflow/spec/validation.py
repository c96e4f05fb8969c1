"""Checking a DAG spec: parsing, graph and semantic checks, run ``conf`` against params.

Two modes, one set of checks:

* **lenient** (drafts): :func:`parse_spec` enforces *types* only (a retry count is an integer);
  the graph and semantic problems :func:`draft_warnings` returns are shown as warnings and the
  draft is saved anyway, because a draft is work in progress.
* **strict** (publish): :func:`validate_for_publish` refuses the spec when :func:`check_spec`
  finds any problem. Every problem is reported, each with its location
  (``tasks[2].depends_on[0]``), so one round trip fixes them all.

Cycles are written in run order: ``cycle: a -> b -> a`` means b waits for a and a for b.
"""

from __future__ import annotations

import copy
import json
import math
import re
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from heapq import heapify, heappop, heappush
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter
from pydantic import ValidationError

from pinflow.errors import InvalidInputError, Problem, format_problems
from pinflow.spec.models import KNOWN_TASK_KINDS, DagSpec, ParamSpec, ParamType, TaskSpec

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
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# The fields that carry what a task runs; each belongs to exactly one kind.
_KIND_FIELDS = {"python": "callable", "bash": "bash_command", "http": "http"}
_NUMERIC = (ParamType.INTEGER, ParamType.NUMBER)


def format_location(*parts: str | int) -> str:
    """A readable location, e.g. ``tasks[2].inputs["my arg"]`` for ``tasks, 2, inputs, my arg``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _NAME.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{json.dumps(part, ensure_ascii=False)}]"
    return out


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


# --- the graph ---------------------------------------------------------------------------------


@dataclass
class _Graph:
    """Tasks by first declaration; edges run upstream -> downstream; unknown ids are dropped."""

    order: list[str] = field(default_factory=list)
    upstream: dict[str, list[str]] = field(default_factory=dict)
    downstream: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def of(cls, spec: DagSpec) -> _Graph:
        graph = cls()
        for task in spec.tasks:
            if task.task_id not in graph.upstream:
                graph.order.append(task.task_id)
                graph.upstream[task.task_id] = []
                graph.downstream[task.task_id] = []
        for task in spec.tasks:
            for up in task.upstream_task_ids:
                if up in graph.upstream and up not in graph.upstream[task.task_id]:
                    graph.upstream[task.task_id].append(up)
                    graph.downstream[up].append(task.task_id)
        return graph


def topological_order(spec: DagSpec) -> list[str]:
    """Task ids, upstreams first; among ready tasks the one declared first goes first."""
    graph = _Graph.of(spec)
    result = _kahn(graph)
    if len(result) < len(graph.order):
        paths = [" -> ".join(cycle) for cycle in _cycles(graph)]
        problems = [Problem("tasks", f"cycle: {text}") for text in paths]
        raise InvalidInputError(f"The DAG has a cycle: {'; '.join(paths)}", problems=problems)
    return result


def _kahn(graph: _Graph) -> list[str]:
    """Kahn's algorithm with a heap of declaration positions; tasks on a cycle are left out."""
    position = {task_id: i for i, task_id in enumerate(graph.order)}
    waiting = {task_id: len(ups) for task_id, ups in graph.upstream.items()}
    ready = [position[t] for t, count in waiting.items() if count == 0]
    heapify(ready)
    result: list[str] = []
    while ready:
        task_id = graph.order[heappop(ready)]
        result.append(task_id)
        for down in graph.downstream[task_id]:
            waiting[down] -= 1
            if waiting[down] == 0:
                heappush(ready, position[down])
    return result


def downstream_of(spec: DagSpec, task_ids: Iterable[str]) -> set[str]:
    """Every task that (transitively) waits for one of ``task_ids``."""
    return _reachable(_Graph.of(spec).downstream, task_ids)


def upstream_of(spec: DagSpec, task_ids: Iterable[str]) -> set[str]:
    """Every task that one of ``task_ids`` (transitively) waits for."""
    return _reachable(_Graph.of(spec).upstream, task_ids)


def _reachable(edges: dict[str, list[str]], starts: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    todo = [nxt for start in starts for nxt in edges.get(start, ())]
    while todo:
        task_id = todo.pop()
        if task_id not in seen:
            seen.add(task_id)
            todo.extend(edges[task_id])
    return seen


def _cycles(graph: _Graph) -> list[list[str]]:
    """One cycle per strongly connected component, as a closed path (first node repeated).

    Only tasks that Kahn's algorithm cannot order are examined, so an acyclic DAG costs one
    pass; a component is the set reachable both ways from its earliest-declared task.
    """
    ordered = set(_kahn(graph))
    seen: set[str] = set()
    found = []
    for node in graph.order:
        if node in ordered or node in seen:
            continue
        component = _reachable(graph.downstream, [node]) & _reachable(graph.upstream, [node])
        seen |= component
        if component == {node}:
            found.append([node, node])
        elif component:
            found.append(_path_back(graph, node, component))
    return found


def _path_back(graph: _Graph, start: str, members: set[str]) -> list[str]:
    """The shortest way from ``start`` back to itself inside its component (self-loops aside)."""
    came_from: dict[str, str] = {}
    todo = deque([start])
    while todo:
        node = todo.popleft()
        for nxt in graph.downstream[node]:
            if nxt == start and node != start:
                route = [start, node]
                while route[-1] != start:
                    route.append(came_from[route[-1]])
                return route[::-1]
            if nxt in members and nxt != start and nxt not in came_from:
                came_from[nxt] = node
                todo.append(nxt)
    raise AssertionError("a strongly connected component always has a way back")  # pragma: no cover


# --- strict checks -----------------------------------------------------------------------------


def check_spec(spec: DagSpec) -> list[Problem]:
    """Every graph and semantic problem of ``spec``, in document order; empty when publishable."""
    problems: list[Problem] = []
    if not spec.tasks:
        problems.append(Problem("tasks", "the DAG has no tasks"))
    problems += _duplicate_ids(spec)
    known = set(spec.task_ids)
    for i, task in enumerate(spec.tasks):
        problems += _reference_problems(i, task, known)
        problems += _kind_problems(i, task)
        problems += _binding_problems(i, task)
    cycles = [c for c in _cycles(_Graph.of(spec)) if len(c) > 2]  # self-loops are named above
    problems += [Problem("tasks", f"cycle: {' -> '.join(c)}") for c in cycles]
    problems += _trigger_problems(spec)
    for name, param in spec.params.items():
        problems += _param_problems(name, param)
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


def _duplicate_ids(spec: DagSpec) -> list[Problem]:
    first: dict[str, int] = {}
    problems = []
    for i, task in enumerate(spec.tasks):
        if task.task_id in first:
            message = f"duplicate task id '{task.task_id}' (first at tasks[{first[task.task_id]}])"
            problems.append(Problem(format_location("tasks", i, "task_id"), message))
        else:
            first[task.task_id] = i
    return problems


def _reference_problems(i: int, task: TaskSpec, known: set[str]) -> list[Problem]:
    refs = [
        (format_location("tasks", i, "depends_on", k), up) for k, up in enumerate(task.depends_on)
    ]
    for binding in ("inputs", "expand"):
        refs += [
            (format_location("tasks", i, binding, name, "task_id"), xcom.task_id)
            for name, xcom in getattr(task, binding).items()
        ]
    problems = []
    for where, ref in refs:
        if ref == task.task_id:
            problems.append(Problem(where, f"task '{ref}' depends on itself"))
        elif ref not in known:
            problems.append(Problem(where, f"unknown task '{ref}'"))
    return problems


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
    return problems


def _trigger_problems(spec: DagSpec) -> list[Problem]:
    trigger = spec.trigger
    problems = []
    schedule = _schedule_problem(trigger.schedule)
    if schedule:
        problems.append(Problem("trigger.schedule", schedule))
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


def _param_problems(name: str, param: ParamSpec) -> list[Problem]:
    def at(*parts: str | int) -> str:
        return format_location("params", name, *parts)

    numeric = param.type in _NUMERIC
    found: list[tuple[str, str | None]] = [
        (at(bound), f"'{bound}' applies only to integer and number params")
        for bound in ("minimum", "maximum")
        if getattr(param, bound) is not None and not numeric
    ]
    low, high = param.minimum, param.maximum
    if numeric and low is not None and high is not None and high < low:
        found.append((at("maximum"), f"maximum {high:g} is less than minimum {low:g}"))
    found += [(at("enum", k), _type_problem(param.type, v)) for k, v in enumerate(param.enum or ())]
    if param.default is not None:
        found.append((at("default"), _value_problem(param, param.default)))
    return [Problem(location, message) for location, message in found if message]


# --- run conf ----------------------------------------------------------------------------------


def validate_conf(spec: DagSpec, conf: dict[str, Any] | None) -> dict[str, Any]:
    """The params a run sees: defaults overlaid with ``conf``; undeclared keys pass through.

    Types follow JSON Schema as Airflow's ``Param`` does, except that ``integer`` accepts only
    ints (not ``1.0``), so a task declared to get an int never receives a float. ``None`` for
    a param counts as not given.
    """
    conf = conf or {}
    resolved = {key: value for key, value in conf.items() if key not in spec.params}
    problems = []
    for name, param in spec.params.items():
        value = conf.get(name)
        if value is None:
            value = copy.deepcopy(param.default)  # a run must not be able to edit the spec
        if value is None and param.required:
            problems.append(
                Problem(format_location("conf", name), "required param is missing (no default)")
            )
            continue
        message = None if value is None else _value_problem(param, value)
        if message:
            problems.append(Problem(format_location("conf", name), message))
        resolved[name] = value
    if problems:
        raise InvalidInputError(
            f"conf does not match the DAG's params: {format_problems(problems)}",
            problems=problems,
        )
    return resolved


def _value_problem(param: ParamSpec, value: Any) -> str | None:
    type_problem = _type_problem(param.type, value)
    if type_problem:
        return type_problem
    if param.enum is not None and not any(_same(value, option) for option in param.enum):
        options = ", ".join(_show(option) for option in param.enum)
        return f"expected one of {options}, got {_show(value)}"
    if param.type in _NUMERIC:
        if param.minimum is not None and value < param.minimum:
            return f"expected at least {param.minimum:g}, got {_show(value)}"
        if param.maximum is not None and value > param.maximum:
            return f"expected at most {param.maximum:g}, got {_show(value)}"
    return None


def _type_problem(expected: ParamType, value: Any) -> str | None:
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    matches = {
        ParamType.STRING: isinstance(value, str),
        ParamType.INTEGER: is_number and isinstance(value, int),
        ParamType.NUMBER: is_number and (isinstance(value, int) or math.isfinite(value)),
        ParamType.BOOLEAN: isinstance(value, bool),
        ParamType.ARRAY: isinstance(value, list | tuple),
        ParamType.OBJECT: isinstance(value, dict),
    }[expected]
    return None if matches else f"expected {expected.value}, got {_show(value)}"


def _same(value: Any, option: Any) -> bool:
    """Equality that keeps ``True`` apart from ``1``, as JSON does."""
    return isinstance(value, bool) == isinstance(option, bool) and bool(value == option)


def _show(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
