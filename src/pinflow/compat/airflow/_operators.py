"""Airflow's classic operators as Pinflow tasks: ``BashOperator`` and ``EmptyOperator`` are
bash tasks, ``PythonOperator`` a Python task.

An operator is created inside ``with DAG(...)`` or a ``@dag`` body and is at once the task's
handle (an ``XComArg``), so ``>>``, ``chain`` and passing it to a TaskFlow call work as they
do on task outputs. Operator ids are explicit: using one twice in a DAG is an error, as in
Airflow.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Self

from pinflow.compat.airflow._custom import (
    custom_fields,
    is_mapping,
    mapping_kwargs,
    mapping_over,
    replaying,
    run_operator,
)
from pinflow.compat.airflow._edges import AirflowHandle
from pinflow.compat.airflow._groups import group_defaults, joined, task_id_in_group
from pinflow.compat.airflow._mapped import mapped_bash_fields, mapped_python_fields
from pinflow.compat.airflow._options import EXTRAS, UnsupportedArgument, task_options
from pinflow.compat.airflow._outputs import selected_keys
from pinflow.compat.airflow._runner import airflow_fields, templated_bash_fields
from pinflow.compat.airflow._task import AirflowTask
from pinflow.sdk.arguments import bind_call
from pinflow.sdk.graph import DagBuilder, XComArg, current_builder
from pinflow.sdk.options import EXECUTION_CHECKERS, check_identifier, check_options, check_text
from pinflow.spec.models import TaskFlow

# What Pinflow's bash runner treats as "skip" (Airflow's default skip_on_exit_code).
_SKIP_EXIT_CODE = 99


class BaseOperator(AirflowHandle):
    """The handle of a task added by an operator; subclasses say what the task runs."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        if args:
            raise TypeError(f"{cls.__name__}: operators take keyword arguments only")
        created = super().__new__(cls)
        created.__dict__["_created_with"] = dict(kwargs)  # what a custom operator replays
        return created

    def __init__(self, *, task_id: str, dag: object = None, **kwargs: Any) -> None:
        name = type(self).__name__
        owner = f"{name} {task_id!r}"
        if replaying():  # a custom operator created again in its task process
            self.task_id = task_id
            return
        builder = current_builder()
        if builder is None:
            raise RuntimeError(
                f"{owner}: create operators inside `with DAG(...)` or a @dag body "
                "(passing dag= to an operator outside a `with DAG(...)` block is not supported)"
            )
        if dag is not None and getattr(dag, "dag_id", builder.dag_id) != builder.dag_id:
            raise ValueError(f"{owner}: dag= names another DAG than the one being built")
        checked_id = check_identifier(owner, "task_id", task_id_in_group(task_id))
        options = {**group_defaults(), **task_options(owner, kwargs, extras=True)}
        extras = options.pop(EXTRAS, None)
        checked = check_options(owner, options, EXECUTION_CHECKERS)
        fields = {**checked, **self.fields(owner, builder)}
        function = getattr(self, "python_callable", None)
        handle = builder.add_task(checked_id, airflow_fields(fields, extras, function))
        super().__init__(builder, handle.task_id)
        joined(self)

    def fields(self, owner: str, builder: DagBuilder) -> dict[str, Any]:
        """The task's kind-specific spec fields: a custom operator's ``execute`` run by
        ``_custom.run_operator``; the operators here say what they run instead."""
        if type(self).execute is BaseOperator.execute:
            raise UnsupportedArgument(
                f"{owner}: a BaseOperator subclass must define execute(self, context), "
                "or write the task as a @task function (see docs/migrating-from-airflow.md)"
            )
        return custom_fields(owner, type(self), self.__dict__["_created_with"], builder)

    def execute(self, context: Mapping[str, Any]) -> Any:
        """What a custom operator does when its task runs; its return value is the XCom."""
        raise NotImplementedError

    @classmethod
    def pinflow_execute(
        cls,
        *,
        params: Any = None,
        dag_id: Any = None,
        run_id: Any = None,
        task_id: Any = None,
        map_index: Any = None,
        try_number: Any = None,
        logical_date: Any = None,
        ds: Any = None,
        data_interval_start: Any = None,
        data_interval_end: Any = None,
        **arguments: Any,
    ) -> Any:
        """A custom operator's task, as the task process calls it (see ``_custom``)."""
        context = {
            "params": params,
            "dag_id": dag_id,
            "run_id": run_id,
            "task_id": task_id,
            "map_index": map_index,
            "try_number": try_number,
            "logical_date": logical_date,
            "ds": ds,
            "data_interval_start": data_interval_start,
            "data_interval_end": data_interval_end,
        }
        return run_operator(cls, context, arguments)

    mappable = True  # whether ``.partial().expand()`` is supported (ADR 0039)

    @classmethod
    def partial(cls, **kwargs: Any) -> Any:
        """``MyOperator.partial(task_id=..., ...).expand(arg=[...] or upstream_output)``, or
        ``.expand_kwargs(...)``: the operator mapped (custom ones, Bash and Python)."""
        if not cls.mappable:
            raise UnsupportedArgument(
                f"{cls.__name__}.partial().expand() is not supported yet; map a @task function "
                "with .partial().expand() instead (see docs/migrating-from-airflow.md)"
            )
        return PartialOperator(cls, kwargs)

    def defer(self, *, trigger: object, method_name: str, **kwargs: Any) -> Any:
        """Airflow's ``self.defer(...)`` from an operator's own code: not supported."""
        raise NotImplementedError(
            f"{type(self).__name__}.defer(trigger={type(trigger).__name__}, ...): deferring on "
            "an arbitrary trigger is not supported by Pinflow; TimeDeltaSensor, "
            "DateTimeSensor, TimeSensor and FileSensor defer with deferrable=True (or use a "
            "sensor in mode='reschedule', which holds no slot between pokes; see "
            "docs/migrating-from-airflow.md)"
        )

    @property
    def output(self) -> XComArg:
        """The task's return value (Airflow's ``operator.output``)."""
        return AirflowHandle(self.builder, self.task_id)

    def __repr__(self) -> str:
        return f"<Task({type(self).__name__}): {self.task_id}>"


