"""Airflow's ``DAG`` (a context manager) and ``@dag``, building ordinary Pinflow DAG specs.

Both translate Airflow's arguments (``_options``) and hand them to the SDK's
``dag_template``, so the spec is checked, digested and versioned like any other. ``with
DAG(...)`` has no function to call, so it drives the SDK's builder and collector itself.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Mapping
from datetime import datetime
from types import TracebackType
from typing import Any

from pinflow.compat.airflow._assets import is_asset_schedule, schedule_condition
from pinflow.compat.airflow._callbacks import callback_refs
from pinflow.compat.airflow._dag_callbacks import RUN_END_RUNNER
from pinflow.compat.airflow._groups import resolve_group_edges
from pinflow.compat.airflow._local import LocalTasks, capturing
from pinflow.compat.airflow._options import (
    EXTRAS,
    UnsupportedArgument,
    default_args,
    refuse,
    schedule,
)
from pinflow.compat.airflow._runner import finish_airflow_tasks
from pinflow.sdk.dag import Dag, DagFunction
from pinflow.sdk.dag import _collector as compiler_collector  # what DagFunction.build reads
from pinflow.sdk.dag_options import CALLBACK_RUNNER_OPTION, dag_template
from pinflow.sdk.graph import DagBuilder, building
from pinflow.sdk.options import type_name
from pinflow.spec.models import DagSpec

_SAME = frozenset(
    {
        "dag_id",
        "description",
        "start_date",
        "end_date",
        "catchup",
        "tags",
        "params",
        "max_active_runs",
        "max_active_tasks",
        "requirements",  # Pinflow's own: the version's environment (ADR 0032)
        "bundle_files",  # Pinflow's own: files shipped with the DAG (ADR 0041)
        "dagrun_timeout",  # ADR 0038
    }
)
_RENAMED = {"dag_display_name": "name", "is_paused_upon_creation": "paused_at_creation"}
_HARMLESS_VALUES: dict[str, object] = {
    "is_paused_upon_creation": None,  # the instance's dags_are_paused_at_creation decides
    "template_searchpath": None,
    "user_defined_macros": None,
    "user_defined_filters": None,
    "access_control": None,
    "owner_links": None,
    "auto_register": True,
    "fail_fast": False,
}
# DAG-level callbacks: called when a run ends, with Airflow's context (ADR 0044).
_DAG_CALLBACKS = frozenset({"on_success_callback", "on_failure_callback"})
_DAG_ALTERNATIVES = {
    "timetable": "timetables are not supported; use a cron string schedule",
    "schedule_interval": "Airflow 3 removed it; use schedule=",
}


def translate_dag_options(owner: str, options: Mapping[str, object]) -> dict[str, Any]:
    """Airflow ``DAG``/``@dag`` arguments as Pinflow ``@dag`` options."""
    translated: dict[str, Any] = {}
    dag_level: dict[str, Any] = {}
    native = bool(options.get("render_template_as_native_obj"))
    translated.update(_dag_callbacks(owner, options))
    handled = _DAG_CALLBACKS | {"render_template_as_native_obj"}
    options = {k: v for k, v in options.items() if k not in handled}
    for name, value in options.items():
        if name in _SAME:
            translated[name] = value
        elif name == "default_args":
            translated["default_args"], dag_level = default_args(owner, value)
        elif name == "doc_md" and value is not None:
            continue  # joined to the description below
        elif name == "fail_fast" and value is True:
            translated["error_strategy"] = "fail_fast"
        elif name in _HARMLESS_VALUES and value == _HARMLESS_VALUES[name]:
            continue
        elif name in _RENAMED:
            translated[_RENAMED[name]] = value
        elif name != "schedule":
            raise _refused(owner, name, value)
    translated.update(_documented(translated, options.get("doc_md")))
    extras = {**dag_level.pop(EXTRAS, {}), **({"native": True} if native else {})}
    if extras:
        translated[EXTRAS] = extras  # for the tasks (``_runner.finish_airflow_tasks``)
    for name, value in dag_level.items():
        translated.setdefault(name, value)
    start = translated.get("start_date")
    if "schedule" in options:
        translated.update(_schedule_options(owner, options["schedule"], start))
    zone = _zone_name(start)
    if zone is not None:
        # Airflow takes the DAG's time zone from its start_date.
        translated.setdefault("timezone", zone)
    return translated


def _dag_callbacks(owner: str, options: Mapping[str, object]) -> dict[str, Any]:
    """DAG-level callbacks, called with Airflow's context when a run ends (ADR 0044); a
    lambda or a nested function is refused here, with Airflow's wording."""
    found = {name: options[name] for name in sorted(_DAG_CALLBACKS) if name in options}
    for name, value in found.items():
        callback_refs(owner, name, value)
    return {**found, CALLBACK_RUNNER_OPTION: RUN_END_RUNNER} if found else {}


