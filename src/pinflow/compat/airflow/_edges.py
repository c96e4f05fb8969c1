"""``Label``, ``chain`` and ``cross_downstream`` (Airflow's graph helpers).

Pinflow's specs have no edge labels: a ``Label`` sets the dependency it stands on and its
text is dropped (the migration guide says so).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any, Self

from pinflow.compat.airflow._groups import connect
from pinflow.compat.airflow._options import UnsupportedArgument
from pinflow.compat.airflow._setup_teardown import SetupTeardownScope, mark_setup, mark_teardown
from pinflow.sdk.graph import XComArg


class AirflowHandle(XComArg):
    """A task's handle in an Airflow DAG file: ``>>`` and ``<<`` also take labels and task
    groups (which Pinflow's ``XComArg`` does not know) on their right; ``as_setup()``,
    ``as_teardown()`` and ``with teardown:`` make setup and teardown tasks."""

    def as_setup(self) -> Self:
        mark_setup(self)
        return self

    def as_teardown(
        self, *, setups: object = None, on_failure_fail_dagrun: bool | None = None
    ) -> Self:
        mark_teardown(self, setups, on_failure_fail_dagrun)
        return self

    def __enter__(self) -> Self:
        scopes = self.__dict__.setdefault("_scopes", [])
        scopes.append(SetupTeardownScope(self))
        return self

    def __exit__(self, *exc: object) -> None:
        scope: SetupTeardownScope = self.__dict__["_scopes"].pop()
        if exc[0] is None:
            scope.close()

    def __rshift__(self, other: Any) -> Any:
        if isinstance(other, Label):
            return other.__rrshift__(self)
        for downstream in _as_list(other):
            connect(self, downstream)
        return other

    def __lshift__(self, other: Any) -> Any:
        if isinstance(other, Label):
            return other.__rlshift__(self)
        for upstream in _as_list(other):
            connect(upstream, self)
        return other

    def __getitem__(self, key: str) -> AirflowHandle:
        """``output["key"]``: the XCom the task pushed under ``key`` (``ti.xcom_push``), as
        Airflow's ``XComArg.__getitem__``; only str keys, with Airflow's message."""
        if not isinstance(key, str):
            raise ValueError(f"XComArg only supports str lookup, received {type(key).__name__}")
        return AirflowHandle(self.builder, self.task_id, key)

    def map(self, function: object) -> Any:
        raise UnsupportedArgument(
            f"output of task {self.task_id!r}.map(...) is not supported yet; transform the "
            "list in a @task and expand over that task's output instead"
        )

    def zip(self, *others: object, fillvalue: object = None) -> Any:
        raise UnsupportedArgument(
            f"output of task {self.task_id!r}.zip(...) is not supported yet; zip the lists in "
            "a @task returning a list of dicts and use expand_kwargs() over its output"
        )

    def concat(self, *others: object) -> Any:
        raise UnsupportedArgument(
            f"output of task {self.task_id!r}.concat(...) is not supported yet; concatenate "
            "the lists in a @task and expand over its output"
        )


class _Edge:
    """``a >> Label("x")``: waits for the other end of the edge."""

    def __init__(self, ends: Any, *, upstream: bool) -> None:
        self._ends = ends
        self._upstream = upstream

    def __rshift__(self, other: Any) -> Any:
        if not self._upstream:
            raise TypeError("an edge label sits between two tasks: a >> Label('x') >> b")
        self._ends >> other
        return other

    def __lshift__(self, other: Any) -> Any:
        if self._upstream:
            raise TypeError("an edge label sits between two tasks: b << Label('x') << a")
        self._ends << other
        return other


class Label(XComArg):
    """An edge label; a subclass of ``XComArg`` so that ``task_output >> Label(...)`` asks
    the label first (Python tries a right operand's reflected method first when its type is
    a subclass of the left operand's)."""

    def __init__(self, label: str) -> None:  # no task behind it: XComArg's fields stay unset
        self.label = label

    def __rrshift__(self, other: Any) -> Any:
        return _Edge(other, upstream=True)

    def __rlshift__(self, other: Any) -> Any:
        return _Edge(other, upstream=False)

    def __rshift__(self, other: Any) -> Any:
        raise TypeError("an edge label sits between two tasks: a >> Label('x') >> b")

    def __lshift__(self, other: Any) -> Any:
        raise TypeError("an edge label sits between two tasks: b << Label('x') << a")

    def __repr__(self) -> str:
        return f"Label({self.label!r})"


def chain(*tasks: object) -> None:
    """Airflow's ``chain``: each item after the one before; a list next to a single item fans
    out or in, two adjacent lists of the same length pair up. Labels between items are
    dropped; items may be task groups."""
    items = [t for t in tasks if not isinstance(t, Label)]
    for left, right in pairwise(items):
        lefts, rights = _as_list(left), _as_list(right)
        if isinstance(left, list | tuple) and isinstance(right, list | tuple):
            if len(lefts) != len(rights):
                raise ValueError(
                    "chain: adjacent lists must have the same length, "
                    f"got {len(lefts)} and {len(rights)}"
                )
            for up, down in zip(lefts, rights, strict=True):
                connect(up, down)
            continue
        for up in lefts:
            for down in rights:
                connect(up, down)


def _as_list(value: object) -> list[object]:
    return list(value) if isinstance(value, list | tuple) else [value]


def cross_downstream(from_tasks: Sequence[object], to_tasks: Sequence[object]) -> None:
    """Every task of ``from_tasks`` upstream of every task of ``to_tasks``."""
    for upstream in from_tasks:
        for downstream in to_tasks:
            connect(upstream, downstream)
