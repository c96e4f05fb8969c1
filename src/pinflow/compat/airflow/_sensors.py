"""Airflow's sensors on Pinflow's ``SensorSpec`` (ADR 0036): ``BaseSensorOperator``
subclasses with ``poke(context)``, ``@task.sensor``, and the standard provider's sensors that
need no external system.

A sensor is a custom operator (``_custom``) whose task carries a ``sensor`` spec: the task
process creates the operator again for each poke and calls ``execute``, which pokes once;
Pinflow's runtime loops (poke mode) or ends the try to be started again (reschedule mode).
With ``deferrable=True`` a time or file sensor that is not done hands its condition to the
scheduler (``DeferTask``): the task is ``deferred``, with no process and no slot, and the
scheduler ends it ``success`` when the moment comes or the file appears.

The operator's keyword arguments are replayed as JSON in the task process: a ``timedelta``
arrives as seconds, a ``datetime``/``time`` as ISO 8601 text, which the sensors here accept.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pinflow.compat.airflow._context import build_context
from pinflow.compat.airflow._custom import custom_fields, replay_operator
from pinflow.compat.airflow._operators import BaseOperator, python_fields
from pinflow.compat.airflow._options import UnsupportedArgument
from pinflow.compat.airflow._templating import render_template_fields
from pinflow.runtime.contract import DeferTask
from pinflow.sdk.context import current_context
from pinflow.sdk.graph import DagBuilder
from pinflow.sdk.sensors import PokeReturnValue, sensor_spec

__all__ = [
    "BaseSensorOperator",
    "DateTimeSensor",
    "DateTimeSensorAsync",
    "FileSensor",
    "PokeReturnValue",
    "PythonSensor",
    "TimeDeltaSensor",
    "TimeDeltaSensorAsync",
    "TimeSensor",
    "TimeSensorAsync",
]

_WEEK = 7 * 24 * 3600.0


def _json(value: Any) -> Any:
    """An operator argument as JSON for its replay: durations as seconds, moments as text."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return value


def _seconds(value: timedelta | float | int | None) -> float | None:
    if value is None:
        return None
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _moment(value: datetime | str) -> datetime:
    if isinstance(value, datetime):
        return _aware(value)
    return _aware(datetime.fromisoformat(str(value).strip()))


class BaseSensorOperator(BaseOperator):
    """``BaseSensorOperator``: subclasses define ``poke(context)`` returning a bool or a
    ``PokeReturnValue``; ``poke_interval``, ``timeout``, ``mode``, ``soft_fail``,
    ``exponential_backoff`` and ``max_wait`` as in Airflow."""

    template_fields: Sequence[str] = ()

    def __init__(
        self,
        *,
        poke_interval: timedelta | float = 60,
        timeout: timedelta | float = _WEEK,
        mode: str = "poke",
        soft_fail: bool = False,
        exponential_backoff: bool = False,
        max_wait: timedelta | float | None = None,
        deferrable: bool = False,
        **kwargs: Any,
    ) -> None:
        self.poke_interval = _seconds(poke_interval)
        self.timeout = _seconds(timeout)
        self.mode, self.soft_fail, self.deferrable = mode, soft_fail, bool(deferrable)
        self.exponential_backoff, self.max_wait = exponential_backoff, _seconds(max_wait)
        super().__init__(**kwargs)

    def _sensor_options(self) -> dict[str, Any]:
        return {
            "poke_interval": self.poke_interval,
            "timeout": self.timeout,
            "mode": self.mode,
            "soft_fail": self.soft_fail,
            "exponential_backoff": self.exponential_backoff,
            "max_wait": self.max_wait,
        }

    def fields(self, owner: str, builder: DagBuilder) -> dict[str, Any]:
        if type(self).poke is BaseSensorOperator.poke:
            raise UnsupportedArgument(
                f"{owner}: a BaseSensorOperator subclass must define poke(self, context), "
                "or write the sensor as a @task.sensor function"
            )
        if self.deferrable and type(self).trigger is BaseSensorOperator.trigger:
            raise UnsupportedArgument(
                f"{owner}: deferrable=True is supported on TimeDeltaSensor, DateTimeSensor, "
                "TimeSensor and FileSensor only (the scheduler checks their condition itself); "
                "use mode='reschedule', which holds no slot between pokes"
            )
        created = {name: _json(value) for name, value in self.__dict__["_created_with"].items()}
        fields = custom_fields(owner, type(self), created, builder)
        return {**fields, **self.sensor_fields(owner)}

    def sensor_fields(self, owner: str) -> dict[str, Any]:
        return {"sensor": sensor_spec(owner, self._sensor_options())}

    def poke(self, context: Mapping[str, Any]) -> bool | PokeReturnValue:
        """Whether the condition holds now (one poke)."""
        raise NotImplementedError

    def trigger(self, context: Mapping[str, Any]) -> dict[str, Any] | None:
        """What the scheduler waits on for a deferrable sensor (a time or a file trigger)."""
        return None

    def execute(self, context: Mapping[str, Any]) -> Any:
        """One poke; a deferrable sensor that is not done defers to the scheduler."""
        outcome = self.poke(context)
        if self.deferrable and not outcome:
            found = self.trigger(context)
            if found is not None:
                raise DeferTask(found)
        return outcome

    @classmethod
    def pinflow_execute(cls, **arguments: Any) -> Any:
        """One poke, as the task process calls it (``pinflow.runtime.sensors`` loops)."""
        context = build_context(current_context(), {})
        operator = replay_operator(cls, arguments)
        context["task"] = operator
        render_template_fields(operator, context)
        return operator.execute(context)


