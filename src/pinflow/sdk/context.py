"""The running try's context, for code in a task process that has no parameter to receive it.

The task process sets it around the task's call (``running``); ``current_context()`` reads
it, as Airflow's ``get_current_context()`` does. A task may name a *runner* in the reserved
argument ``RUNNER_ARG`` (``"module:qualname"``): the task process then calls
``runner(invocation)`` with a ``TaskInvocation`` instead of running the task itself, which is
how the Airflow compatibility layer adds Airflow's context, templating and callbacks around a
task without the runtime knowing of Airflow (docs/adr/0034).

Standard library only: the SDK imports nothing of Pinflow's runtime.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

RUNNER_ARG = "__pinflow_runner__"


class NoTaskContext(RuntimeError):  # noqa: N818 - a condition
    """Read outside a running try."""


@dataclass(frozen=True)
class TaskContext:
    """What a try knows of itself and its run (times as ISO 8601 text, as in its request)."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int
    max_tries: int = 0
    logical_date: str | None = None
    data_interval_start: str | None = None
    data_interval_end: str | None = None
    run_type: str = "manual"
    params: Mapping[str, Any] = field(default_factory=dict)
    conf: Mapping[str, Any] = field(default_factory=dict)
    staging_dir: str = ""
    idempotency_key: str = ""
    triggering_asset_events: Sequence[Mapping[str, Any]] = ()  # ADR 0037


@dataclass(frozen=True)
class TaskInvocation:
    """What a runner is given: the try's context and the task to run.

    ``function`` and ``kwargs``: a Python task's function and its arguments (literal ones,
    upstream values, the mapped element), ``function`` ``None`` for other kinds.
    ``bash_command`` the spec's command of a bash task; ``run_bash(command)`` runs a command
    as a bash task runs its own (its last stdout line is its value).
    """

    context: TaskContext
    kind: str
    args: Mapping[str, Any]
    function: Callable[..., Any] | None = None
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    bash_command: str | None = None
    run_bash: Callable[[str], Any] | None = None


@dataclass(frozen=True)
class RunEnd:
    """What a run-end callback receives (``@dag(on_success_callback=f)``: ``f(end)``; ADR
    0044): the run that ended, how, and which tasks failed. Times are ISO 8601 text.

    ``state``: ``success`` or ``failed``; ``reason``: ``success``, ``task_failure`` or
    ``timed_out`` (its ``dagrun_timeout``), as Airflow's context says. ``last_task``: the
    last failed task instance (a failure), else the last one to end, as a dict with
    ``task_id``, ``map_index``, ``state``, ``try_number`` and ``end_date``.
    """

    dag_id: str
    run_id: str
    state: str
    reason: str
    run_type: str = "manual"
    logical_date: str | None = None
    data_interval_start: str | None = None
    data_interval_end: str | None = None
    start_date: str | None = None
    end_date: str | None = None
    conf: Mapping[str, Any] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)
    failed_tasks: Sequence[str] = ()
    last_task: Mapping[str, Any] | None = None
    version_id: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.state == "success"


_current: ContextVar[TaskContext | None] = ContextVar("pinflow_task_context", default=None)


def current_context() -> TaskContext:
    """The running try's context; ``NoTaskContext`` outside one (a DAG file being parsed)."""
    context = _current.get()
    if context is None:
        raise NoTaskContext(
            "there is no running task here: the context exists only while a task runs "
            "(call it inside the task function, not at the top of the DAG file)"
        )
    return context


@contextmanager
def running(context: TaskContext) -> Iterator[TaskContext]:
    """Make ``context`` the current one for the ``with`` block (the task process does)."""
    token = _current.set(context)
    try:
        yield context
    finally:
        _current.reset(token)
