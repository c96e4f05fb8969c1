"""Finding a task's function from its ``callable`` reference (``"module:qualname"``).

Runs in a worker (or the compiler), with the extracted bundle's root on ``sys.path``; the
control plane never calls this.
"""

from __future__ import annotations

import importlib
import traceback
from collections.abc import Callable, Sequence
from typing import Any

from pinflow.compat.importer import install_airflow_imports
from pinflow.sdk.task import Task


def resolve_callable(ref: str) -> Callable[..., Any]:
    """Import ``module`` and return the raw function at ``qualname`` (unwrapping ``@task``).

    Raises ``ValueError`` for a malformed reference, ``ImportError`` when the module or the
    attribute cannot be found, and ``TypeError`` when the target is not callable.
    """
    module_name, sep, qualname = ref.partition(":")
    if not sep or not module_name or not qualname or "<" in qualname:
        raise ValueError(
            f"callable reference {ref!r} must be 'module:qualname' naming a module-level "
            "function (e.g. 'etl:extract')"
        )
    install_airflow_imports()  # an Airflow DAG file's `import airflow` (docs/adr/0023)
    target: object = importlib.import_module(module_name)
    for part in qualname.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ImportError(
                f"cannot resolve {ref!r}: {part!r} not found in {module_name!r}",
                name=module_name,
            ) from None
    if isinstance(target, Task):
        target = target.function
    if not callable(target):
        raise TypeError(f"{ref!r} is a {type(target).__name__}, not a function")
    return target


def call_each(refs: Sequence[str], argument: object) -> list[str]:
    """Each callback called with ``argument``, in order; one that raises is logged (its
    traceback in the callback's log) and the next one still runs. The errors."""
    errors: list[str] = []
    for ref in refs:
        try:
            resolve_callable(ref)(argument)
        except Exception as exc:
            traceback.print_exc()
            errors.append(f"{ref}: {type(exc).__name__}: {exc}")
    return errors
