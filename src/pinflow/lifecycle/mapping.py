"""Dynamic task mapping (Airflow's ``expand``): what a mapped task turns into, as data.

A mapped task has one placeholder task instance (``map_index`` -1) until its trigger rule
lets it run. Then ``plan_expansion`` looks at the values of its ``expand`` arguments and
answers: ``n`` elements (``scheduled``; the placeholder becomes element 0, as in Airflow 3),
``skipped`` (an empty input: nothing to do, as in Airflow), ``failed`` (an input that is not a
list, or a product longer than ``MAX_MAP_LENGTH``) or ``upstream_failed`` (an upstream that
did not succeed left no value: Airflow's "missing upstream values"). Several ``expand``
arguments map over their cross product, the last argument varying fastest.

``upstream_output`` is how every reader sees an upstream's output: one value, or the list of a
mapped upstream's element values in ``map_index`` order. The count of elements and the
element of an index come from the same lists, so the scheduler and a worker always agree.

A value too large for the database is a ``StoredValue`` here: planning knows a stored list's
length, never its content, and the element of a stored list is a ``StoredElement`` for the
worker to read (ADR 0008).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final

from pinflow.lifecycle.states import FINISHED_TASK_STATES, TaskState
from pinflow.spec.models import EXPAND_KWARGS, DagSpec, TaskSpec, XComRef

# Airflow's ``[core] max_map_length`` is 1024; Pinflow's fan-out target is larger, and a limit
# still keeps one bad return value from creating millions of rows.
MAX_MAP_LENGTH: Final = 10_000


class _Missing(Enum):
    MISSING = "missing"


MISSING: Final = _Missing.MISSING
"""No value: the upstream stored no XCom under that key (``None`` is a value)."""


@dataclass(frozen=True)
class StoredValue:
    """A value kept outside the database (in the artifact store), not loaded.

    ``source`` is whatever its reader needs to load it (opaque here); ``length`` is the
    length of a list, ``None`` when the value is not a list.
    """

    source: Any
    length: int | None = None


@dataclass(frozen=True)
class StoredElement:
    """Element ``index`` of a stored list: what a mapped task instance receives."""

    source: Any
    index: int


@dataclass(frozen=True)
class ExpandInput:
    """One ``expand`` argument: its upstream's output and whether that upstream succeeded."""

    upstream_task_id: str
    value: Any  # ``MISSING`` when the upstream stored nothing
    upstream_succeeded: bool


@dataclass(frozen=True)
class Expansion:
    """What a mapped task becomes: ``count`` elements to schedule, or a final state."""

    task_id: str
    state: TaskState  # scheduled, skipped, failed or upstream_failed
    count: int = 0
    error: str | None = None


_STATES: Final = {state.value: state for state in TaskState}  # faster than TaskState(value)

XComValues = Mapping[tuple[str, str], Mapping[int, Any]]
"""Stored values by (task id, key), then by ``map_index``."""


@dataclass(frozen=True)
class RunInstances:
    """A run's task instances as planning sees them, from one read of the run's rows."""

    states: dict[str, list[TaskState]] = field(default_factory=dict)
    elements: dict[str, int] = field(default_factory=dict)  # instances with map_index >= 0
    placeholders: dict[str, int] = field(default_factory=dict)  # id of the map_index -1 one

    @classmethod
    def of(cls, groups: Iterable[tuple[str, str, int, int, int | None]]) -> RunInstances:
        """From ``(task_id, state, count, max map_index, id of the -1 instance)`` per task and
        state: a mapped task's thousands of elements arrive as a few rows."""
        found = cls()
        for task_id, state, count, max_map_index, placeholder in groups:
            found.states.setdefault(task_id, []).extend([_STATES[state]] * count)
            if placeholder is not None:
                found.placeholders[task_id] = placeholder
            if max_map_index >= 0:
                found.elements[task_id] = max(found.elements.get(task_id, 0), max_map_index + 1)
        return found


def upstream_output(values_by_map_index: Mapping[int, Any], elements: int, *, mapped: bool) -> Any:
    """An upstream's output under one key, as a downstream task receives it.

    A mapped upstream gives the list of its ``elements`` values in ``map_index`` order,
    leaving out the elements that stored nothing (failed, skipped, or returned ``None``), as
    Airflow's lazy sequence of a mapped task's XComs does (its docs: "a mapped task can remove
    any elements from being passed on to its downstream tasks by returning None"); an empty
    list when it expanded to nothing. An unmapped one gives its value, or ``MISSING``.
    """
    if mapped:
        return [values_by_map_index[i] for i in range(elements) if i in values_by_map_index]
    return values_by_map_index.get(-1, MISSING)


def upstream_refs(task: TaskSpec) -> dict[str, XComRef]:
    """The upstream outputs ``task`` is mapped over, by argument (``EXPAND_KWARGS`` for an
    ``expand_kwargs`` over an upstream's list)."""
    refs = dict(task.expand)
    if isinstance(task.expand_kwargs, XComRef):
        refs[EXPAND_KWARGS] = task.expand_kwargs
    return refs


