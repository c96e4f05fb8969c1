"""Turning a task call's arguments into spec data: literals -> ``args``, handles -> ``inputs``.

The worker calls a task function with keyword arguments only: the literal ``args`` and the
upstream values named by ``inputs``/``expand``. So arguments must be plain JSON data (they are
stored in the immutable spec), and ``*args`` parameters cannot be bound.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pinflow.sdk.graph import DagBuilder, XComArg
from pinflow.sdk.options import type_name
from pinflow.spec.models import XComRef

# Parameters a worker fills from the run's context when a call leaves them unbound, as
# Airflow's TaskFlow injects ``params``, ``ds``...; the runtime uses the same names.
CONTEXT_PARAMETERS = (
    "params",
    "conf",
    "dag_id",
    "run_id",
    "task_id",
    "map_index",
    "try_number",
    "logical_date",
    "ds",
    "data_interval_start",
    "data_interval_end",
    "staging_dir",
    "idempotency_key",
)

_JSON_HINT = "pass plain JSON data (str, int, float, bool, None, list, dict) or a task's output"


@dataclass(frozen=True)
class BoundCall:
    """One task call as spec fields."""

    args: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, XComRef] = field(default_factory=dict)
    expand: dict[str, XComRef] = field(default_factory=dict)
    expand_literals: dict[str, list[Any]] = field(default_factory=dict)
    expand_kwargs: XComRef | list[Any] | None = None
    expand_order: list[str] = field(default_factory=list)

    def mapping_fields(self) -> dict[str, Any]:
        """The spec fields of its mapping beyond ``expand``, only those it uses (so that the
        spec of a task that does not use them stays what it was)."""
        fields: dict[str, Any] = {}
        if self.expand_literals:
            fields["expand_literals"] = self.expand_literals
        if self.expand_kwargs is not None:
            fields["expand_kwargs"] = self.expand_kwargs
        if self.expand_order:
            fields["expand_order"] = self.expand_order
        return fields


def to_json_value(owner: str, path: str, value: object) -> Any:
    """``value`` as plain JSON data; tuples become lists. Raises ``TypeError`` naming ``path``."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise TypeError(f"{owner}: {path!r} is {value!r}, which JSON cannot hold")
        return float(value)
    if isinstance(value, list | tuple):
        return [to_json_value(owner, f"{path}[{i}]", item) for i, item in enumerate(value)]
    if isinstance(value, Mapping):
        return _json_object(owner, path, value)
    if isinstance(value, XComArg):
        raise TypeError(
            f"{owner}: {path!r} holds a task's output inside a list or dict; "
            "pass it as its own argument"
        )
    raise TypeError(
        f"{owner}: {path!r} is not JSON-serializable ({type_name(value)}); {_JSON_HINT}"
    )


