"""``BaseOperator`` subclasses with ``execute(self, context)``: Airflow's custom operators.

The compiler sees the operator created in the DAG body; the task is a Python task whose
callable is the class's ``pinflow_execute`` (``module:Class.pinflow_execute``, so it is in
the bundle with the DAG file), with the keyword arguments the operator was created with in
``args`` (arguments that are other tasks' outputs go to ``inputs``, so they arrive
resolved). The task process creates the operator again from
them (nothing is added to a DAG then) and calls ``execute`` with the context values Pinflow
has; the return value is the task's XCom, as in Airflow. Templated fields are not rendered
(Jinja is not supported yet).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from pinflow.compat.airflow._options import UnsupportedArgument
from pinflow.sdk.arguments import BoundCall, bind_expand_kwargs, mapped_arguments, to_json_value
from pinflow.sdk.graph import DagBuilder, XComArg
from pinflow.spec.models import XComRef

KWARGS = "__airflow_operator_kwargs__"
_INPUT = "__airflow_input__"  # prefix of an argument that is an upstream's output

_replaying: ContextVar[bool] = ContextVar("pinflow_airflow_replaying", default=False)
_mapped: ContextVar[tuple[str, ...]] = ContextVar("pinflow_airflow_mapped", default=())
_NO_KWARGS = object()
_kwargs: ContextVar[object] = ContextVar("pinflow_airflow_expand_kwargs", default=_NO_KWARGS)


@contextmanager
def mapping_over(names: Mapping[str, Any]) -> Iterator[None]:
    """While a ``.partial().expand()`` creates its operator: the arguments mapped over."""
    token = _mapped.set(tuple(names))
    try:
        yield
    finally:
        _mapped.reset(token)


@contextmanager
def mapping_kwargs(kwargs: object) -> Iterator[None]:
    """While a ``.partial().expand_kwargs()`` creates its operator: what it maps over."""
    token = _kwargs.set(kwargs)
    try:
        yield
    finally:
        _kwargs.reset(token)


def is_mapping() -> bool:
    """Whether an operator being created is a ``.partial()`` mapped one."""
    return bool(_mapped.get()) or _kwargs.get() is not _NO_KWARGS


def operator_call(
    owner: str, builder: DagBuilder, given: Mapping[str, Any], *, prefix: str = ""
) -> BoundCall:
    """An operator's arguments as spec fields: literals, upstream outputs, and (when it is
    created by ``.partial().expand()``/``.expand_kwargs()``) what it is mapped over.
    ``prefix`` goes before the name of an argument that is not a literal (a custom
    operator's, see ``run_operator``)."""
    mapped = _mapped.get()
    literals: dict[str, Any] = {}
    inputs: dict[str, XComRef] = {}
    for name, value in given.items():
        if name in mapped:
            continue
        if isinstance(value, XComArg):
            inputs[prefix + name] = builder.ref(value)
        else:
            literals[name] = to_json_value(owner, name, value)
    partial = BoundCall(args={KWARGS: literals}, inputs=inputs)
    kwargs = _kwargs.get()
    if kwargs is not _NO_KWARGS:
        return bind_expand_kwargs(owner, None, builder, partial, kwargs)
    if not mapped:
        return partial
    expand, values = mapped_arguments(owner, builder, {n: given[n] for n in mapped})
    names = [prefix + name for name in mapped]
    return BoundCall(
        args=partial.args,
        inputs=inputs,
        expand={prefix + k: v for k, v in expand.items()},
        expand_literals={prefix + k: v for k, v in values.items()},
        expand_order=names if names != sorted(names) else [],
    )


def replaying() -> bool:
    """Whether an operator is being created again in a task process (add nothing to a DAG)."""
    return _replaying.get()


@contextmanager
def _replay() -> Iterator[None]:
    token = _replaying.set(True)
    try:
        yield
    finally:
        _replaying.reset(token)


def custom_fields(
    owner: str, cls: type, kwargs: Mapping[str, Any], builder: DagBuilder
) -> dict[str, Any]:
    """The spec fields of a custom operator created with ``kwargs``."""
    qualname = cls.__qualname__
    if "<locals>" in qualname:
        raise UnsupportedArgument(
            f"{owner}: the operator class {qualname!r} is defined inside a function; define "
            "it at module level (in the DAG file or a module of the bundle) so that workers "
            "can import it"
        )
    given = {name: value for name, value in kwargs.items() if name != "dag"}
    call = operator_call(owner, builder, given, prefix=_INPUT)
    return {
        "kind": "python",
        "callable": f"{cls.__module__}:{qualname}.pinflow_execute",
        "args": call.args,
        "inputs": call.inputs,
        "expand": call.expand,
        **call.mapping_fields(),
    }


def run_operator(
    cls: Callable[..., Any], context: Mapping[str, Any], arguments: Mapping[str, Any]
) -> Any:
    """Create the operator again from the task's ``arguments`` and ``execute`` it."""
    kwargs: dict[str, Any] = dict(arguments.get(KWARGS) or {})
    kwargs.update({k.removeprefix(_INPUT): v for k, v in arguments.items() if k != KWARGS})
    with _replay():
        operator = cls(**kwargs)
    return operator.execute({**context, "params": context.get("params") or {}})


def replay_operator(cls: Callable[..., Any], arguments: Mapping[str, Any]) -> Any:
    """The operator created again from the task's ``arguments`` (its literal keyword arguments
    and its upstreams' outputs); other arguments (context values) are not its own."""
    kwargs: dict[str, Any] = dict(arguments.get(KWARGS) or {})
    kwargs.update({k.removeprefix(_INPUT): v for k, v in arguments.items() if k.startswith(_INPUT)})
    with _replay():
        return cls(**kwargs)
