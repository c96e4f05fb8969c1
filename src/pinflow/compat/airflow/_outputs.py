"""A TaskFlow task's output, and ``output["key"]`` for tasks with ``multiple_outputs``.

In Airflow, ``multiple_outputs=True`` (or a ``dict`` return annotation) pushes each key of
the returned dict as its own XCom, and ``output["key"]`` pulls one. Pinflow keeps the dict
as the task's one output; a downstream argument bound to ``output["key"]`` is bound to the
whole output, and the reserved argument ``SELECT`` tells the task's wrapper (``selecting``)
which key to pass on, so the task function receives what it would in Airflow.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any

from pinflow.compat.airflow._edges import AirflowHandle
from pinflow.compat.airflow._options import UnsupportedArgument
from pinflow.sdk.graph import DagBuilder

SELECT = "__airflow_output_keys__"


class TaskOutput(AirflowHandle):
    """What calling a TaskFlow task returns in a DAG body."""

    def __init__(self, builder: DagBuilder, task_id: str, *, multiple_outputs: bool) -> None:
        super().__init__(builder, task_id)
        self.multiple_outputs = multiple_outputs

    def __getitem__(self, key: str) -> AirflowHandle:
        if not isinstance(key, str):  # Airflow's message
            raise ValueError(f"XComArg only supports str lookup, received {type(key).__name__}")
        if not self.multiple_outputs:  # the XCom pushed under ``key`` (Airflow's meaning)
            return super().__getitem__(key)
        return KeyedOutput(self.builder, self.task_id, key)


class KeyedOutput(AirflowHandle):
    """``output["key"]``: one key of a ``multiple_outputs`` task's dict."""

    def __init__(self, builder: DagBuilder, task_id: str, output_key: str) -> None:
        super().__init__(builder, task_id)
        self.output_key = output_key

    @property
    def key(self) -> str:
        # Read when the SDK binds this handle itself (partial(), expand()), which would bind
        # the whole dict: only a plain task argument passes one key on.
        raise UnsupportedArgument(
            f"output of task {self.task_id!r}[{self.output_key!r}] can be a task argument, "
            "not a partial()/expand() argument, yet; pass the whole output"
        )

    @key.setter
    def key(self, value: str) -> None:
        """XComArg's ``__init__`` sets the XCom key; this handle's is always the output's."""

    @property
    def whole(self) -> AirflowHandle:
        """The output this key is read from."""
        return AirflowHandle(self.builder, self.task_id)

    def __repr__(self) -> str:
        return f"{super().__repr__()}[{self.output_key!r}]"


def returns_dict(function: Callable[..., Any]) -> bool:
    """Whether the return annotation is a dict (Airflow then infers ``multiple_outputs``)."""
    annotation = inspect.signature(function).return_annotation
    if isinstance(annotation, str):
        return annotation.replace("typing.", "").startswith(("dict", "Dict"))
    return annotation is dict or typing.get_origin(annotation) is dict


def selected_keys(
    owner: str, signature: inspect.Signature, args: tuple[Any, ...], kwargs: Mapping[str, Any]
) -> tuple[dict[str, str], tuple[Any, ...], dict[str, Any]]:
    """The parameters bound to ``output["key"]`` with their keys, and the arguments with
    each such handle replaced by the whole output (what the SDK binds)."""
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError:
        return {}, args, dict(kwargs)  # bind_call reports the mistake with its own message
    keys = {}
    for name, value in bound.arguments.items():
        if isinstance(value, KeyedOutput):
            keys[name] = value.output_key
            bound.arguments[name] = value.whole
        elif _holds_keyed(value):
            raise TypeError(f"{owner}: pass output['key'] as an argument of its own")
    return keys, bound.args, bound.kwargs


def _holds_keyed(value: object) -> bool:
    items: list[object]
    if isinstance(value, Mapping):
        items = list(value.values())
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        return False
    return any(isinstance(item, KeyedOutput) for item in items)


def selecting(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function``, with arguments named in ``SELECT`` replaced by that key of their value."""

    @functools.wraps(function)  # the task process reads the signature for context values
    def call(*args: Any, **kwargs: Any) -> Any:
        keys: dict[str, str] = kwargs.pop(SELECT, None) or {}
        for name, key in keys.items():
            value = kwargs.get(name)
            if not isinstance(value, Mapping) or key not in value:
                raise KeyError(
                    f"argument {name!r} reads key {key!r} of an upstream output "
                    f"(multiple_outputs), which has no such key: {type(value).__name__}"
                )
            kwargs[name] = value[key]
        return function(*args, **kwargs)

    return call