def mapped_lists(task: TaskSpec, upstream: Mapping[str, MappedList]) -> dict[str, MappedList]:
    """The lists ``task``'s elements are taken from, in the cross product's order: the
    upstream ones (``upstream``, by ``upstream_refs`` name) and the literal ones. An
    ``expand_kwargs`` task has one list, of the dicts of its elements' arguments."""
    if task.expand_kwargs is not None:
        kwargs = task.expand_kwargs
        return {EXPAND_KWARGS: upstream[EXPAND_KWARGS] if isinstance(kwargs, XComRef) else kwargs}
    return {
        name: upstream[name] if name in task.expand else task.expand_literals[name]
        for name in task.mapped_names
    }


def expansion_for(
    spec: DagSpec,
    task: TaskSpec,
    states: Mapping[str, Sequence[TaskState]],
    elements: Mapping[str, int],
    xcoms: XComValues,
    *,
    max_length: int = MAX_MAP_LENGTH,
) -> Expansion:
    """What the ready mapped ``task`` becomes, given its upstreams' stored values."""
    inputs: dict[str, ExpandInput] = {}
    for name, values in task.expand_literals.items():
        inputs[name] = ExpandInput("", values, upstream_succeeded=True)
    if isinstance(task.expand_kwargs, list):
        inputs[EXPAND_KWARGS] = ExpandInput("", task.expand_kwargs, upstream_succeeded=True)
    for name, ref in upstream_refs(task).items():
        upstream = spec.task(ref.task_id)
        count = elements.get(ref.task_id, 0)
        mapped = count > 0 or (upstream is not None and bool(upstream.expand))
        value = upstream_output(xcoms.get((ref.task_id, ref.key), {}), count, mapped=mapped)
        upstream_states = list(states.get(ref.task_id, ()))
        if mapped and not FINISHED_TASK_STATES.issuperset(upstream_states):
            value = MISSING  # as in Airflow: a mapped upstream's length is known once it is done
        succeeded = upstream_states == [TaskState.SUCCESS]
        inputs[name] = ExpandInput(ref.task_id, value, succeeded)
    return plan_expansion(task.task_id, inputs, max_length=max_length)


def plan_expansion(
    task_id: str, inputs: Mapping[str, ExpandInput], *, max_length: int = MAX_MAP_LENGTH
) -> Expansion:
    """Expand ``task_id`` over ``inputs`` (by argument name), or say why it cannot run.

    Checked in Airflow's order: a missing value first (the task cannot know its length),
    then the type of every input, then an empty product, then the length limit.
    """
    for name, arg in inputs.items():
        if arg.value is MISSING and not arg.upstream_succeeded:
            error = f"expand argument {name!r}: task {arg.upstream_task_id!r} left no value"
            return Expansion(task_id, TaskState.UPSTREAM_FAILED, error=error)
    for name, arg in inputs.items():
        if not _is_list(arg.value):
            return Expansion(task_id, TaskState.FAILED, error=_not_a_list(name, arg))
    count = map_length([arg.value for arg in inputs.values()])
    if count == 0:
        return Expansion(task_id, TaskState.SKIPPED)
    if count > max_length:
        error = (
            f"expand would create {count} task instances of {task_id!r}; at most "
            f"{max_length} are allowed (PINFLOW_MAX_MAP_LENGTH): map over fewer elements, "
            "e.g. batches of them, or raise the limit"
        )
        return Expansion(task_id, TaskState.FAILED, error=error)
    return Expansion(task_id, TaskState.SCHEDULED, count=count)


def _is_list(value: Any) -> bool:
    return isinstance(value, list) or (isinstance(value, StoredValue) and value.length is not None)


def _not_a_list(name: str, arg: ExpandInput) -> str:
    if isinstance(arg.value, StoredValue):
        got = "a large value that is not a list"
    else:
        got = "nothing" if arg.value is MISSING else type(arg.value).__name__
    if name == EXPAND_KWARGS:  # Airflow's words, which call ``None`` "None"
        got = "None" if arg.value is None else got
        return f"expand_kwargs() expects a list[dict], not {got} (task {arg.upstream_task_id!r})"
    return f"expand argument {name!r} must be a list; task {arg.upstream_task_id!r} returned {got}"


MappedList = Sequence[Any] | StoredValue
"""What is mapped over: a list, or a stored one (its elements are ``StoredElement``s)."""


def _length(values: MappedList) -> int:
    if isinstance(values, StoredValue):
        return values.length or 0
    return len(values)


def map_length(lists: Sequence[MappedList]) -> int:
    """How many elements the cross product of ``lists`` has (without building it)."""
    return math.prod(_length(values) for values in lists)


def element(lists: Mapping[str, MappedList], map_index: int) -> dict[str, Any]:
    """The arguments of element ``map_index`` of the product, last argument varying fastest
    (``itertools.product``'s order), in constant time per argument."""
    if not 0 <= map_index < map_length(list(lists.values())):
        raise IndexError(f"map_index {map_index} is out of range of the mapped lists")
    chosen: dict[str, Any] = {}
    rest = map_index
    for name in reversed(list(lists)):
        values = lists[name]
        rest, i = divmod(rest, _length(values))
        chosen[name] = (
            StoredElement(values.source, i) if isinstance(values, StoredValue) else values[i]
        )
    return {name: chosen[name] for name in lists}