class PythonSensor(BaseSensorOperator):
    """``PythonSensor(python_callable=f, op_args=, op_kwargs=)``: ``f`` is the poke."""

    def __init__(
        self,
        *,
        python_callable: Callable[..., Any],
        op_args: Sequence[Any] | None = None,
        op_kwargs: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self._python = (python_callable, list(op_args or ()), dict(op_kwargs or {}))
        self.python_callable = python_callable
        super().__init__(**kwargs)

    def fields(self, owner: str, builder: DagBuilder) -> dict[str, Any]:
        function, args, kwargs = self._python
        return {
            **python_fields(owner, builder, function, args, kwargs),
            **self.sensor_fields(owner),
        }

    def poke(self, context: Mapping[str, Any]) -> bool | PokeReturnValue:
        function, args, kwargs = self._python
        return function(*args, **kwargs)  # type: ignore[no-any-return]


def _base_time(context: Mapping[str, Any]) -> datetime:
    """What Airflow's time sensors count from: the run's ``data_interval_end``, else its
    logical date (Airflow's ``run_after``)."""
    for name in ("data_interval_end", "logical_date"):
        value = context.get(name)
        if isinstance(value, datetime):
            return _aware(value)
    raise ValueError("the run has no data_interval_end nor logical date to count from")


class _TimeSensor(BaseSensorOperator):
    """A sensor that waits until a moment: done once it has passed."""

    def target(self, context: Mapping[str, Any]) -> datetime:
        raise NotImplementedError

    def poke(self, context: Mapping[str, Any]) -> bool | PokeReturnValue:
        return datetime.now(UTC) >= self.target(context)

    def trigger(self, context: Mapping[str, Any]) -> dict[str, Any] | None:
        return {"kind": "time", "at": self.target(context).isoformat()}


class TimeDeltaSensor(_TimeSensor):
    """``TimeDeltaSensor(delta=)``: waits until ``delta`` after the run's data interval end
    (or its logical date)."""

    def __init__(self, *, delta: timedelta | float, **kwargs: Any) -> None:
        self.delta = delta if isinstance(delta, timedelta) else timedelta(seconds=float(delta))
        super().__init__(**kwargs)

    def target(self, context: Mapping[str, Any]) -> datetime:
        return _base_time(context) + self.delta


class TimeDeltaSensorAsync(TimeDeltaSensor):
    """``TimeDeltaSensor(deferrable=True)``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**{**kwargs, "deferrable": True})


class DateTimeSensor(_TimeSensor):
    """``DateTimeSensor(target_time=)``: a ``datetime`` or ISO 8601 text (templated)."""

    template_fields: Sequence[str] = ("target_time",)

    def __init__(self, *, target_time: datetime | str, **kwargs: Any) -> None:
        if not isinstance(target_time, datetime | str):
            raise TypeError(
                f"DateTimeSensor: target_time must be a datetime or str, got {target_time!r}"
            )
        self.target_time = (
            target_time.isoformat() if isinstance(target_time, datetime) else target_time
        )
        super().__init__(**kwargs)

    def target(self, context: Mapping[str, Any]) -> datetime:
        return _moment(self.target_time)


class DateTimeSensorAsync(DateTimeSensor):
    """``DateTimeSensor(deferrable=True)``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**{**kwargs, "deferrable": True})


class TimeSensor(_TimeSensor):
    """``TimeSensor(target_time=time)``: waits until that time of day (UTC) on the day of the
    run's data interval end."""

    def __init__(self, *, target_time: time | str, **kwargs: Any) -> None:
        self.target_time = (
            target_time if isinstance(target_time, time) else time.fromisoformat(target_time)
        )
        super().__init__(**kwargs)

    def target(self, context: Mapping[str, Any]) -> datetime:
        day = _base_time(context).astimezone(UTC).date()
        return _aware(datetime.combine(day, self.target_time))


class TimeSensorAsync(TimeSensor):
    """``TimeSensor(deferrable=True)``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**{**kwargs, "deferrable": True})


class FileSensor(BaseSensorOperator):
    """``FileSensor(filepath=, fs_conn_id="fs_default", recursive=False)``: done once a file
    matches ``filepath`` (a glob pattern; a folder counts when it holds a file). Deferred,
    the scheduler checks the path on its own host: a shared filesystem is assumed."""

    template_fields: Sequence[str] = ("filepath",)

    def __init__(
        self,
        *,
        filepath: str,
        fs_conn_id: str = "fs_default",
        recursive: bool = False,
        **kwargs: Any,
    ) -> None:
        if fs_conn_id != "fs_default":
            raise UnsupportedArgument(
                f"FileSensor: fs_conn_id={fs_conn_id!r} is not supported; Pinflow's FileSensor "
                "reads the local filesystem (fs_default): give the whole path in filepath"
            )
        self.filepath, self.fs_conn_id, self.recursive = filepath, fs_conn_id, recursive
        super().__init__(**kwargs)

    def poke(self, context: Mapping[str, Any]) -> bool | PokeReturnValue:
        for path in glob.glob(self.filepath, recursive=self.recursive):
            if os.path.isfile(path):
                return True
            if any(files for _, _, files in os.walk(path)):
                return True
        return False

    def trigger(self, context: Mapping[str, Any]) -> dict[str, Any] | None:
        return {"kind": "file", "path": self.filepath, "recursive": self.recursive}
