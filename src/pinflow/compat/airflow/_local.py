"""Task functions defined inside a ``@dag`` function's body, made importable by workers.

Airflow users write ``@task`` functions inside the DAG function (the TaskFlow tutorial does).
A worker imports task code as ``module:qualname``, which a function local to another
function does not have. Such a function gets the reference
``module:<dag function>.local_tasks.<name>``: ``local_tasks`` runs the DAG function's body
once more (nothing is registered) and collects the functions defined in it by their
qualified names, so the worker finds the same function the compiler saw.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from pinflow.compat.airflow._outputs import selecting

LOCALS = ".<locals>."


@dataclass
class Capture:
    """The functions a DAG body defines, by their qualname below the DAG function's.

    A qualname seen again with another function object (a helper that defines a task, called
    twice; a ``@task`` in a loop) gets ``__1``, ``__2``... in definition order, which is the
    same when the body runs again on the worker.
    """

    dag_qualname: str
    functions: dict[str, Callable[..., Any]] = field(default_factory=dict)
    keys: dict[int, str] = field(default_factory=dict)

    def key_of(self, name: str, function: Callable[..., Any]) -> str:
        known = self.keys.get(id(function))
        if known is not None:
            return known
        key, n = name, 0
        while key in self.functions:
            n += 1
            key = f"{name}__{n}"
        self.functions[key] = function  # kept alive, so its id() is not reused
        self.keys[id(function)] = key
        return key


_capture: ContextVar[Capture | None] = ContextVar("pinflow_airflow_capture", default=None)


@contextmanager
def capturing(dag_qualname: str) -> Iterator[Capture]:
    capture = Capture(dag_qualname)
    token = _capture.set(capture)
    try:
        yield capture
    finally:
        _capture.reset(token)


def local_reference(function: Callable[..., Any]) -> str | None:
    """``module:dag.local_tasks.name`` for a function defined in the body of the ``@dag``
    function being built (recording it), ``None`` for a module-level function or one defined
    elsewhere (the SDK then reports it as not importable)."""
    qualname = function.__qualname__
    capture = _capture.get()
    if LOCALS not in qualname or capture is None or LOCALS in capture.dag_qualname:
        return None
    prefix = capture.dag_qualname + LOCALS
    if not qualname.startswith(prefix):
        return None
    name = qualname.removeprefix(prefix).replace(LOCALS, ".")
    if "<" in name:  # a lambda or a comprehension's function: no stable name
        return None
    key = capture.key_of(name, function)
    return f"{function.__module__}:{capture.dag_qualname}.local_tasks.{key}"


class LocalTasks:
    """``dag_function.local_tasks``: attribute access walks the collected qualnames."""

    def __init__(self, functions: dict[str, Callable[..., Any]], prefix: str = "") -> None:
        self._functions = functions
        self._prefix = prefix

    def __getattr__(self, name: str) -> Any:
        key = self._prefix + name
        if key in self._functions:
            return selecting(self._functions[key])
        if any(k.startswith(key + ".") for k in self._functions):
            return LocalTasks(self._functions, key + ".")
        raise AttributeError(f"no task function {key!r} in the DAG function's body")
