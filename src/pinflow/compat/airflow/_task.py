"""Airflow's ``task`` decorator object, on Pinflow's ``Task``.

``@task`` and ``@task(...)`` take Airflow's argument names (translated in ``_options``);
``@task.python`` is the same; ``@task.bash`` is Pinflow's. Other ``@task.<kind>`` forms are
a compile problem naming the nearest supported construct.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any, NoReturn, Self

from pinflow.compat.airflow._groups import group_defaults, joined, task_id_in_group
from pinflow.compat.airflow._local import local_reference
from pinflow.compat.airflow._options import EXTRAS, UnsupportedArgument, task_options
from pinflow.compat.airflow._outputs import (
    SELECT,
    TaskOutput,
    returns_dict,
    selected_keys,
    selecting,
)
from pinflow.compat.airflow._runner import CONTEXT_NAMES, airflow_fields
from pinflow.compat.airflow._setup_teardown import (
    setup_decorator,
    split_flow_options,
    teardown_decorator,
)
from pinflow.sdk.arguments import BoundCall, bind_call, binding_signature
from pinflow.sdk.graph import DagBuilder, XComArg
from pinflow.sdk.sensors import SENSOR_OPTIONS, sensor_spec
from pinflow.sdk.task import BashTask, Task, make_task
from pinflow.spec.models import SensorSpec, TaskFlow


class AirflowTask(Task[Any, Any]):
    """A Pinflow ``Task`` that may be defined inside a ``@dag`` function (see ``_local``)."""

    label = "@task"

    def __init__(self, function: Callable[..., Any], options: Mapping[str, Any]) -> None:
        super().__init__(function, options)
        # Airflow's context values are filled in by the task process, as Pinflow's are.
        self._signature = binding_signature(function, CONTEXT_NAMES)
        self.airflow_extras: dict[str, Any] = {}  # callbacks, templates_dict (see _runner)
        self._local_ref = local_reference(function)
        self.multiple_outputs = returns_dict(function)

    @property
    def task_id(self) -> str:
        return task_id_in_group(super().task_id)

    @property
    def callable_ref(self) -> str:
        return self._local_ref or super().callable_ref

    def _node_options(self) -> dict[str, Any]:
        return {**group_defaults(), **super()._node_options()}

    @property
    def selecting(self) -> Callable[..., Any]:
        """The function, reading ``output["key"]`` arguments (see ``_outputs``)."""
        return selecting(self.function)

    def override(self, **options: Any) -> Self:
        """``.override(task_id=..., retries=...)`` with Airflow's argument names."""
        multiple = options.pop("multiple_outputs", self.multiple_outputs)
        flow, airflow_options = split_flow_options(options)
        translated = task_options(self.owner, airflow_options, extras=True)
        extras = translated.pop(EXTRAS, {})
        overridden = super().override(**flow, **translated)
        overridden.multiple_outputs = bool(multiple)
        overridden.airflow_extras = {**self.airflow_extras, **extras}
        return overridden

    def _build(
        self, builder: DagBuilder, args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> XComArg:
        keys, args, bound_kwargs = selected_keys(self.owner, self._signature, args, kwargs)
        call = bind_call(self.owner, self._signature, builder, args, bound_kwargs)
        if keys:
            call = BoundCall(args={**call.args, SELECT: keys}, inputs=call.inputs)
        return self._add(builder, call)

    def _add(self, builder: DagBuilder, call: BoundCall) -> XComArg:
        ref = self.callable_ref
        if SELECT in call.args and self._local_ref is None:
            ref += ".selecting"  # a module-level task: resolve to the wrapper, not the function
        fields = {
            **self._node_options(),
            "kind": "python",
            "callable": ref,
            "args": call.args,
            "inputs": call.inputs,
            "expand": call.expand,
            **call.mapping_fields(),
        }
        fields = airflow_fields(fields, self.airflow_extras, self.function)
        if self._local_ref is None and builder.strict and "<locals>" in ref:
            return super()._add(builder, call)  # the SDK's "define it at module level"
        handle = builder.add_task(builder.unique_task_id(self.task_id), fields)
        joined(handle)
        return TaskOutput(builder, handle.task_id, multiple_outputs=self.multiple_outputs)


class AirflowBashTask(BashTask[Any]):
    """``@task.bash``: Pinflow's, with ids and defaults from the enclosing task groups."""

    @property
    def task_id(self) -> str:
        return task_id_in_group(super().task_id)

    def _node_options(self) -> dict[str, Any]:
        return {**group_defaults(), **super()._node_options()}

    def _build(
        self, builder: DagBuilder, args: tuple[Any, ...], kwargs: Mapping[str, Any]
    ) -> XComArg:
        return joined(super()._build(builder, args, kwargs))


class AirflowSensorTask(AirflowTask):
    """``@task.sensor``: an Airflow task whose function is a poke (ADR 0036)."""

    label = "@task.sensor"
    sensor: SensorSpec = SensorSpec()

    def override(self, **options: Any) -> Self:
        sensor_options = {k: options.pop(k) for k in SENSOR_OPTIONS if k in options}
        overridden = super().override(**options)
        merged = {**self.sensor.model_dump(), **sensor_options}
        overridden.sensor = sensor_spec(self.owner, merged) if sensor_options else self.sensor
        return overridden

    def _node_options(self) -> dict[str, Any]:
        return {**super()._node_options(), "sensor": self.sensor}

    def _add(self, builder: DagBuilder, call: BoundCall) -> XComArg:
        if call.expand:
            raise UnsupportedArgument(f"{self.owner}: a sensor cannot be mapped (expand) yet")
        return super()._add(builder, call)


_UNSUPPORTED_KINDS = {
    "virtualenv": "not supported; install the packages on the workers and use @task",
    "external_python": "not supported; use @task",
    "docker": "not supported; use @task.bash with `docker run ...`",
    "kubernetes": "not supported; use @task",
    "run_if": "not supported yet; raise AirflowSkipException in the task instead",
    "skip_if": "not supported yet; raise AirflowSkipException in the task instead",
}


class AirflowTaskDecorator:
    """``@task``, ``@task(...)``, ``@task.python``, ``@task.bash`` with Airflow's arguments."""

    def __call__(self, python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        return self._decorate(AirflowTask, python_callable, kwargs)

    def python(self, python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        return self._decorate(AirflowTask, python_callable, kwargs)

    def bash(self, python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        return self._decorate(AirflowBashTask, python_callable, kwargs)

    def sensor(self, python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        """``@task.sensor(poke_interval=, timeout=, mode=, soft_fail=, exponential_backoff=,
        max_wait=)``: the function returns a bool or a ``PokeReturnValue``."""
        options = {k: kwargs.pop(k) for k in SENSOR_OPTIONS if k in kwargs}
        if "deferrable" in kwargs:
            raise UnsupportedArgument(
                "@task.sensor(deferrable=...) is not supported: a poke function cannot defer; "
                "use mode='reschedule', which holds no slot between pokes"
            )
        options = {
            k: v.total_seconds() if isinstance(v, timedelta) else v for k, v in options.items()
        }

        def make(function: Callable[..., Any]) -> Any:
            made = _make(AirflowSensorTask, function, kwargs, "@task.sensor")
            assert isinstance(made, AirflowSensorTask)
            made.sensor = sensor_spec(made.owner, options)
            return made

        return make if python_callable is None else make(python_callable)

    def branch(self, python_callable: Callable[..., Any] | None = None, **kwargs: Any) -> Any:
        """``@task.branch``: returns the task id(s) or group id(s) to follow, or None."""
        return self._decorate(AirflowTask, python_callable, {**kwargs, "flow": TaskFlow.BRANCH})

    def short_circuit(
        self,
        python_callable: Callable[..., Any] | None = None,
        *,
        ignore_downstream_trigger_rules: bool = True,
        **kwargs: Any,
    ) -> Any:
        """``@task.short_circuit``: a falsy return value skips what follows."""
        flow = {
            "flow": TaskFlow.SHORT_CIRCUIT,
            "ignore_downstream_trigger_rules": ignore_downstream_trigger_rules,
        }
        return self._decorate(AirflowTask, python_callable, {**kwargs, **flow})

    def __getattr__(self, name: str) -> NoReturn:
        if name.startswith("_"):
            raise AttributeError(name)
        why = _UNSUPPORTED_KINDS.get(name, "not supported by Pinflow")
        raise UnsupportedArgument(f"@task.{name} is {why} (see docs/migrating-from-airflow.md)")

    @staticmethod
    def _decorate(
        kind: type[Task[Any, Any]], function: Callable[..., Any] | None, kwargs: Mapping[str, Any]
    ) -> Any:
        label = kind.label
        if function is None:
            return lambda decorated: _make(kind, decorated, kwargs, label)
        return _make(kind, function, kwargs, label)


def _make(
    cls: type[Task[Any, Any]], function: object, kwargs: Mapping[str, Any], label: str
) -> Task[Any, Any]:
    name = getattr(function, "__qualname__", repr(function))
    flow, rest = split_flow_options(dict(kwargs))
    airflow = issubclass(cls, AirflowTask)
    multiple = rest.pop("multiple_outputs", None) if airflow else None
    translated = task_options(f"{label} {name!r}", rest, extras=airflow)
    extras = translated.pop(EXTRAS, {})
    options = {**translated, **flow}
    made: Task[Any, Any] = make_task(cls, function, options)
    if isinstance(made, AirflowTask) and multiple is not None:
        made.multiple_outputs = bool(multiple)
    if isinstance(made, AirflowTask):
        made.airflow_extras = extras
    return made


task = AirflowTaskDecorator()


def _setup_or_teardown(function: Any, flags: Mapping[str, Any]) -> Task[Any, Any]:
    """``@setup`` / ``@teardown`` on a function, or on a ``@task`` already made."""
    if isinstance(function, Task):
        return function.override(**flags)
    made: Task[Any, Any] = _make(AirflowTask, function, flags, "@task")
    return made


setup = setup_decorator(_setup_or_teardown)
teardown = teardown_decorator(_setup_or_teardown)