def _schedule_options(owner: str, value: object, start: object) -> dict[str, Any]:
    """``schedule``: on assets (``assets``), or a cron schedule."""
    if is_asset_schedule(value):
        return {"assets": schedule_condition(owner, value)}
    start_at = start if isinstance(start, datetime) else None
    return {"schedule": schedule(owner, value, start_at)}


def with_doc(description: object, doc_md: object) -> str:
    """The DAG's description with its ``doc_md`` after it: both are shown on the DAG's and
    its versions' pages (Airflow shows ``doc_md`` as the DAG's documentation)."""
    parts = [str(p).strip() for p in (description, doc_md) if p and str(p).strip()]
    return "\n\n".join(dict.fromkeys(parts))


def _documented(translated: Mapping[str, Any], doc_md: object) -> dict[str, Any]:
    if doc_md is None:
        return {}
    return {"description": with_doc(translated.get("description"), doc_md)}


def _refused(owner: str, name: str, value: object) -> UnsupportedArgument:
    why = _DAG_ALTERNATIVES.get(name)
    if why is None:
        return refuse(owner, name, value)
    return UnsupportedArgument(
        f"{owner}: {name}={value!r} cannot be honoured: {why} (see docs/migrating-from-airflow.md)"
    )


def _zone_name(start: object) -> str | None:
    if not isinstance(start, datetime) or start.tzinfo is None:
        return None
    key = getattr(start.tzinfo, "key", None)
    if isinstance(key, str):
        return key
    offset = start.utcoffset()
    return "UTC" if offset is not None and not offset else None


def _named(dag_id: object, doc: str | None = None) -> Callable[[], None]:
    """A stand-in function for ``dag_template``, which names the DAG after a function."""

    def body() -> None:
        """Never called."""

    name = dag_id if isinstance(dag_id, str) else "dag"
    body.__name__ = body.__qualname__ = name
    body.__doc__ = doc
    return body


class DAG:
    """``with DAG("etl", schedule="@daily", ...) as dag:`` — tasks created in the block
    belong to it; the DAG is built and registered when the block ends."""

    def __init__(self, dag_id: str, **kwargs: Any) -> None:
        if not isinstance(dag_id, str):
            raise TypeError(f"DAG: dag_id must be a str, got {type_name(dag_id)}")
        self.dag_id = dag_id
        self.doc_md: str | None = None
        owner = f"DAG {dag_id!r}"
        options = translate_dag_options(owner, {**kwargs, "dag_id": dag_id})
        self._extras: dict[str, Any] = options.pop(EXTRAS, {})
        self._template: DagSpec = dag_template(_named(dag_id), options)
        caller = sys._getframe(1)
        self._where = (caller.f_code.co_filename, caller.f_lineno)
        self._builder: DagBuilder | None = None
        self._building: Any = None
        self.built: Dag | None = None

    def __enter__(self) -> DAG:
        collector = compiler_collector.get()
        self._builder = DagBuilder(self.dag_id, strict=collector is not None and collector.strict)
        self._building = building(self._builder)
        self._building.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._builder is not None
        self._building.__exit__(exc_type, exc, tb)
        if exc is not None:
            return
        template = self._template
        if self.doc_md:
            described = with_doc(template.description, self.doc_md)
            template = template.model_copy(update={"description": described})
        spec = finished_spec(template, self._builder, self._extras)
        self.built = Dag(spec=spec, filename=self._where[0], line=self._where[1])
        collector = compiler_collector.get()
        if collector is not None:
            collector.dags.append(self.built)

    def __repr__(self) -> str:
        return f"<DAG {self.dag_id!r}>"


