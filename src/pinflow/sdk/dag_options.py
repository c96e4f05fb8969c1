"""Checking ``@dag(...)`` options and turning them into a task-less ``DagSpec`` template."""

from __future__ import annotations

import inspect
import zoneinfo
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any, TypedDict

from pinflow.sdk.options import (
    Checker,
    DefaultArgs,
    as_asset,
    check_bool,
    check_default_args,
    check_identifier,
    check_int,
    check_optional_text,
    check_seconds,
    check_text,
    describe_invalid,
    type_name,
    unknown_option,
)
from pinflow.sdk.params import params_to_specs
from pinflow.spec.assets import AssetCondition, AssetSpec
from pinflow.spec.models import DagSpec, ErrorStrategy
from pinflow.spec.requirements import RequirementsError, normalize_requirements

_TRIGGER_FIELDS = (
    "schedule",
    "timezone",
    "start_date",
    "end_date",
    "catchup",
    "max_catchup_runs",
    "assets",
)


class DagOptions(TypedDict, total=False):
    """Options of ``@dag(...)``; all optional. Durations are timedeltas or seconds."""

    dag_id: str
    name: str
    description: str
    schedule: str | None
    assets: AssetCondition | Sequence[AssetSpec | str] | AssetSpec | str
    timezone: str
    start_date: datetime | date | None
    end_date: datetime | date | None
    catchup: bool
    max_catchup_runs: int
    tags: Sequence[str]
    owner: str
    project: str
    workflow_set: str | None
    error_strategy: ErrorStrategy | str
    params: Mapping[str, Any]
    default_args: DefaultArgs
    max_active_runs: int
    max_active_tasks: int
    requirements: Sequence[str]
    paused_at_creation: bool
    bundle_files: Sequence[str]
    dagrun_timeout: timedelta | float | None
    on_success_callback: Callable[..., Any] | Sequence[Callable[..., Any]] | None
    on_failure_callback: Callable[..., Any] | Sequence[Callable[..., Any]] | None


_CALLBACK_OPTIONS = {"on_success_callback": "on_success", "on_failure_callback": "on_failure"}


# ``bundle_files=`` patterns by dag_id: what the compiler ships with the DAG beyond what it
# sees it import and open (ADR 0041). Not part of the spec: the files they match are in the
# snapshot's bundle, so the digest covers them, and a spec's canonical form (and every
# digest) stays what it was for DAGs that declare none.
DECLARED_BUNDLE_FILES: dict[str, tuple[str, ...]] = {}


def dag_template(function: Callable[..., Any], options: Mapping[str, object]) -> DagSpec:
    """The DAG's spec without tasks; raises ``TypeError``/``ValueError`` naming the function."""
    owner = f"@dag {function.__qualname__!r}"
    checked: dict[str, Any] = {
        "dag_id": function.__name__,
        "description": inspect.getdoc(function),
    }
    options = dict(options)
    patterns = _check_bundle_files(owner, "bundle_files", options.pop("bundle_files", ()))
    callbacks = {
        field: callback_refs(owner, name, options.pop(name))
        for name, field in _CALLBACK_OPTIONS.items()
        if name in options
    }
    runner = options.pop(CALLBACK_RUNNER_OPTION, None)
    if any(callbacks.values()):
        checked["callbacks"] = {**callbacks, "runner": runner}
    for name, value in options.items():
        checker = _CHECKERS.get(name)
        if checker is None:
            raise unknown_option(owner, name, _CHECKERS)
        checked[name] = checker(owner, name, value)
    defaults = dict(checked.pop("default_args", {}))
    default_owner = defaults.pop("owner", None)
    if "owner" not in checked and default_owner is not None:
        checked["owner"] = default_owner
    data: dict[str, Any] = {k: v for k, v in checked.items() if k not in _TRIGGER_FIELDS}
    data["trigger"] = {k: v for k, v in checked.items() if k in _TRIGGER_FIELDS}
    if data["trigger"].get("assets") is not None and data["trigger"].get("schedule"):
        raise ValueError(f"{owner}: give a schedule or assets to schedule on, not both")
    data["default_args"] = defaults
    try:
        template = DagSpec.model_validate(data)
    except ValueError as exc:
        raise ValueError(f"{owner}: {describe_invalid(exc)}") from None
    DECLARED_BUNDLE_FILES[template.dag_id] = patterns
    return template


# The Airflow layer's option naming the runner that calls its DAG callbacks with Airflow's
# context (``RunCallbacks.runner``); not for DAG authors.
CALLBACK_RUNNER_OPTION = "__callback_runner__"


