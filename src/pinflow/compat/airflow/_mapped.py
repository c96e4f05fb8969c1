"""``BashOperator`` and ``PythonOperator`` mapped with ``.partial().expand()`` /
``.expand_kwargs()`` (ADR 0039).

A mapped classic operator's fields differ per element (``bash_command``, ``env``,
``op_args``, ``op_kwargs``), so they cannot be fixed in the spec as an unmapped operator's
are. The task is a Python task calling one of the functions below (in Pinflow, so every
worker can import it) with the partial arguments (``KWARGS``, kept out of the runner's own
rendering) and the element's; the function renders the templated fields with the element's
context (``{{ ti.map_index }}``), reports them, and does what the operator does.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from typing import Any

from pinflow.compat.airflow._custom import KWARGS, operator_call
from pinflow.compat.airflow._options import EXTRAS, UnsupportedArgument
from pinflow.compat.airflow._templating import environment, render, report_rendered
from pinflow.runtime.operators import run_bash
from pinflow.sdk.graph import DagBuilder
from pinflow.sdk.loader import resolve_callable

_HERE = "pinflow.compat.airflow._mapped"
_BASH_FIELDS = frozenset({"bash_command", "env", "append_env", "cwd"})
_PYTHON_FIELDS = frozenset({"op_args", "op_kwargs"})
CALLABLE = "python_callable"


def mapped_bash_fields(owner: str, builder: DagBuilder, given: Mapping[str, Any]) -> dict[str, Any]:
    """The spec fields of a mapped ``BashOperator`` (its fields as given, some mapped)."""
    call = operator_call(owner, builder, given)
    _check_names(owner, call.expand_kwargs, _BASH_FIELDS)
    return _python_task("bash_operator", call)


def mapped_python_fields(
    owner: str, builder: DagBuilder, callable_ref: str, given: Mapping[str, Any]
) -> dict[str, Any]:
    """The spec fields of a mapped ``PythonOperator`` calling ``callable_ref``."""
    call = operator_call(owner, builder, given)
    _check_names(owner, call.expand_kwargs, _PYTHON_FIELDS)
    call.args[KWARGS][CALLABLE] = callable_ref
    return _python_task("python_operator", call)


def _check_names(owner: str, kwargs: object, allowed: frozenset[str]) -> None:
    for element in kwargs if isinstance(kwargs, list) else ():
        unknown = sorted(set(element) - allowed)
        if unknown:
            raise UnsupportedArgument(
                f"{owner}: expand_kwargs() can map {sorted(allowed)}, not {unknown}"
            )


def _python_task(function: str, call: Any) -> dict[str, Any]:
    args = {**call.args, EXTRAS: {"context": True}}  # the runner passes Airflow's context
    return {
        "kind": "python",
        "callable": f"{_HERE}:{function}",
        "args": args,
        "inputs": call.inputs,
        "expand": call.expand,
        **call.mapping_fields(),
    }


def _split(arguments: Mapping[str, Any], names: frozenset[str]) -> tuple[dict[str, Any], Any]:
    """The operator's fields (partial ones, then the element's) and the rest: the context."""
    fields = dict(arguments.get(KWARGS) or {})
    fields.update({k: v for k, v in arguments.items() if k in names})
    context = {k: v for k, v in arguments.items() if k != KWARGS and k not in names}
    return fields, context


def bash_operator(**arguments: Any) -> Any:
    """A mapped ``BashOperator``'s element: its command and env rendered, then run."""
    from pinflow.compat.airflow._operators import _wrapped

    fields, context = _split(arguments, _BASH_FIELDS)
    text = environment(False)
    command = str(render(fields.get("bash_command"), context, text))
    variables = render(fields.get("env"), context, text)
    rendered: dict[str, Any] = {"bash_command": command}
    if variables is not None:
        rendered["env"] = variables
    report_rendered(rendered)
    owner = f"BashOperator {context.get('task_id')!r}"
    append_env, cwd = bool(fields.get("append_env")), fields.get("cwd")
    return run_bash(_wrapped(owner, command, variables, append_env, cwd), cwd=os.getcwd())


def python_operator(**arguments: Any) -> Any:
    """A mapped ``PythonOperator``'s element: ``op_args``/``op_kwargs`` rendered, then the
    callable called with them and the context values it names (as Airflow does)."""
    fields, context = _split(arguments, _PYTHON_FIELDS | {CALLABLE})
    function = resolve_callable(str(fields.pop(CALLABLE)))
    env = environment(False)
    op_args = list(render(fields.get("op_args") or [], context, env))
    op_kwargs = dict(render(fields.get("op_kwargs") or {}, context, env))
    report_rendered({"op_args": op_args, "op_kwargs": op_kwargs})
    parameters = inspect.signature(function).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        extra = {k: v for k, v in context.items() if k not in op_kwargs}
    else:
        extra = {k: v for k, v in context.items() if k in parameters and k not in op_kwargs}
        bound = inspect.signature(function).bind_partial(*op_args).arguments
        extra = {k: v for k, v in extra.items() if k not in bound}
    return function(*op_args, **op_kwargs, **extra)