def finished_spec(
    template: DagSpec, builder: DagBuilder, extras: Mapping[str, Any] | None = None
) -> DagSpec:
    """The template with the builder's tasks, edges to and from task groups resolved, and
    the runner named on the tasks that need Airflow's context (``_runner``)."""
    spec = template.model_copy(update={"tasks": builder.finish()})
    return finish_airflow_tasks(resolve_group_edges(builder, spec), extras or {})


class AirflowDagFunction(DagFunction[Any]):
    """``@dag``'s result: builds like the SDK's, and exposes ``local_tasks`` (see ``_local``)."""

    def __init__(
        self,
        function: Callable[..., object],
        template: DagSpec,
        extras: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(function, template)
        self._extras = dict(extras or {})
        self._last_call: tuple[tuple[Any, ...], dict[str, Any]] = ((), {})
        self._local: LocalTasks | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Dag:
        self._last_call = (args, dict(kwargs))
        return super().__call__(*args, **kwargs)

    def build(self, *args: Any, **kwargs: Any) -> Dag:
        """``DagFunction.build``, plus the task functions captured and group edges resolved."""
        collector = compiler_collector.get()
        builder = DagBuilder(self.dag_id, strict=collector is not None and collector.strict)
        with capturing(self.function.__qualname__), building(builder):
            self.function(*args, **kwargs)
        code = self.function.__code__
        spec = finished_spec(self.template, builder, self._extras)
        built = Dag(spec=spec, filename=code.co_filename, line=code.co_firstlineno)
        if collector is not None:
            collector.dags.append(built)
            collector.called.add(id(self))
        return built

    @property
    def local_tasks(self) -> LocalTasks:
        """The task functions the body defines, found by running it (nothing registered)."""
        if self._local is None:
            args, kwargs = self._last_call
            with (
                capturing(self.function.__qualname__) as capture,
                building(DagBuilder(self.dag_id)),
            ):
                self.function(*args, **kwargs)
            self._local = LocalTasks(capture.functions)
        return self._local


def dag(dag_id: object = None, /, **kwargs: Any) -> Any:
    """``@dag``, ``@dag(...)`` or ``@dag("etl", ...)`` with Airflow's arguments."""
    if callable(dag_id) and not isinstance(dag_id, str):
        return _make_dag(dag_id, kwargs)
    if dag_id is not None:
        kwargs = {**kwargs, "dag_id": dag_id}
    return lambda function: _make_dag(function, kwargs)


def _make_dag(function: Callable[..., object], kwargs: Mapping[str, Any]) -> AirflowDagFunction:
    owner = f"@dag {getattr(function, '__qualname__', function)!r}"
    if callable(function) and inspect.signature(function).parameters:
        # Airflow makes them DAG params that a trigger can override; as plain arguments they
        # would silently keep their defaults.
        raise UnsupportedArgument(
            f"{owner}: parameters of a @dag function are DAG params in Airflow, which is not "
            "supported yet; use @dag(params={...}) and declare `params` on the tasks "
            "(see docs/migrating-from-airflow.md)"
        )
    options = translate_dag_options(owner, kwargs)
    extras = options.pop(EXTRAS, {})
    return AirflowDagFunction(function, dag_template(function, options), extras)
