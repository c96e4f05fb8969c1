"""``@task.sensor``: a task whose function is a poke, called until it says done (ADR 0036).

The function returns a bool, or a ``PokeReturnValue(is_done, xcom_value)`` whose
``xcom_value`` becomes the task's output once done. The sensor's options become the task's
``SensorSpec``; the task process pokes (``pinflow.runtime.sensors``), and the scheduler keeps
a rescheduled sensor's wait without a process or a slot.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ParamSpec, Self, TypeVar, cast

from pydantic import ValidationError

from pinflow.sdk.arguments import BoundCall
from pinflow.sdk.graph import DagBuilder, XComArg
from pinflow.sdk.task import Task, make_task
from pinflow.spec.models import SensorSpec

P = ParamSpec("P")
R = TypeVar("R")

SENSOR_OPTIONS = (
    "poke_interval",
    "timeout",
    "mode",
    "soft_fail",
    "exponential_backoff",
    "max_wait",
)


@dataclass(frozen=True)
class PokeReturnValue:
    """What a poke may return instead of a bool: whether it is done, and the task's output."""

    is_done: bool
    xcom_value: Any = None

    def __bool__(self) -> bool:
        return bool(self.is_done)


def sensor_spec(owner: str, options: Mapping[str, Any]) -> SensorSpec:
    """The ``SensorSpec`` of sensor options (durations as ``timedelta`` or seconds); a
    ``ValueError`` naming the owner and the option when one is wrong."""
    values = {k: _seconds(v) if k in _DURATIONS else v for k, v in options.items()}
    unknown = sorted(set(values) - set(SENSOR_OPTIONS))
    if unknown:
        raise TypeError(f"{owner}: unknown sensor option(s) {unknown}; known: {SENSOR_OPTIONS}")
    try:
        return SensorSpec.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ValueError(f"{owner}: {problems}") from None


_DURATIONS = frozenset({"poke_interval", "timeout", "max_wait"})


def _seconds(value: Any) -> Any:
    return value.total_seconds() if isinstance(value, timedelta) else value


class SensorTask(Task[P, R]):
    """A ``@task.sensor`` function: a Python task with a ``SensorSpec``."""

    label = "@task.sensor"
    sensor: SensorSpec = SensorSpec()

    def override(self, **options: Any) -> Self:
        sensor_options = {k: options.pop(k) for k in SENSOR_OPTIONS if k in options}
        overridden = super().override(**options)
        overridden.sensor = (
            sensor_spec(self.owner, {**self.sensor.model_dump(), **sensor_options})
            if sensor_options
            else self.sensor
        )
        return overridden

    def _add(self, builder: DagBuilder, call: BoundCall) -> XComArg:
        if call.expand:
            raise ValueError(f"{self.owner}: a sensor cannot be mapped (expand) yet")
        return super()._add(builder, call)

    def _node_options(self) -> dict[str, Any]:
        return {**super()._node_options(), "sensor": self.sensor}


def make_sensor(
    function: Callable[P, R], options: Mapping[str, Any], sensor_options: Mapping[str, Any]
) -> SensorTask[P, R]:
    made = cast(SensorTask[P, R], make_task(SensorTask, function, options))
    made.sensor = sensor_spec(made.owner, sensor_options)
    return made
