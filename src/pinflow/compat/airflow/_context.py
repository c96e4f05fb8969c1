"""Airflow's task context (``**context``, ``get_current_context()``, template variables),
built inside the task process from Pinflow's (``pinflow.sdk.context``).

The keys are Airflow 3's: ``ds``, ``ds_nodash``, ``ts``, ``ts_nodash``, ``logical_date``,
``data_interval_start``/``_end``, ``run_id``, ``dag_run``, ``ti``/``task_instance``,
``params``, ``dag``, ``task``, ``macros``, ``var``, ``conn``, ``try_number``, ``map_index``...
``ti.xcom_push``/``xcom_pull``, ``var`` and ``conn`` go over the try's own channel
(``pinflow.sdk.task_api``): the task process never touches the database.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from pinflow.compat.airflow import _macros as macros
from pinflow.compat.airflow._assets import TriggeringAssetEvents
from pinflow.compat.airflow._resources import Connection, Variable
from pinflow.compat.airflow.exceptions import AirflowNotFoundException
from pinflow.sdk import task_api
from pinflow.sdk.context import TaskContext, current_context

RETURN_VALUE = "return_value"
Context = dict[str, Any]
"""Airflow's ``Context`` type: what a task's ``**context`` receives."""
_NOTSET: Any = object()


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


@dataclass
class RuntimeTaskInstance:
    """``ti`` / ``task_instance``: the running try, with Airflow's XCom methods."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int
    max_tries: int
    hostname: str | None = None
    state: str = "running"

    def xcom_push(self, key: str, value: Any) -> None:
        """Push ``value`` (JSON) under ``key`` for this task instance."""
        task_api.xcom_push(key, value)

    def xcom_pull(
        self,
        task_ids: str | Iterable[str] | None = None,
        dag_id: str | None = None,
        key: str = RETURN_VALUE,
        include_prior_dates: bool = False,
        *,
        map_indexes: int | Iterable[int] | None = None,
        default: Any = None,
        run_id: str | None = None,
    ) -> Any:
        """An XCom of this run, as Airflow 3 answers: one value for one task id (and one map
        index), a list for several, ``default`` for what is missing."""
        _refuse_elsewhere(self, dag_id, run_id, include_prior_dates)
        single_task = task_ids is None or isinstance(task_ids, str)
        single_index = map_indexes is None or isinstance(map_indexes, int)
        ids = [self.task_id] if task_ids is None else _listed(task_ids)
        indexes = [-1] if map_indexes is None else _listed(map_indexes)
        values = []
        for task_id in ids:
            for index in indexes:
                value = task_api.xcom_pull(task_id, key=key, map_index=index)
                values.append(default if value is None else value)
        return values[0] if single_task and single_index else values

    @property
    def key(self) -> str:
        return f"{self.dag_id}__{self.task_id}__{self.run_id}__{self.map_index}"


def _listed(value: Any) -> list[Any]:
    return [value] if isinstance(value, str | int) else list(value)


def _refuse_elsewhere(
    ti: RuntimeTaskInstance, dag_id: str | None, run_id: str | None, prior: bool
) -> None:
    if (dag_id not in (None, ti.dag_id)) or (run_id not in (None, ti.run_id)) or prior:
        raise ValueError(
            "xcom_pull: a task reads the XComs of its own run only in Pinflow (dag_id=, "
            "run_id= and include_prior_dates=True are not supported); pass the value "
            "through the run's params or a Variable instead"
        )


class _VariableAccessor:
    """``var.value.name`` / ``var.json.name`` / ``var.value.get(name, default)``."""

    def __init__(self, deserialize_json: bool) -> None:
        self._json = deserialize_json

    def __getattr__(self, key: str) -> Any:
        if key.startswith("__"):
            raise AttributeError(key)
        return Variable.get(key, deserialize_json=self._json)

    def get(self, key: str, default: Any = _NOTSET) -> Any:
        if default is _NOTSET:
            return Variable.get(key, deserialize_json=self._json)
        return Variable.get(key, default, deserialize_json=self._json)