def _json_object(owner: str, path: str, value: Mapping[Any, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise TypeError(
                f"{owner}: {path!r} has a {type_name(key)} key {key!r}; JSON keys are str"
            )
        result[key] = to_json_value(owner, f"{path}[{key!r}]", item)
    return result


def binding_signature(
    function: Callable[..., Any], context_names: Collection[str] = CONTEXT_PARAMETERS
) -> inspect.Signature:
    """The function's signature with context parameters (``context_names``) optional (the
    worker fills them).

    They become keyword-only so that ``def load(params, data)`` still binds ``load(x)`` to
    ``data``: a context value is never passed positionally.
    """
    signature = inspect.signature(function)
    plain, context, var_keyword = [], [], []
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            var_keyword.append(parameter)
        elif parameter.name in context_names and parameter.kind is not _POSITIONAL_ONLY:
            default = None if parameter.default is parameter.empty else parameter.default
            context.append(parameter.replace(kind=_KEYWORD_ONLY_KIND, default=default))
        else:
            plain.append(parameter)
    return signature.replace(parameters=[*plain, *context, *var_keyword])


def bind_call(
    owner: str,
    signature: inspect.Signature,
    builder: DagBuilder,
    args: tuple[Any, ...],
    kwargs: Mapping[str, Any],
    *,
    partial: bool = False,
) -> BoundCall:
    """Bind a call against the function's signature (so mistakes fail now, not on a worker)."""
    try:
        bind = signature.bind_partial if partial else signature.bind
        bound = bind(*args, **kwargs)
    except TypeError as exc:
        raise TypeError(f"{owner}: {exc}") from None
    literals: dict[str, Any] = {}
    inputs: dict[str, XComRef] = {}
    for name, value in _keyword_arguments(owner, signature, bound):
        if isinstance(value, XComArg):
            inputs[name] = builder.ref(value)
        else:
            literals[name] = to_json_value(owner, name, value)
    return BoundCall(args=literals, inputs=inputs)


def bind_expand(
    owner: str,
    signature: inspect.Signature,
    builder: DagBuilder,
    partial: BoundCall,
    expand: Mapping[str, Any],
) -> BoundCall:
    """``.partial(...).expand(...)``: each mapped argument is an upstream's output, a literal
    list, or a literal dict (mapped over its ``[key, value]`` pairs, as Airflow does)."""
    if not expand:
        raise TypeError(f"{owner}: expand() needs at least one argument to map over")
    mapped, literals = mapped_arguments(owner, builder, expand)
    for name in expand:
        if name in partial.args or name in partial.inputs:
            raise TypeError(f"{owner}: {name!r} is given to both partial() and expand()")
    try:
        signature.bind(**partial.args, **partial.inputs, **mapped, **literals)
    except TypeError as exc:
        raise TypeError(f"{owner}: {exc}") from None
    names = list(expand)
    order = names if names != sorted(names) else []  # sorted: the order without the field
    return BoundCall(
        args=partial.args,
        inputs=partial.inputs,
        expand=mapped,
        expand_literals=literals,
        expand_order=order,
    )


def mapped_arguments(
    owner: str, builder: DagBuilder, expand: Mapping[str, Any]
) -> tuple[dict[str, XComRef], dict[str, list[Any]]]:
    """``expand(...)``'s arguments: upstream outputs, and literal lists (a dict given as its
    ``[key, value]`` pairs, in its order: the canonical JSON would sort its keys)."""
    mapped: dict[str, XComRef] = {}
    literals: dict[str, list[Any]] = {}
    for name, value in expand.items():
        if isinstance(value, XComArg):
            mapped[name] = builder.ref(value)
        elif isinstance(value, Mapping):
            pairs = [[key, item] for key, item in value.items()]
            literals[name] = to_json_value(owner, name, pairs)
        elif isinstance(value, list | tuple):
            literals[name] = to_json_value(owner, name, value)
        else:
            raise TypeError(
                f"{owner}: expand({name}=...) must be a list, a dict or a task's output, "
                f"got {type_name(value)}"
            )
    return mapped, literals


def bind_expand_kwargs(
    owner: str,
    signature: inspect.Signature | None,
    builder: DagBuilder,
    partial: BoundCall,
    kwargs: object,
) -> BoundCall:
    """``.partial(...).expand_kwargs(...)``: one element per dict of a literal list (checked
    now, as Airflow does) or of an upstream's list (checked by each element when it runs)."""
    if isinstance(kwargs, XComArg):
        return BoundCall(
            args=partial.args, inputs=partial.inputs, expand_kwargs=builder.ref(kwargs)
        )
    if not isinstance(kwargs, list | tuple):
        raise TypeError(
            f"{owner}: expand_kwargs() expected XComArg or list[dict], not {type_name(kwargs)}"
        )
    elements: list[Any] = []
    for i, item in enumerate(kwargs):
        if not isinstance(item, Mapping):
            raise TypeError(
                f"{owner}: expand_kwargs() expected XComArg or list[dict], not "
                f"list[{type_name(item)}]"
            )
        for name in item:
            if name in partial.args or name in partial.inputs:
                raise TypeError(f"{owner}: {name!r} is given to both partial() and expand_kwargs()")
        if signature is not None:
            try:
                signature.bind(**partial.args, **partial.inputs, **item)
            except TypeError as exc:
                raise TypeError(f"{owner}: expand_kwargs() element {i}: {exc}") from None
        elements.append(to_json_value(owner, f"expand_kwargs[{i}]", item))
    return BoundCall(args=partial.args, inputs=partial.inputs, expand_kwargs=elements)


def _keyword_arguments(
    owner: str, signature: inspect.Signature, bound: inspect.BoundArguments
) -> Iterator[tuple[str, Any]]:
    for name, value in bound.arguments.items():
        kind = signature.parameters[name].kind
        if kind is inspect.Parameter.VAR_KEYWORD:
            yield from value.items()
        elif kind is inspect.Parameter.VAR_POSITIONAL:
            if value:
                raise TypeError(f"{owner}: *{name} cannot be bound; {_KEYWORD_ONLY}")
        elif kind is inspect.Parameter.POSITIONAL_ONLY:
            raise TypeError(f"{owner}: positional-only {name!r} cannot be bound; {_KEYWORD_ONLY}")
        else:
            yield name, value


_KEYWORD_ONLY = "workers call task functions with keyword arguments only"
_KEYWORD_ONLY_KIND = inspect.Parameter.KEYWORD_ONLY
_POSITIONAL_ONLY = inspect.Parameter.POSITIONAL_ONLY
