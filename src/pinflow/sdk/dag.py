"""``@dag``: a function whose body, when the function is called, builds one DAG spec.

Registration rule (Airflow's): a DAG exists for the compiler when its ``@dag`` function is
*called* while the DAG file is imported, typically ``etl_dag = etl()`` at module level. Every
call builds and registers a DAG, so a loop of calls on differently configured functions is a
DAG factory. Decorating alone registers nothing; the compiler reports a decorated function that
is never called, since that is almost always a forgotten call.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Generic, ParamSpec, Unpack, cast, overload

from pinflow.sdk.dag_options import DagOptions, dag_template
from pinflow.sdk.graph import DagBuilder, building
from pinflow.sdk.options import type_name
from pinflow.spec.models import DagSpec

P = ParamSpec("P")


@dataclass(frozen=True)
class Dag:
    """A built DAG: its spec, and where its ``@dag`` function is defined."""

    spec: DagSpec
    filename: str
    line: int

    @property
    def dag_id(self) -> str:
        return self.spec.dag_id


@dataclass
class Collector:
    """The DAGs built while the compiler imports DAG files (see ``collecting``)."""

    strict: bool = True
    dags: list[Dag] = field(default_factory=list)
    called: set[int] = field(default_factory=set)

    def was_called(self, function: DagFunction[Any]) -> bool:
        return id(function) in self.called


_collector: ContextVar[Collector | None] = ContextVar("pinflow_dag_collector", default=None)
_deferred: ContextVar[bool] = ContextVar("pinflow_dag_deferred", default=False)


@contextmanager
def deferred() -> Iterator[None]:
    """Inside the block, calling a ``@dag`` function returns a ``LazyDag``, built only if
    something reads it.

    A task process imports its DAG file to find one function: building the whole DAG there
    (every task's options validated, the graph checked) is work no task needs, paid again by
    every task process, and the memory it writes is copied from the warm interpreter page by
    page. The compiler never defers: it is where a DAG is built and checked.
    """
    token = _deferred.set(True)
    try:
        yield
    finally:
        _deferred.reset(token)


class LazyDag:
    """What a ``@dag`` call returns while building is ``deferred``: the ``Dag``, built (with
    the same arguments) on first use of any of its attributes."""

    def __init__(self, function: DagFunction[Any], args: tuple[Any, ...], kwargs: dict[str, Any]):
        self._call = (function, args, kwargs)
        self._built: Dag | None = None

    def __getattr__(self, name: str) -> Any:
        if self._built is None:
            function, args, kwargs = self._call
            self._built = function.build(*args, **kwargs)
        return getattr(self._built, name)

    def __repr__(self) -> str:
        return f"<LazyDag {self._call[0].dag_id!r}>"


@contextmanager
def collecting(*, strict: bool = True) -> Iterator[Collector]:
    """Register every DAG built inside the block (the compiler wraps its imports in this)."""
    collector = Collector(strict=strict)
    token = _collector.set(collector)
    try:
        yield collector
    finally:
        _collector.reset(token)


class DagFunction(Generic[P]):
    """A function decorated with ``@dag``; calling it builds (and, while compiling, registers)
    a ``Dag``. Its arguments are passed to the body as they are (a factory's settings)."""

    def __init__(self, function: Callable[P, object], template: DagSpec) -> None:
        self.function = function
        self.template = template

    @property
    def dag_id(self) -> str:
        return self.template.dag_id

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Dag:
        if _deferred.get() and _collector.get() is None:
            return cast(Dag, LazyDag(self, args, kwargs))
        return self.build(*args, **kwargs)

    def build(self, *args: P.args, **kwargs: P.kwargs) -> Dag:
        """Build the DAG (and, while compiling, register it)."""
        collector = _collector.get()
        builder = DagBuilder(self.dag_id, strict=collector is not None and collector.strict)
        with building(builder):
            self.function(*args, **kwargs)
        spec = self.template.model_copy(update={"tasks": builder.finish()})
        code = self.function.__code__
        built = Dag(spec=spec, filename=code.co_filename, line=code.co_firstlineno)
        if collector is not None:
            collector.dags.append(built)
            collector.called.add(id(self))
        return built

    def __repr__(self) -> str:
        return f"<DagFunction {self.dag_id!r}>"


@overload
def dag(dag_id: Callable[P, object], /) -> DagFunction[P]: ...


@overload
def dag(
    dag_id: str | None = None, /, **options: Unpack[DagOptions]
) -> Callable[[Callable[P, object]], DagFunction[P]]: ...


def dag(dag_id: object = None, /, **options: Any) -> Any:
    """``@dag``, ``@dag("etl", schedule="@daily", ...)`` or ``@dag(dag_id="etl", ...)``."""
    if dag_id is not None and not isinstance(dag_id, str):
        return _make_dag(dag_id, options)
    if dag_id is not None:
        if "dag_id" in options:
            raise TypeError("@dag: dag_id is given twice (positionally and as a keyword)")
        options = {**options, "dag_id": dag_id}
    return lambda function: _make_dag(function, options)


def _make_dag(function: object, options: dict[str, Any]) -> DagFunction[Any]:
    if isinstance(function, DagFunction):
        raise TypeError(f"@dag is applied twice to {function.function.__qualname__!r}")
    if not inspect.isfunction(function):
        raise TypeError(f"@dag decorates a function, got {type_name(function)} {function!r}")
    template = dag_template(function, options)
    return DagFunction(cast(Callable[..., object], function), template)