def callback_refs(
    owner: str,
    name: str,
    value: object,
    refused: Callable[[object], Exception] | None = None,
) -> list[str]:
    """The ``module:qualname`` references of the callback(s) ``value``: each must be a
    module-level function, which the process that calls it imports by name. ``refused``
    makes the error for one that is not (the Airflow layer words it its way)."""
    if value is None:
        return []
    functions = list(value) if isinstance(value, list | tuple) else [value]
    refs = []
    for function in functions:
        module = getattr(function, "__module__", None)
        qualname = getattr(function, "__qualname__", None)
        if not callable(function) or not module or not qualname or "<" in qualname:
            if refused is not None:
                raise refused(function)
            raise TypeError(
                f"{owner}: {name}={function!r} cannot be called at the run's end: the process "
                "that calls it imports it by name; define it as a module-level function of "
                "the DAG file (or of a module the DAG file imports)"
            )
        refs.append(f"{module}:{qualname}")
    return refs


def _check_bundle_files(owner: str, name: str, value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence | set | frozenset):
        raise TypeError(
            f"{owner}: {name} must be a list of paths or globs relative to the bundle root "
            f"(['data/*.csv']), got {type_name(value)}"
        )
    patterns = sorted(value) if isinstance(value, set | frozenset) else list(value)
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern.strip("/ "):
            raise TypeError(f"{owner}: {name} holds {pattern!r}: each must be a non-empty str")
        if ".." in pattern.split("/") or pattern.startswith(("/", "~")):
            raise ValueError(
                f"{owner}: {name} pattern {pattern!r} must be relative to the bundle root, "
                "inside it"
            )
    return tuple(patterns)


def _check_name(owner: str, name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{owner}: {name} must be a str, got {type_name(value)}")
    return value


def _check_schedule(owner: str, name: str, value: object) -> str | None:
    if value is None:
        return None
    return check_text(owner, name, value).strip()


def _check_assets(owner: str, name: str, value: object) -> AssetCondition | None:
    """``assets=``: scheduled on assets. A condition, one asset, or a list of them (all)."""
    if value is None or isinstance(value, AssetCondition):
        return value
    if isinstance(value, Sequence) and not isinstance(value, str):
        if not value:
            raise ValueError(f"{owner}: {name} must name at least one asset")
        operands = [_operand(owner, name, item) for item in value]
        return AssetCondition(all=operands)
    return _operand(owner, name, value)


def _operand(owner: str, name: str, item: object) -> AssetCondition:
    if isinstance(item, AssetCondition):
        return item
    return AssetCondition(asset=as_asset(owner, name, item))


def _check_timezone(owner: str, name: str, value: object) -> str:
    text = check_text(owner, name, value)
    try:
        zoneinfo.ZoneInfo(text)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{owner}: unknown {name} {text!r} (an IANA name like 'UTC')") from None
    return text


def _check_date(owner: str, name: str, value: object) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time())
    raise TypeError(f"{owner}: {name} must be a datetime or date, got {type_name(value)}")


def _check_tags(owner: str, name: str, value: object) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence | set | frozenset):
        raise TypeError(f"{owner}: {name} must be a list of str, got {type_name(value)}")
    tags = list(value) if isinstance(value, Sequence) else sorted(value)
    if not all(isinstance(tag, str) for tag in tags):
        raise TypeError(f"{owner}: {name} must be a list of str")
    return list(dict.fromkeys(tags))


def _check_requirements(owner: str, name: str, value: object) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence | set | frozenset):
        raise TypeError(
            f"{owner}: {name} must be a list of PEP 508 strings, got {type_name(value)}"
        )
    try:
        return normalize_requirements(value)
    except RequirementsError as exc:
        raise ValueError(f"{owner}: {name}: {exc}") from None


def _check_error_strategy(owner: str, name: str, value: object) -> ErrorStrategy:
    if not isinstance(value, str):
        raise TypeError(f"{owner}: {name} must be a str, got {type_name(value)}")
    try:
        return ErrorStrategy(value)
    except ValueError:
        known = ", ".join(s.value for s in ErrorStrategy)
        raise ValueError(f"{owner}: unknown {name} {value!r}; one of: {known}") from None


def _check_params(owner: str, name: str, value: object) -> dict[str, Any]:
    return params_to_specs(owner, value)


def _check_default_args(owner: str, name: str, value: object) -> dict[str, Any]:
    return check_default_args(owner, value)


def _check_optional_seconds(owner: str, name: str, value: object) -> float | None:
    return None if value is None else check_seconds(positive=True)(owner, name, value)


_CHECKERS: dict[str, Checker] = {
    "dag_id": check_identifier,
    "name": _check_name,
    "description": check_optional_text,
    "schedule": _check_schedule,
    "assets": _check_assets,
    "timezone": _check_timezone,
    "start_date": _check_date,
    "end_date": _check_date,
    "catchup": check_bool,
    "paused_at_creation": check_bool,
    "max_catchup_runs": check_int(1),
    "tags": _check_tags,
    "owner": check_text,
    "project": check_identifier,
    "workflow_set": check_optional_text,
    "error_strategy": _check_error_strategy,
    "params": _check_params,
    "default_args": _check_default_args,
    "max_active_runs": check_int(1),
    "max_active_tasks": check_int(1),
    "requirements": _check_requirements,
    "dagrun_timeout": _check_optional_seconds,
}
