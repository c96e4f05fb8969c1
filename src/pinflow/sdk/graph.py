"""The graph being built while a ``@dag`` function's body runs, and the handles tasks return.

A ``DagBuilder`` is active (in a context variable) only while a DAG body runs; a task called
then adds a node and returns an ``XComArg`` instead of running. Outside a body, task functions
are plain functions, which is what makes them unit-testable.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from itertools import pairwise
from types import MappingProxyType
from typing import Any, NoReturn, TypeVar

from pinflow.spec.models import TaskSpec, XComRef

_current: ContextVar[DagBuilder | None] = ContextVar("pinflow_dag_builder", default=None)


def current_builder() -> DagBuilder | None:
    """The DAG whose body is running, if any."""
    return _current.get()


@contextmanager
def building(builder: DagBuilder) -> Iterator[DagBuilder]:
    if _current.get() is not None:
        raise RuntimeError(
            f"DAG {builder.dag_id!r} is built inside another DAG's body; "
            "call @dag functions at module level"
        )
    token = _current.set(builder)
    try:
        yield builder
    finally:
        _current.reset(token)


class XComArg:
    """A task's output inside a DAG body: pass it to another task, or order tasks with ``>>``.

    Its value exists only when the task has run, so it cannot be inspected or iterated while
    the DAG is built; ``.expand()`` maps a task over it instead.
    """

    __slots__ = ("_builder", "key", "task_id")

    def __init__(self, builder: DagBuilder, task_id: str, key: str = "return_value") -> None:
        self._builder = builder
        self.task_id = task_id
        self.key = key

    @property
    def builder(self) -> DagBuilder:
        return self._builder

    def __rshift__(self, other: _D) -> _D:
        for downstream in _as_list(other):
            self._builder.add_dependency(self, downstream)
        return other

    def __lshift__(self, other: _D) -> _D:
        for upstream in _as_list(other):
            self._builder.add_dependency(upstream, self)
        return other

    def __rrshift__(self, other: Sequence[XComArg]) -> XComArg:
        self << other
        return self

    def __rlshift__(self, other: Sequence[XComArg]) -> XComArg:
        self >> other
        return self

    def __iter__(self) -> NoReturn:
        raise TypeError(
            f"the output of task {self.task_id!r} is only known when it runs; "
            "it cannot be iterated while the DAG is built (use .expand() to map over it)"
        )

    def __repr__(self) -> str:
        return f"XComArg(dag_id={self._builder.dag_id!r}, task_id={self.task_id!r})"


_D = TypeVar("_D", XComArg, Sequence[XComArg])


def _as_list(value: object) -> list[XComArg]:
    items: list[object] = list(value) if isinstance(value, list | tuple) else [value]
    handles: list[XComArg] = []
    for item in items:
        if not isinstance(item, XComArg):
            raise TypeError(
                f"dependencies are set between task outputs, got {type(item).__name__}; "
                "call the task (extract()) and use what it returns"
            )
        handles.append(item)
    return handles


def chain(*items: object) -> None:
    """``chain(a, b, [c, d], e)``: each item runs after the one before (Airflow's ``chain``).

    Next to a single task, a list fans out or in; two adjacent lists must have the same
    length and are paired element by element. Items are typed ``object`` because for type
    checkers a task call returns the function's own return type.
    """
    for left, right in pairwise(items):
        upstream, downstream = _as_list(left), _as_list(right)
        if isinstance(left, XComArg) or isinstance(right, XComArg):
            for up in upstream:
                up >> downstream
            continue
        if len(upstream) != len(downstream):
            raise ValueError(
                "chain: adjacent lists must have the same length, "
                f"got {len(upstream)} and {len(downstream)}"
            )
        for up, down in zip(upstream, downstream, strict=True):
            up >> down


@dataclass
class _Node:
    fields: dict[str, Any]
    depends_on: list[str] = field(default_factory=list)


class DagBuilder:
    """The tasks and edges of one DAG while its body runs; ``finish()`` returns the specs.

    ``strict`` is set by the compiler: it additionally refuses what would build fine but
    could not run on a worker (a task function defined inside another function).
    """

    def __init__(self, dag_id: str, *, strict: bool = False) -> None:
        self.dag_id = dag_id
        self.strict = strict
        self._nodes: dict[str, _Node] = {}
        self._finished = False

    def unique_task_id(self, task_id: str) -> str:
        """Airflow's rule for a task function called again: ``extract``, ``extract__1``..."""
        if task_id not in self._nodes:
            return task_id
        n = 1
        while f"{task_id}__{n}" in self._nodes:
            n += 1
        return f"{task_id}__{n}"

    def add_task(self, task_id: str, fields: dict[str, Any]) -> XComArg:
        self._check_open()
        if task_id in self._nodes:
            raise ValueError(f"DAG {self.dag_id!r}: task id {task_id!r} is used twice")
        self._nodes[task_id] = _Node(fields={**fields, "task_id": task_id})
        return XComArg(self, task_id)

    def update_task(self, handle: XComArg, fields: Mapping[str, Any]) -> None:
        """Change spec fields of a task already added (Airflow's ``as_teardown()``)."""
        self._check_own(handle)
        self._nodes[handle.task_id].fields.update(fields)

    def task_fields(self, task_id: str) -> Mapping[str, Any]:
        """A read-only view of the spec fields given to a task so far."""
        return MappingProxyType(self._nodes[task_id].fields)

    @property
    def task_ids(self) -> list[str]:
        """The tasks added so far, in order."""
        return list(self._nodes)

    def upstream_ids(self, task_id: str) -> list[str]:
        """The tasks ``task_id`` waits for so far: its dependencies and data bindings."""
        node = self._nodes[task_id]
        refs = [*node.fields.get("inputs", {}).values(), *node.fields.get("expand", {}).values()]
        if isinstance(node.fields.get("expand_kwargs"), XComRef):
            refs.append(node.fields["expand_kwargs"])
        return list(dict.fromkeys([*node.depends_on, *(ref.task_id for ref in refs)]))

    def ref(self, handle: XComArg) -> XComRef:
        self._check_own(handle)
        return XComRef(task_id=handle.task_id, key=handle.key)

    def add_dependency(self, upstream: XComArg, downstream: XComArg) -> None:
        self._check_own(upstream)
        self._check_own(downstream)
        if upstream.task_id == downstream.task_id:
            raise ValueError(f"DAG {self.dag_id!r}: task {upstream.task_id!r} depends on itself")
        depends_on = self._nodes[downstream.task_id].depends_on
        if upstream.task_id not in depends_on:
            depends_on.append(upstream.task_id)

    def finish(self) -> list[TaskSpec]:
        """Close the builder and return the tasks in the order they were added."""
        self._finished = True
        tasks = [
            TaskSpec(**node.fields, depends_on=node.depends_on) for node in self._nodes.values()
        ]
        cyclic = _tasks_in_cycles(tasks)
        if cyclic:
            raise ValueError(f"DAG {self.dag_id!r}: dependency cycle among tasks {cyclic}")
        return tasks

    def _check_open(self) -> None:
        if self._finished:
            raise RuntimeError(f"DAG {self.dag_id!r} is already built; tasks are added in its body")

    def _check_own(self, handle: XComArg) -> None:
        self._check_open()
        if handle.builder is not self:
            raise ValueError(
                f"task {handle.task_id!r} belongs to DAG {handle.builder.dag_id!r}, "
                f"not to {self.dag_id!r}; tasks cannot be shared between DAGs"
            )


def _tasks_in_cycles(tasks: list[TaskSpec]) -> list[str]:
    """Task ids that Kahn's algorithm cannot order (on or behind a cycle); empty if acyclic."""
    waiting = {t.task_id: set(t.upstream_task_ids) for t in tasks}
    ready = [task_id for task_id, ups in waiting.items() if not ups]
    while ready:
        done = ready.pop()
        del waiting[done]
        for task_id, ups in waiting.items():
            if done in ups:
                ups.discard(done)
                if not ups:
                    ready.append(task_id)
    return sorted(waiting)
