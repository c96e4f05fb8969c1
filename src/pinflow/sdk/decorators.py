"""The ``task`` object: ``@task``, ``@task(...)``, ``@task.bash``, ``task.bash()``, ``task.http()``.

Options are taken as ``**options`` at run time (and typed by overloads for type checkers) so
that an unknown or mistyped option is reported together with the function it decorates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any, ParamSpec, TypeVar, Unpack, overload

from pinflow.sdk.graph import XComArg
from pinflow.sdk.operators import add_bash_task, add_http_task
from pinflow.sdk.options import OperatorOptions, TaskOptions
from pinflow.sdk.sensors import SENSOR_OPTIONS, make_sensor
from pinflow.sdk.task import BashTask, Task, make_task
from pinflow.spec.models import TaskFlow

P = ParamSpec("P")
R = TypeVar("R")


class TaskDecorator:
    """Turns functions into tasks; see the package docs for the full set of forms."""

    @overload
    def __call__(self, python_callable: Callable[P, R], /) -> Task[P, R]: ...

    @overload
    def __call__(
        self, python_callable: None = None, /, **options: Unpack[TaskOptions]
    ) -> Callable[[Callable[P, R]], Task[P, R]]: ...

    def __call__(self, python_callable: object = None, /, **options: Any) -> Any:
        if python_callable is None:
            return lambda function: make_task(Task, function, options)
        return make_task(Task, python_callable, options)

    @overload
    def branch(self, python_callable: Callable[P, R], /) -> Task[P, R]: ...

    @overload
    def branch(
        self, python_callable: None = None, /, **options: Unpack[TaskOptions]
    ) -> Callable[[Callable[P, R]], Task[P, R]]: ...

    def branch(self, python_callable: object = None, /, **options: Any) -> Any:
        """``@task.branch``: the function returns the task id(s) to follow (or task group ids,
        or ``None``); the task's other direct downstream tasks are skipped, and their skip
        carries on by trigger rules (a ``none_failed_min_one_success`` join runs)."""
        return self(python_callable, **{**options, "flow": TaskFlow.BRANCH})  # type: ignore[call-overload]

    @overload
    def short_circuit(self, python_callable: Callable[P, R], /) -> Task[P, R]: ...

    @overload
    def short_circuit(
        self,
        python_callable: None = None,
        /,
        *,
        ignore_downstream_trigger_rules: bool = True,
        **options: Unpack[TaskOptions],
    ) -> Callable[[Callable[P, R]], Task[P, R]]: ...

    def short_circuit(self, python_callable: object = None, /, **options: Any) -> Any:
        """``@task.short_circuit``: a falsy return value skips every downstream task (or,
        with ``ignore_downstream_trigger_rules=False``, the direct ones, whose trigger rules
        then decide for the rest); teardown tasks still run."""
        flow = {**options, "flow": TaskFlow.SHORT_CIRCUIT}
        return self(python_callable, **flow)  # type: ignore[call-overload]

    def sensor(self, python_callable: object = None, /, **options: Any) -> Any:
        """``@task.sensor(poke_interval=, timeout=, mode="poke"|"reschedule", soft_fail=,
        exponential_backoff=, max_wait=)``: the function is a poke, called until it returns
        true (or a ``PokeReturnValue`` that is done, whose ``xcom_value`` is the output).
        In ``reschedule`` mode the task holds no slot between pokes (ADR 0036)."""
        sensor_options = {k: options.pop(k) for k in SENSOR_OPTIONS if k in options}
        if python_callable is None:
            return lambda function: make_sensor(function, options, sensor_options)
        return make_sensor(python_callable, options, sensor_options)  # type: ignore[arg-type]

    @overload
    def bash(self, python_callable: Callable[P, str], /) -> BashTask[P]: ...

    @overload
    def bash(
        self,
        python_callable: None = None,
        /,
        *,
        task_id: str,
        bash_command: str,
        **options: Unpack[OperatorOptions],
    ) -> XComArg: ...

    @overload
    def bash(
        self, python_callable: None = None, /, **options: Unpack[TaskOptions]
    ) -> Callable[[Callable[P, str]], BashTask[P]]: ...

    def bash(self, python_callable: object = None, /, **options: Any) -> Any:
        """``@task.bash`` on a function returning the command, or ``task.bash(bash_command=)``."""
        if "bash_command" in options:
            if python_callable is not None:
                raise TypeError("task.bash: give a function or bash_command=, not both")
            command = options.pop("bash_command")
            return add_bash_task(options.pop("task_id", None), command, options)
        if python_callable is None:
            return lambda function: make_task(BashTask, function, options)
        return make_task(BashTask, python_callable, options)

    def http(
        self,
        *,
        task_id: str,
        url: str,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        body: Any = None,
        expected_status: Sequence[int] | int | None = None,
        timeout: timedelta | float | None = None,
        **options: Unpack[OperatorOptions],
    ) -> XComArg:
        """An HTTP request task; the response is its output."""
        return add_http_task(
            task_id,
            url=url,
            method=method,
            headers=headers,
            body=body,
            expected_status=expected_status,
            timeout=timeout,
            options=options,
        )


task = TaskDecorator()
