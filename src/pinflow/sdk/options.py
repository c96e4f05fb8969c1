"""Checking and converting the options given to ``@task`` and ``default_args``.

Options are checked when the decorator is applied, so a typo fails at import time with the
function's name in the message, not later in the scheduler. Types are checked strictly (a
retry count given as ``"3"`` is an error, not coerced) because a DAG file is code: the author
can fix it, and silent coercion would hide the mistake in a published, immutable artifact.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any, TypedDict

from pinflow.spec.assets import AssetSpec
from pinflow.spec.models import ID_PATTERN, TaskFlow, TriggerRule

Checker = Callable[[str, str, object], Any]


class ExecutionOptions(TypedDict, total=False):
    """How a task is run: retries, timeouts, pool, queue. Unset ones fall back to
    ``default_args``; ``pool_slots`` and ``max_active_tis_per_dag`` are the task's own."""

    retries: int
    retry_delay: timedelta | float
    retry_exponential_backoff: bool
    max_retry_delay: timedelta | float
    execution_timeout: timedelta | float
    trigger_rule: TriggerRule | str
    pool: str
    pool_slots: int
    queue: str
    max_active_tis_per_dag: int
    outlets: Sequence[AssetSpec | str]
    inlets: Sequence[AssetSpec | str]
    depends_on_past: bool


class OperatorOptions(ExecutionOptions, total=False):
    """Options of ``task.bash(bash_command=...)`` and ``task.http(...)`` besides their own.

    ``setup`` / ``teardown``: Airflow's setup and teardown tasks (ADR 0033). A teardown's
    trigger rule defaults to ``all_done_setup_success``: it runs once its upstreams are done
    if a setup among them succeeded, even when the work failed, and its own failure does not
    fail the run unless ``on_failure_fail_dagrun``.
    """

    doc: str
    setup: bool
    teardown: bool
    on_failure_fail_dagrun: bool


class TaskOptions(OperatorOptions, total=False):
    """Options of ``@task(...)``, ``@task.bash(...)`` and ``.override(...)``; all optional."""

    task_id: str


class DefaultArgs(TypedDict, total=False):
    """Keys of ``@dag(default_args=...)``: defaults for every task, plus Airflow's ``owner``."""

    owner: str
    retries: int
    retry_delay: timedelta | float
    retry_exponential_backoff: bool
    max_retry_delay: timedelta | float
    execution_timeout: timedelta | float
    trigger_rule: TriggerRule | str
    pool: str
    queue: str
    depends_on_past: bool


def type_name(value: object) -> str:
    return type(value).__name__


def unknown_option(owner: str, name: str, known: Mapping[str, object]) -> ValueError:
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ValueError(
        f"{owner}: unknown option {name!r}{hint}; known options: {', '.join(sorted(known))}"
    )


