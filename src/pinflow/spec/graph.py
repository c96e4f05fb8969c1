"""The task graph of a spec: run order, reachability, cycles, and the checks on the graph.

Edges run upstream -> downstream. Cycles are written in run order: ``cycle: a -> b -> a``
means b waits for a and a for b. The checks (unique ids, references to known tasks, no
cycle) are parts of :func:`pinflow.spec.validation.check_spec`, which puts every problem in
document order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from heapq import heapify, heappop, heappush

from pinflow.errors import InvalidInputError, Problem
from pinflow.spec.locations import format_location
from pinflow.spec.models import DagSpec, TaskSpec, XComRef


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


# --- checks ------------------------------------------------------------------------------------


def duplicate_id_problems(spec: DagSpec) -> list[Problem]:
    """A task id declared twice, at each later declaration (the first one wins in the graph)."""
    first: dict[str, int] = {}
    problems = []
    for i, task in enumerate(spec.tasks):
        if task.task_id in first:
            message = f"duplicate task id '{task.task_id}' (first at tasks[{first[task.task_id]}])"
            problems.append(Problem(format_location("tasks", i, "task_id"), message))
        else:
            first[task.task_id] = i
    return problems


def reference_problems(i: int, task: TaskSpec, known: set[str]) -> list[Problem]:
    """The upstreams ``tasks[i]`` names (``depends_on``, XCom bindings) that are not others'."""
    refs = [
        (format_location("tasks", i, "depends_on", k), up) for k, up in enumerate(task.depends_on)
    ]
    for binding in ("inputs", "expand"):
        refs += [
            (format_location("tasks", i, binding, name, "task_id"), xcom.task_id)
            for name, xcom in getattr(task, binding).items()
        ]
    if isinstance(task.expand_kwargs, XComRef):
        where = format_location("tasks", i, "expand_kwargs", "task_id")
        refs.append((where, task.expand_kwargs.task_id))
    problems = []
    for where, ref in refs:
        if ref == task.task_id:
            problems.append(Problem(where, f"task '{ref}' depends on itself"))
        elif ref not in known:
            problems.append(Problem(where, f"unknown task '{ref}'"))
    return problems


def cycle_problems(spec: DagSpec) -> list[Problem]:
    """Every cycle of two tasks or more; a self-loop is a reference problem of its task."""
    cycles = [c for c in _cycles(_Graph.of(spec)) if len(c) > 2]
    return [Problem("tasks", f"cycle: {' -> '.join(c)}") for c in cycles]