class _ConnectionAccessor:
    """``conn.my_conn.host`` / ``conn.get("my_conn")``."""

    def __getattr__(self, conn_id: str) -> Any:
        if conn_id.startswith("__"):
            raise AttributeError(conn_id)
        return Connection.get(conn_id)

    def get(self, conn_id: str, default: Any = None) -> Any:
        try:
            return Connection.get(conn_id)
        except AirflowNotFoundException:
            return default


def build_context(pinflow: TaskContext, task_fields: Mapping[str, Any]) -> dict[str, Any]:
    """Airflow 3's context for the running try; ``task_fields``: the task's own attributes
    (``templates_dict``...), exposed on ``context["task"]`` too."""
    logical = _when(pinflow.logical_date)
    ti = RuntimeTaskInstance(
        dag_id=pinflow.dag_id,
        run_id=pinflow.run_id,
        task_id=pinflow.task_id,
        map_index=pinflow.map_index,
        try_number=pinflow.try_number,
        max_tries=pinflow.max_tries,
    )
    dag = SimpleNamespace(dag_id=pinflow.dag_id, params=dict(pinflow.params))
    task = SimpleNamespace(task_id=pinflow.task_id, dag_id=pinflow.dag_id, dag=dag, **task_fields)
    context: dict[str, Any] = {
        "dag": dag,
        "task": task,
        "ti": ti,
        "task_instance": ti,
        "dag_run": _dag_run(pinflow, logical),
        "run_id": pinflow.run_id,
        "params": dict(pinflow.params),
        "conf": dict(pinflow.conf),
        "try_number": pinflow.try_number,
        "map_index": pinflow.map_index,
        "logical_date": logical,
        "data_interval_start": _when(pinflow.data_interval_start),
        "data_interval_end": _when(pinflow.data_interval_end),
        "macros": macros,
        "var": SimpleNamespace(value=_VariableAccessor(False), json=_VariableAccessor(True)),
        "conn": _ConnectionAccessor(),
        "templates_dict": task_fields.get("templates_dict"),
        "inlets": [],
        "outlets": [],
        "triggering_asset_events": TriggeringAssetEvents(pinflow.triggering_asset_events),
        "test_mode": False,
    }
    context.update(_date_strings(pinflow, logical))
    return context


def _dag_run(pinflow: TaskContext, logical: datetime | None) -> SimpleNamespace:
    return SimpleNamespace(
        dag_id=pinflow.dag_id,
        run_id=pinflow.run_id,
        run_type=pinflow.run_type,
        logical_date=logical,
        data_interval_start=_when(pinflow.data_interval_start),
        data_interval_end=_when(pinflow.data_interval_end),
        conf=dict(pinflow.conf),
    )


def _date_strings(pinflow: TaskContext, logical: datetime | None) -> dict[str, Any]:
    """``ds``, ``ts`` and their kin: ``None`` for a run without a logical date."""
    if logical is None:
        names = ("ds", "ds_nodash", "ts", "ts_nodash", "ts_nodash_with_tz")
        return {**dict.fromkeys(names), "task_instance_key_str": None}
    ds = logical.strftime("%Y-%m-%d")
    return {
        "ds": ds,
        "ds_nodash": ds.replace("-", ""),
        "ts": logical.isoformat(),
        "ts_nodash": logical.strftime("%Y%m%dT%H%M%S"),
        "ts_nodash_with_tz": logical.isoformat().replace("-", "").replace(":", ""),
        "task_instance_key_str": f"{pinflow.dag_id}__{pinflow.task_id}__{ds.replace('-', '')}",
    }


_airflow_context: ContextVar[dict[str, Any] | None] = ContextVar(
    "pinflow_airflow_context", default=None
)


@contextmanager
def airflow_context(context: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Make ``context`` what ``get_current_context()`` returns while the task runs."""
    token = _airflow_context.set(context)
    try:
        yield context
    finally:
        _airflow_context.reset(token)


def get_current_context() -> dict[str, Any]:
    """Airflow's ``get_current_context()``: the running task's context (a ``RuntimeError``
    outside a running task, as in Airflow)."""
    context = _airflow_context.get()
    if context is not None:
        return context
    return build_context(current_context(), {})
