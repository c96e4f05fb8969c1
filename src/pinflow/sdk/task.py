"""Task functions: what ``@task`` and ``@task.bash`` turn a function into.

Inside a DAG body a call adds a node and returns an ``XComArg``; anywhere else it is the plain
function, so ``extract()`` in a unit test just runs it. For type checkers the call keeps the
function's signature and return type (``Task[P, R]``), as Temporal's activities do; in typed
code, order tasks with ``chain()`` rather than ``>>``, which plain return types do not have.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from typing import Any, Generic, NoReturn, ParamSpec, Self, TypeVar, Unpack, cast

from pinflow.sdk.arguments import (
    BoundCall,
    bind_call,
    bind_expand,
    bind_expand_kwargs,
    binding_signature,
)
from pinflow.sdk.graph import DagBuilder, XComArg, current_builder
from pinflow.sdk.options import TaskOptions, check_task_options, node_options, type_name

P = ParamSpec("P")
R = TypeVar("R")
R_co = TypeVar("R_co", covariant=True)


class Task(Generic[P, R]):
    """A Python task: the worker imports ``callable_ref`` from the bundle and calls it."""

    label = "@task"
    __name__: str  # copied from the function by functools.update_wrapper, like __doc__

    def __init__(self, function: Callable[P, R], options: Mapping[str, Any]) -> None:
        self.function = function
        self.options: Mapping[str, Any] = dict(options)
        self._signature = binding_signature(function)
        functools.update_wrapper(self, function)

    @property
    def task_id(self) -> str:
        """The id of the first call in a DAG; later calls get ``__1``, ``__2``... appended."""
        return str(self.options.get("task_id", self.function.__name__))

    @property
    def callable_ref(self) -> str:
        return f"{self.function.__module__}:{self.function.__qualname__}"

    @property
    def owner(self) -> str:
        return f"{self.label} {self.function.__qualname__!r}"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        builder = current_builder()
        if builder is None:
            return self.function(*args, **kwargs)
        return cast(R, self._build(builder, args, kwargs))

    def override(self, **options: Unpack[TaskOptions]) -> Self:
        """The same function with other options, e.g. another ``task_id``."""
        checked = check_task_options(self.owner, cast(Mapping[str, object], options))
        return type(self)(self.function, {**self.options, **checked})

    def partial(self, **kwargs: Any) -> PartialTask[R]:
        """Fix the arguments every mapped copy gets; ``.expand(...)`` then maps over the rest."""
        builder = self._require_builder("partial")
        call = bind_call(self.owner, self._signature, builder, (), kwargs, partial=True)
        return PartialTask(self, builder, call)

    def expand(self, **kwargs: Any) -> list[R]:
        """One copy of the task per item of a list: an upstream task's output or a literal
        (dynamic mapping); several arguments map over their cross product."""
        return self.partial().expand(**kwargs)

    def expand_kwargs(self, kwargs: object) -> list[R]:
        """One copy of the task per dict of a list (literal, or an upstream's output): the
        dict holds that copy's arguments (Airflow's ``expand_kwargs``)."""
        return self.partial().expand_kwargs(kwargs)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.callable_ref}>"

    def _build(
        self, builder: DagBuilder, args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> XComArg:
        return self._add(builder, bind_call(self.owner, self._signature, builder, args, kwargs))

    def _add(self, builder: DagBuilder, call: BoundCall) -> XComArg:
        if builder.strict and "<locals>" in self.function.__qualname__:
            raise ValueError(
                f"{self.owner} is defined inside a function; define task functions at module "
                "level so that workers can import them from the bundle"
            )
        fields = {
            **self._node_options(),
            "kind": "python",
            "callable": self.callable_ref,
            "args": call.args,
            "inputs": call.inputs,
            "expand": call.expand,
            **call.mapping_fields(),
        }
        return builder.add_task(builder.unique_task_id(self.task_id), fields)

    def _node_options(self) -> dict[str, Any]:
        options = node_options(self.options)
        options.setdefault("doc", inspect.getdoc(self.function))
        return options

    def _require_builder(self, method: str) -> DagBuilder:
        builder = current_builder()
        if builder is None:
            raise RuntimeError(f"{self.owner}: .{method}() is only meaningful inside a @dag body")
        return builder


class PartialTask(Generic[R_co]):
    """``task.partial(...)``: waits for ``.expand(...)`` to say what to map over."""

    def __init__(self, task: Task[Any, R_co], builder: DagBuilder, call: BoundCall) -> None:
        self._task = task
        self._builder = builder
        self._call = call

    def expand(self, **kwargs: Any) -> list[R_co]:
        if current_builder() is not self._builder:
            raise RuntimeError(f"{self._task.owner}: .expand() must follow .partial() in one DAG")
        owner, signature = self._task.owner, self._task._signature
        call = bind_expand(owner, signature, self._builder, self._call, kwargs)
        return cast(list[R_co], self._task._add(self._builder, call))

    def expand_kwargs(self, kwargs: object) -> list[R_co]:
        if current_builder() is not self._builder:
            raise RuntimeError(
                f"{self._task.owner}: .expand_kwargs() must follow .partial() in one DAG"
            )
        owner, signature = self._task.owner, self._task._signature
        call = bind_expand_kwargs(owner, signature, self._builder, self._call, kwargs)
        return cast(list[R_co], self._task._add(self._builder, call))


class BashTask(Task[P, str]):
    """``@task.bash``: the function returns the command, and is called when the DAG compiles.

    The control plane never runs user code, so the command must be known at compile time:
    literal arguments are fine, another task's output is not (use ``{{ ... }}`` templating
    or environment variables in the command instead).
    """

    label = "@task.bash"

    def partial(self, **kwargs: Any) -> NoReturn:
        raise TypeError(f"{self.owner}: bash tasks cannot be mapped with partial()/expand()")

    def _build(
        self, builder: DagBuilder, args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> XComArg:
        try:
            self._signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{self.owner}: {exc}") from None
        for name, value in [*enumerate(args), *kwargs.items()]:
            if isinstance(value, XComArg):
                raise TypeError(
                    f"{self.owner}: argument {name!r} is the output of task {value.task_id!r}, "
                    "but a bash command is built when the DAG is compiled, before any task runs"
                )
        command = self.function(*args, **kwargs)
        if not isinstance(command, str) or not command.strip():
            raise TypeError(
                f"{self.owner} must return the bash command as a non-empty str, got {command!r}"
            )
        fields = {**self._node_options(), "kind": "bash", "bash_command": command}
        return builder.add_task(builder.unique_task_id(self.task_id), fields)


def make_task(cls: type[Task[P, R]], function: object, options: Mapping[str, object]) -> Task[P, R]:
    """Apply a task decorator, checking what it decorates and its options (naming both)."""
    label = cls.label
    if isinstance(function, Task):
        raise TypeError(f"{label} is applied twice to {function.function.__qualname__!r}")
    if not inspect.isfunction(function):
        raise TypeError(
            f"{label} decorates a function, got {type_name(function)} {function!r}; "
            f"options are keywords: {label}(task_id=...)"
        )
    owner = f"{label} {function.__qualname__!r}"
    if inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function):
        raise TypeError(f"{owner}: async functions are not supported as tasks yet")
    return cls(cast(Callable[P, R], function), check_task_options(owner, options))