class PartialOperator:
    """``CustomOperator.partial(...)``: waits for ``.expand(...)``."""

    def __init__(self, cls: type[BaseOperator], kwargs: Mapping[str, Any]) -> None:
        self._cls, self._kwargs = cls, dict(kwargs)

    def expand(self, **mapped: Any) -> BaseOperator:
        owner = f"{self._cls.__name__}.partial(task_id={self._kwargs.get('task_id')!r})"
        if not mapped:
            raise TypeError(f"{owner}.expand() needs at least one argument to map over")
        for name in mapped:
            if name in self._kwargs:
                raise TypeError(f"{owner}: {name!r} is given to both partial() and expand()")
        with mapping_over(mapped):
            return self._cls(**self._kwargs, **mapped)

    def expand_kwargs(self, kwargs: object) -> BaseOperator:
        """One task instance per dict of ``kwargs`` (a literal list, or an upstream's list),
        created with the partial arguments and that dict (Airflow's ``expand_kwargs``)."""
        with mapping_kwargs(kwargs):
            return self._cls(**self._kwargs)


class BashOperator(BaseOperator):
    """``BashOperator(task_id=..., bash_command=..., env=..., append_env=..., cwd=...)``."""

    def __init__(
        self,
        *,
        task_id: str,
        bash_command: str | None = None,
        env: Mapping[str, str] | None = None,
        append_env: bool = False,
        cwd: str | None = None,
        skip_on_exit_code: int | Sequence[int] | None = _SKIP_EXIT_CODE,
        **kwargs: Any,
    ) -> None:
        self._bash = (bash_command, env, append_env, cwd, skip_on_exit_code)
        super().__init__(task_id=task_id, **kwargs)

    def fields(self, owner: str, builder: DagBuilder) -> dict[str, Any]:
        command, env, append_env, cwd, _skip_codes = self._bash
        if is_mapping():
            self._check_skip_codes(owner)
            given = {"bash_command": command, "env": env, "append_env": append_env, "cwd": cwd}
            return mapped_bash_fields(owner, builder, given)
        command = check_text(owner, "bash_command", command)
        if command.rstrip().endswith((".sh", ".bash")):
            raise UnsupportedArgument(
                f"{owner}: a bash_command ending in .sh/.bash names a template file in Airflow, "
                "which is not supported yet; run it from the bundle instead: "
                "bash_command='bash \"$PINFLOW_BUNDLE_DIR/<path>.sh\" ' (see "
                "docs/migrating-from-airflow.md)"
            )
        self._check_skip_codes(owner)
        _wrapped(owner, command, env, append_env, cwd)  # checks env and cwd
        templated = templated_bash_fields(command, env, append_env, cwd)  # rendered at run time
        if templated is not None:
            return templated
        return {"kind": "bash", "bash_command": _wrapped(owner, command, env, append_env, cwd)}

    def _check_skip_codes(self, owner: str) -> None:
        skip_codes = self._bash[4]
        if skip_codes not in (_SKIP_EXIT_CODE, [_SKIP_EXIT_CODE], (_SKIP_EXIT_CODE,)):
            raise UnsupportedArgument(
                f"{owner}: skip_on_exit_code={skip_codes!r} cannot be honoured: Pinflow skips "
                f"a bash task on exit code {_SKIP_EXIT_CODE} only"
            )


