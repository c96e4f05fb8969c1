"""Task callbacks (``on_execute/success/failure/retry/skipped_callback``), as Airflow 3 runs
them: in the task's own process, with the task's context, after the outcome is known.

At compile time a callback (a function, or a list of them) becomes references
(``module:qualname``) kept in the task's Airflow extras; the task process imports them as it
imports the task's own code. A callback that raises is logged and changes nothing about the
try, as in Airflow. DAG-level callbacks are called when the run ends, in a process of
their own (``_dag_callbacks``, docs/adr/0044).
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from pinflow.compat.airflow._options import UnsupportedArgument
from pinflow.sdk.dag_options import callback_refs as sdk_callback_refs
from pinflow.sdk.loader import resolve_callable

log = logging.getLogger(__name__)

TASK_CALLBACKS = (
    "on_execute_callback",
    "on_success_callback",
    "on_failure_callback",
    "on_retry_callback",
    "on_skipped_callback",
)


def callback_refs(owner: str, name: str, value: object) -> list[str]:
    """The references of the callback(s) ``value``; ``UnsupportedArgument`` for one a worker
    could not import (a lambda, a function defined inside another, a notifier object)."""

    def refused(function: object) -> Exception:
        return UnsupportedArgument(
            f"{owner}: {name}={function!r} cannot be honoured: a callback runs in a "
            "process of its own (a task's in the task process), which imports it by name; "
            "define it as a module-level function of the DAG file "
            "(see docs/migrating-from-airflow.md)"
        )

    return sdk_callback_refs(owner, name, value, refused)


def fire(refs: Mapping[str, list[str]], name: str, context: Mapping[str, Any]) -> None:
    """Call the ``name`` callbacks with ``context``; one that fails is logged, not raised."""
    for ref in refs.get(name, ()):
        try:
            callback: Callable[..., Any] = resolve_callable(ref)
            callback(context)
        except Exception:
            traceback.print_exc()
            log.error("pinflow: %s %s failed (the try's outcome is unchanged)", name, ref)
