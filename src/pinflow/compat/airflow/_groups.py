"""``TaskGroup`` and ``@task_group``: task ids prefixed ``group.task``, group defaults, and
dependencies on a whole group.

Pinflow's specs have no groups: a group lives on only in its members' ids. An edge to a
group stands for edges to its roots (members with no upstream inside the group), an edge
from it for edges from its leaves, as in Airflow. Those are worked out when the DAG is built
(``resolve_group_edges``), once every member and edge inside the group exists.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakKeyDictionary

from pinflow.compat.airflow._options import task_options
from pinflow.sdk.graph import DagBuilder, XComArg, current_builder
from pinflow.sdk.options import check_identifier
from pinflow.spec.graph import cycle_problems
from pinflow.spec.models import DagSpec, TaskSpec

_current: ContextVar[TaskGroup | None] = ContextVar("pinflow_airflow_group", default=None)


@dataclass
class _Edges:
    """A DAG's edges that have a group at one end, and its groups' ids in use."""

    edges: list[tuple[object, object]] = field(default_factory=list)
    group_ids: set[str] = field(default_factory=set)


_pending: WeakKeyDictionary[DagBuilder, _Edges] = WeakKeyDictionary()


def _edges_of(builder: DagBuilder) -> _Edges:
    return _pending.setdefault(builder, _Edges())


def task_id_in_group(task_id: str) -> str:
    group = _current.get()
    return task_id if group is None else group.prefix + task_id


def group_defaults() -> dict[str, Any]:
    """The merged ``default_args`` of the enclosing groups (inner ones win)."""
    group = _current.get()
    return {} if group is None else dict(group.defaults)


def joined(handle: XComArg) -> XComArg:
    """Record a task just added as a member of the enclosing groups."""
    group = _current.get()
    while group is not None:
        group.members.append(handle.task_id)
        group = group.parent
    return handle


class TaskGroup(XComArg):
    """``with TaskGroup("extract"):`` — tasks created inside get ids ``extract.<task_id>``.

    A subclass of ``XComArg`` so that ``task_output >> group`` asks the group first (the
    reflected operator of a subclass of the left operand's type is tried first).
    """

    def __init__(
        self,
        group_id: str,
        *,
        prefix_group_id: bool = True,
        default_args: Mapping[str, Any] | None = None,
        tooltip: str = "",
        ui_color: str | None = None,
        ui_fgcolor: str | None = None,
        add_suffix_on_collision: bool = False,
    ) -> None:
        builder = current_builder()
        if builder is None:
            raise RuntimeError(f"TaskGroup {group_id!r}: create it inside a DAG")
        owner = f"TaskGroup {group_id!r}"
        self.parent = _current.get()
        full_id = check_identifier(owner, "group_id", task_id_in_group(group_id))
        edges = _edges_of(builder)
        if full_id in edges.group_ids:
            if not add_suffix_on_collision:
                raise ValueError(f"{owner}: group_id {full_id!r} is used twice in the DAG")
            full_id = _suffixed(full_id, edges.group_ids)
        edges.group_ids.add(full_id)
        self.group_id = full_id
        parent_prefix = self.parent.prefix if self.parent else ""
        self.prefix: str = f"{full_id}." if prefix_group_id else parent_prefix
        own = task_options(f"{owner} default_args", default_args or {})
        parent_defaults = self.parent.defaults if self.parent else {}
        self.defaults: dict[str, Any] = {**parent_defaults, **own}
        self.members: list[str] = []
        self._builder = builder
        self._token: Any = None

    @property
    def builder(self) -> DagBuilder:
        return self._builder

    @property
    def task_id(self) -> str:  # type: ignore[override]
        # Reached when a group sits in a list on the right of a task output's ``>>``, which
        # Pinflow's XComArg handles itself, without asking the group.
        raise TypeError(
            f"{self!r} is a task group, not a task: write `upstream >> group` on its own "
            "instead of putting the group in a list"
        )

    def __enter__(self) -> TaskGroup:
        self._token = _current.set(self)
        return self

    def __exit__(self, *exc: object) -> None:
        _current.reset(self._token)

    def __rshift__(self, other: Any) -> Any:
        _edges_of(self._builder).edges.extend((self, d) for d in _as_list(other))
        return other

    def __lshift__(self, other: Any) -> Any:
        _edges_of(self._builder).edges.extend((u, self) for u in _as_list(other))
        return other

    def __rrshift__(self, other: Any) -> TaskGroup:
        self << other
        return self

    def __rlshift__(self, other: Any) -> TaskGroup:
        self >> other
        return self

    def __repr__(self) -> str:
        return f"<TaskGroup {self.group_id!r}>"


def _suffixed(group_id: str, used: set[str]) -> str:
    n = 1
    while f"{group_id}__{n}" in used:
        n += 1
    return f"{group_id}__{n}"


def _as_list(value: object) -> list[object]:
    return list(value) if isinstance(value, list | tuple) else [value]


def connect(upstream: object, downstream: object) -> None:
    """``upstream >> downstream`` where either may be a group (used by ``chain``)."""
    group = upstream if isinstance(upstream, TaskGroup) else downstream
    if isinstance(group, TaskGroup):
        _edges_of(group.builder).edges.append((upstream, downstream))
        return
    if not isinstance(upstream, XComArg) or not isinstance(downstream, XComArg):
        raise TypeError(
            f"dependencies are set between tasks and task groups, got {upstream!r} >> "
            f"{downstream!r}; call the task (extract()) and use what it returns"
        )
    # XComArg's own operator: an operator's ``>>`` comes here for each of its downstreams.
    XComArg.__rshift__(upstream, downstream)


def task_group(python_callable: Callable[..., Any] | None = None, **group_args: Any) -> Any:
    """``@task_group`` / ``@task_group(group_id=..., default_args=...)``: calling the function
    inside a DAG runs its body in a ``TaskGroup`` (named after the function), and returns what
    the body returns, or the group."""

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def call(*args: Any, **kwargs: Any) -> Any:
            options = {"group_id": function.__name__, "add_suffix_on_collision": True}
            with TaskGroup(**{**options, **group_args}) as group:
                result = function(*args, **kwargs)
            return group if result is None else result

        return call

    return decorate if python_callable is None else decorate(python_callable)


def resolve_group_edges(builder: DagBuilder, spec: DagSpec) -> DagSpec:
    """The spec with every edge that has a group at one end turned into task edges."""
    pending = _pending.pop(builder, None)
    if pending is None or not pending.edges:
        return spec
    tasks = {t.task_id: t for t in spec.tasks}
    added: dict[str, list[str]] = {}
    for upstream, downstream in pending.edges:
        for up in _ends(upstream, tasks, leaves=True):
            for down in _ends(downstream, tasks, leaves=False):
                if up != down and up not in tasks[down].depends_on:
                    added.setdefault(down, []).append(up)
    updated = [
        t.model_copy(update={"depends_on": [*t.depends_on, *added[t.task_id]]})
        if t.task_id in added
        else t
        for t in spec.tasks
    ]
    result = spec.model_copy(update={"tasks": updated})
    cycles = cycle_problems(result)
    if cycles:
        raise ValueError(f"DAG {spec.dag_id!r}: dependency {cycles[0].message}")
    return result


def work_leaves(
    tasks: list[str], upstream: Mapping[str, list[str]], flagged: Callable[[str, str], bool]
) -> list[str]:
    """The leaves of ``tasks`` as Airflow sees them: a teardown leaf stands for the work
    tasks it tears down after (its upstreams that are no setup and lead to teardowns only)."""
    downstream: dict[str, list[str]] = {t: [] for t in tasks}
    for t in tasks:
        for u in upstream[t]:
            downstream[u].append(t)
    leaves: dict[str, None] = {}
    for t in (t for t in tasks if not downstream[t]):
        if not flagged(t, "teardown"):
            leaves[t] = None
            continue
        stack = list(upstream[t])
        while stack:
            u = stack.pop()
            if flagged(u, "teardown"):
                stack.extend(upstream[u])
            elif not flagged(u, "setup") and all(flagged(d, "teardown") for d in downstream[u]):
                leaves[u] = None
    return list(leaves)


def _ends(end: object, tasks: Mapping[str, TaskSpec], *, leaves: bool) -> Iterator[str]:
    if not isinstance(end, TaskGroup):
        if not isinstance(end, XComArg):
            raise TypeError(f"dependencies are set between tasks and groups, got {end!r}")
        yield end.task_id
        return
    members = set(end.members)
    if not members:
        raise ValueError(f"{end!r} has no tasks; add tasks to it before the DAG ends")
    if leaves:  # as Airflow: a teardown leaf stands for the work it follows
        upstream = {m: [u for u in tasks[m].upstream_task_ids if u in members] for m in members}
        yield from work_leaves(list(end.members), upstream, lambda t, f: getattr(tasks[t], f))
        return
    for task_id in end.members:
        if not members.intersection(tasks[task_id].upstream_task_ids):
            yield task_id