def _wrapped(
    owner: str, command: str, env: Mapping[str, str] | None, append_env: bool, cwd: str | None
) -> str:
    """The command with Airflow's ``env``/``cwd`` semantics spelled out in bash.

    Airflow runs the command with *only* ``env`` as its environment unless ``append_env``;
    ``env -i`` does the same here, so a DAG that relied on a clean environment still gets it.
    """
    if cwd is not None:
        command = f"cd {shlex.quote(check_text(owner, 'cwd', cwd))} && {command}"
    if env is None:
        return command
    if not isinstance(env, Mapping) or not all(
        isinstance(k, str) and k.isidentifier() and isinstance(v, str) for k, v in env.items()
    ):
        raise TypeError(f"{owner}: env must be a dict of variable names to str values")
    assignments = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    if append_env:
        exports = "; ".join(f"export {k}={shlex.quote(v)}" for k, v in env.items())
        return f"{exports}; {command}"
    return f"exec env -i {assignments} bash -c {shlex.quote(command)}"


class EmptyOperator(BaseOperator):
    """A task that does nothing (a bash ``:``), for shaping the graph."""

    mappable = False

    def fields(self, owner: str, builder: DagBuilder) -> dict[str, Any]:
        return {"kind": "bash", "bash_command": ":"}


class PythonOperator(BaseOperator):
    """``PythonOperator(task_id=..., python_callable=f, op_args=[...], op_kwargs={...})``.

    ``f`` is imported by the worker, so it must be a module-level function of the DAG file
    (or defined in the ``@dag`` function's body); arguments are JSON values or task outputs.
    """

    def __init__(
        self,
        *,
        task_id: str,
        python_callable: Callable[..., Any],
        op_args: Sequence[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        show_return_value_in_logs: bool = True,
        **kwargs: Any,
    ) -> None:
        self._given = {"op_args": op_args, "op_kwargs": op_kwargs}  # as given: maybe mapped
        if is_mapping():
            op_args, op_kwargs = None, None
        self._python = (python_callable, list(op_args or ()), dict(op_kwargs or {}))
        self.python_callable = python_callable
        super().__init__(task_id=task_id, **kwargs)

    def fields(self, owner: str, builder: DagBuilder) -> dict[str, Any]:
        function, args, kwargs = self._python
        if is_mapping():
            if type(self) is not PythonOperator:
                raise UnsupportedArgument(
                    f"{owner}: a mapped {type(self).__name__} is not supported yet (each element "
                    "would decide alone); map a PythonOperator or a @task instead"
                )
            if not callable(function):
                raise TypeError(f"{owner}: python_callable must be a function")
            wrapper = AirflowTask(function, {})
            return mapped_python_fields(owner, builder, wrapper.callable_ref, self._given)
        return python_fields(owner, builder, function, args, kwargs)


def python_fields(
    owner: str,
    builder: DagBuilder,
    function: Callable[..., Any],
    args: Sequence[Any],
    kwargs: Mapping[str, Any],
) -> dict[str, Any]:
    """The fields of a task that calls ``function(*args, **kwargs)`` (``PythonOperator``,
    ``PythonSensor``)."""
    if not callable(function):
        raise TypeError(f"{owner}: python_callable must be a function")
    wrapper = AirflowTask(function, {})
    if selected_keys(owner, wrapper._signature, tuple(args), kwargs)[0]:
        raise UnsupportedArgument(
            f"{owner}: op_args/op_kwargs cannot take output['key'] yet; pass the whole "
            "output, or make the task a @task function"
        )
    call = bind_call(owner, wrapper._signature, builder, tuple(args), kwargs)
    return {
        "kind": "python",
        "callable": wrapper.callable_ref,
        "args": call.args,
        "inputs": call.inputs,
    }


class BranchPythonOperator(PythonOperator):
    """``BranchPythonOperator``: the callable returns the task id(s) (or task group ids, or
    ``None``) to follow; the other direct downstream tasks are skipped."""

    def fields(self, owner: str, builder: DagBuilder) -> dict[str, Any]:
        return {**super().fields(owner, builder), "flow": TaskFlow.BRANCH}


class ShortCircuitOperator(PythonOperator):
    """``ShortCircuitOperator``: a falsy return value skips every downstream task, or only
    the direct ones with ``ignore_downstream_trigger_rules=False``."""

    def __init__(self, *, ignore_downstream_trigger_rules: bool = True, **kwargs: Any) -> None:
        if not isinstance(ignore_downstream_trigger_rules, bool):
            raise TypeError("ShortCircuitOperator: ignore_downstream_trigger_rules must be a bool")
        self._ignore_downstream = ignore_downstream_trigger_rules
        super().__init__(**kwargs)

    def fields(self, owner: str, builder: DagBuilder) -> dict[str, Any]:
        flow = {
            "flow": TaskFlow.SHORT_CIRCUIT,
            "ignore_downstream_trigger_rules": self._ignore_downstream,
        }
        return {**super().fields(owner, builder), **flow}