def check_identifier(owner: str, name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{owner}: {name} must be a str, got {type_name(value)}")
    if len(value) > 250 or not re.fullmatch(ID_PATTERN, value):
        raise ValueError(
            f"{owner}: {name} {value!r} is not a valid id (letters, digits, '_', '.', '-'; "
            "not starting with '.' or '-'; at most 250 characters)"
        )
    return value


def check_int(minimum: int) -> Checker:
    def check(owner: str, name: str, value: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{owner}: {name} must be an int, got {type_name(value)}")
        if value < minimum:
            raise ValueError(f"{owner}: {name} must be >= {minimum}, got {value}")
        return value

    return check


def check_bool(owner: str, name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{owner}: {name} must be a bool, got {type_name(value)}")
    return value


def check_text(owner: str, name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{owner}: {name} must be a str, got {type_name(value)}")
    if not value.strip():
        raise ValueError(f"{owner}: {name} must not be empty")
    return value


def check_optional_text(owner: str, name: str, value: object) -> str | None:
    return None if value is None else check_text(owner, name, value)


def check_seconds(*, positive: bool) -> Checker:
    """A duration given as ``timedelta`` or a number of seconds, stored as float seconds."""

    def check(owner: str, name: str, value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, timedelta | int | float):
            raise TypeError(
                f"{owner}: {name} must be a timedelta or a number of seconds, "
                f"got {type_name(value)}"
            )
        seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
        too_small = seconds <= 0 if positive else seconds < 0
        if not math.isfinite(seconds) or too_small:
            bound = "> 0" if positive else ">= 0"
            raise ValueError(f"{owner}: {name} must be {bound} seconds, got {value!r}")
        return seconds

    return check


def check_trigger_rule(owner: str, name: str, value: object) -> TriggerRule:
    if not isinstance(value, str):
        raise TypeError(f"{owner}: {name} must be a str, got {type_name(value)}")
    try:
        return TriggerRule(value)
    except ValueError:
        known = ", ".join(rule.value for rule in TriggerRule)
        raise ValueError(f"{owner}: unknown {name} {value!r}; one of: {known}") from None


def check_flow(owner: str, name: str, value: object) -> TaskFlow:
    if not isinstance(value, str) or value not in set(TaskFlow):
        known = ", ".join(flow.value for flow in TaskFlow)
        raise ValueError(f"{owner}: unknown {name} {value!r}; one of: {known}")
    return TaskFlow(value)


def check_assets(owner: str, name: str, value: object) -> list[AssetSpec]:
    """``outlets``/``inlets``: a list of assets (an ``AssetSpec``, a URI, or a dict of its
    fields), each once."""
    items = [value] if isinstance(value, str | AssetSpec) else value
    if not isinstance(items, Sequence | set | frozenset) or isinstance(items, str):
        raise TypeError(f"{owner}: {name} must be a list of assets, got {type_name(value)}")
    assets: dict[str, AssetSpec] = {}
    for item in items:
        asset = as_asset(owner, name, item)
        assets.setdefault(asset.uri, asset)
    return list(assets.values())


def as_asset(owner: str, name: str, item: object) -> AssetSpec:
    """One asset of an option: an ``AssetSpec``, a URI, or a dict of its fields."""
    if isinstance(item, AssetSpec):
        return item
    try:
        if isinstance(item, str):
            return AssetSpec(uri=item)
        if isinstance(item, Mapping):
            return AssetSpec.model_validate(item)
    except ValueError as exc:
        raise ValueError(f"{owner}: {name}: {describe_invalid(exc)}") from None
    raise TypeError(f"{owner}: {name}: an asset is an Asset or a URI, got {type_name(item)}")


_DEFAULTABLE: dict[str, Checker] = {
    "retries": check_int(0),
    "retry_delay": check_seconds(positive=False),
    "retry_exponential_backoff": check_bool,
    "max_retry_delay": check_seconds(positive=False),
    "execution_timeout": check_seconds(positive=True),
    "trigger_rule": check_trigger_rule,
    "pool": check_text,
    "queue": check_text,
    "depends_on_past": check_bool,
}

TASK_CHECKERS: dict[str, Checker] = {
    "task_id": check_identifier,
    **_DEFAULTABLE,
    "pool_slots": check_int(1),
    "max_active_tis_per_dag": check_int(1),
    "doc": check_optional_text,
    "setup": check_bool,
    "teardown": check_bool,
    "on_failure_fail_dagrun": check_bool,
    "flow": check_flow,  # set by @task.branch / @task.short_circuit
    "ignore_downstream_trigger_rules": check_bool,
    "outlets": check_assets,
    "inlets": check_assets,
}

DEFAULT_ARGS_CHECKERS: dict[str, Checker] = {"owner": check_text, **_DEFAULTABLE}


def check_options(
    owner: str, options: Mapping[str, object], checkers: Mapping[str, Checker]
) -> dict[str, Any]:
    """Check every option against its checker; return the converted values (spec units)."""
    checked: dict[str, Any] = {}
    for name, value in options.items():
        checker = checkers.get(name)
        if checker is None:
            raise unknown_option(owner, name, checkers)
        checked[name] = checker(owner, name, value)
    return checked


def check_task_options(owner: str, options: Mapping[str, object]) -> dict[str, Any]:
    return check_options(owner, options, TASK_CHECKERS)


def check_default_args(owner: str, default_args: object) -> dict[str, Any]:
    if not isinstance(default_args, Mapping):
        raise TypeError(f"{owner}: default_args must be a dict, got {type_name(default_args)}")
    for key in default_args:
        if not isinstance(key, str):
            raise TypeError(f"{owner}: default_args keys must be str, got {type_name(key)}")
    return check_options(f"{owner} default_args", default_args, DEFAULT_ARGS_CHECKERS)


def node_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """A task's spec fields from its checked options: a teardown's trigger rule defaults to
    Airflow's ``all_done_setup_success``."""
    fields = {k: v for k, v in options.items() if k != "task_id"}
    if fields.get("teardown"):
        fields.setdefault("trigger_rule", TriggerRule.ALL_DONE_SETUP_SUCCESS)
    return fields


EXECUTION_CHECKERS: dict[str, Checker] = {
    name: checker for name, checker in TASK_CHECKERS.items() if name != "task_id"
}


def describe_invalid(exc: ValueError) -> str:
    """A one-line message for a spec model's validation error (``loc: msg; loc: msg``).

    Read by duck typing so that the SDK needs nothing but ``pinflow.spec`` and the stdlib.
    """
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    parts = []
    for error in errors():
        location = ".".join(str(part) for part in error.get("loc", ()))
        message = str(error.get("msg", "invalid"))
        parts.append(f"{location}: {message}" if location else message)
    return "; ".join(parts)
