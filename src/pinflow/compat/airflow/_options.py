"""Airflow's task and DAG arguments translated to Pinflow's, or refused with a reason.

An Airflow argument either maps onto a Pinflow option with the same meaning, is accepted
because the value given asks for nothing Pinflow does differently (``email_on_failure=False``),
or is refused: a DAG that compiled while silently dropping ``email_on_failure=True`` or
``dagrun_timeout`` would behave differently from what its author reads.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from pinflow.sdk.options import type_name

# Airflow names with the same meaning in Pinflow (``doc_md`` is the task's documentation).
_TASK_RENAMES = {"doc_md": "doc", "doc": "doc"}
_TASK_SAME = frozenset(
    {
        "task_id",
        "retries",
        "retry_delay",
        "retry_exponential_backoff",
        "max_retry_delay",
        "execution_timeout",
        "trigger_rule",
        "pool",
        "pool_slots",
        "queue",
        "max_active_tis_per_dag",
        "depends_on_past",  # ADR 0038
    }
)
# Accepted when the value is the one given here (Airflow's default, or "off").
_HARMLESS_VALUES: dict[str, object] = {
    "email_on_failure": False,
    "email_on_retry": False,
    "multiple_outputs": False,
    "do_xcom_push": True,
    "wait_for_downstream": False,
}
# Accepted whatever the value: they change nothing a run does.
_IGNORED = frozenset({"email", "owner", "task_display_name", "doc_json", "doc_yaml", "doc_rst"})

_CALLBACK_PLACES = (
    "callbacks are supported on @task functions, operators and the DAG's default_args, not "
    "here (@task.bash, a task group's default_args) yet"
)
_ALTERNATIVES = {
    "wait_for_downstream": "not supported yet; use depends_on_past=True on the downstream "
    "tasks too",
    "email_on_failure": "e-mail is not sent by Pinflow; remove it",
    "email_on_retry": "e-mail is not sent by Pinflow; remove it",
    "multiple_outputs": "not supported yet; return one dict and index it in the next task",
    "do_xcom_push": "not supported; every task's return value is kept as its output",
    "on_failure_callback": _CALLBACK_PLACES,
    "on_success_callback": _CALLBACK_PLACES,
    "on_retry_callback": _CALLBACK_PLACES,
    "on_execute_callback": _CALLBACK_PLACES,
    "on_skipped_callback": _CALLBACK_PLACES,
    "priority_weight": "Pinflow does not order ready tasks by priority; remove it "
    "(use pools to limit concurrency)",
    "weight_rule": "Pinflow does not order ready tasks by priority; remove it",
    "sla": "SLAs are not supported; use execution_timeout",
    "templates_dict": "set it on a @task function or a PythonOperator",
    "executor_config": "not supported; use queue= to choose workers",
    "resources": "not supported; use pool_slots",
    "map_index_template": "not supported yet; mapped elements are shown by map index, and a "
    "task can print its own label; remove it",
}


class UnsupportedArgument(ValueError):  # noqa: N818 - reads as "unsupported argument"
    """An Airflow argument that Pinflow cannot honour; the message names the alternative."""


def refuse(owner: str, name: str, value: object) -> UnsupportedArgument:
    why = _ALTERNATIVES.get(
        name, "not supported by Pinflow's Airflow compatibility layer; remove it"
    )
    return UnsupportedArgument(
        f"{owner}: {name}={value!r} cannot be honoured: {why} (see docs/migrating-from-airflow.md)"
    )


# What the task process does for an Airflow task beyond Pinflow's fields (callbacks, the
# templates_dict), carried in the spec's args under this reserved name (see ``_runner``).
EXTRAS = "__airflow__"
_EXTRA_NAMES = frozenset(
    {
        "on_execute_callback",
        "on_success_callback",
        "on_failure_callback",
        "on_retry_callback",
        "on_skipped_callback",
        "templates_dict",
    }
)


def task_options(
    owner: str, options: Mapping[str, object], *, extras: bool = False
) -> dict[str, Any]:
    """Airflow task arguments (or ``default_args``) as Pinflow task options. With
    ``extras``, callbacks and ``templates_dict`` are kept under ``EXTRAS`` (for the caller
    to pop and put in the task's args with ``_runner.with_extras``); without, refused."""
    translated: dict[str, Any] = {}
    kept: dict[str, Any] = {}
    for name, value in options.items():
        if extras and name in _EXTRA_NAMES:
            kept[name] = value
        elif name in _TASK_SAME:
            translated[name] = value
        elif name in ("outlets", "inlets"):
            from pinflow.compat.airflow._assets import task_assets

            translated[name] = task_assets(owner, name, value)
        elif name in _TASK_RENAMES:
            if value is not None:
                translated[_TASK_RENAMES[name]] = value
        elif not _accepted(name, value):
            raise refuse(owner, name, value)
    if kept:
        translated[EXTRAS] = airflow_extras(owner, kept)
    return translated


def airflow_extras(owner: str, options: Mapping[str, object]) -> dict[str, Any]:
    """Callbacks as references and the ``templates_dict``, as the spec keeps them."""
    from pinflow.compat.airflow._callbacks import callback_refs

    extras: dict[str, Any] = {}
    callbacks = {
        name: callback_refs(owner, name, value)
        for name, value in options.items()
        if name.endswith("_callback")
    }
    if any(callbacks.values()):
        extras["callbacks"] = {name: refs for name, refs in callbacks.items() if refs}
    if options.get("templates_dict") is not None:
        templates = options["templates_dict"]
        if not isinstance(templates, Mapping):
            raise TypeError(f"{owner}: templates_dict must be a dict, got {type_name(templates)}")
        extras["templates_dict"] = dict(templates)
    return extras


def _accepted(name: str, value: object) -> bool:
    return name in _IGNORED or (name in _HARMLESS_VALUES and value == _HARMLESS_VALUES[name])


def default_args(owner: str, args: object) -> tuple[dict[str, Any], dict[str, Any]]:
    """``default_args`` split into Pinflow ``default_args`` and DAG-level options that
    Airflow 2 DAG files often put there (``start_date``, ``end_date``, ``owner``)."""
    if not isinstance(args, Mapping):
        raise TypeError(f"{owner}: default_args must be a dict, got {type_name(args)}")
    dag_level = {k: args[k] for k in ("start_date", "end_date") if k in args}
    rest = {k: v for k, v in args.items() if k not in dag_level}
    owner_name = rest.pop("owner", None)
    defaults = task_options(f"{owner} default_args", rest, extras=True)
    for name in ("task_id", "pool_slots", "max_active_tis_per_dag", "doc", "outlets", "inlets"):
        if name in defaults:
            raise UnsupportedArgument(
                f"{owner}: default_args[{name!r}] is a per-task setting in Pinflow; "
                "set it on each task"
            )
    if "templates_dict" in defaults.get(EXTRAS, {}):
        raise UnsupportedArgument(
            f"{owner}: default_args['templates_dict'] is a per-task setting; set it on each task"
        )
    if EXTRAS in defaults:
        dag_level[EXTRAS] = defaults.pop(EXTRAS)
    if owner_name is not None:
        defaults["owner"] = owner_name
    return defaults, dag_level


def schedule(owner: str, value: object, start_date: datetime | None) -> str | None:
    """Airflow's ``schedule``: ``None``, a preset or cron string, or a ``timedelta`` that
    lines up with a cron expression from ``start_date`` (``timedelta(days=1)`` from midnight
    is ``@daily``)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, timedelta):
        cron = _delta_as_cron(value, start_date)
        if cron is not None:
            return cron
        raise UnsupportedArgument(
            f"{owner}: schedule={value!r} does not line up with a cron expression from "
            f"start_date {start_date!r}; use a cron string such as '0 * * * *' "
            "(see docs/migrating-from-airflow.md)"
        )
    if isinstance(value, list | tuple):
        raise UnsupportedArgument(
            f"{owner}: schedule={value!r}: a list schedules on assets and holds only Asset, "
            "AssetAll or AssetAny objects (asset aliases are not supported yet)"
        )
    raise UnsupportedArgument(
        f"{owner}: schedule of type {type_name(value)} (a timetable?) is not supported; "
        "use a cron string, a preset like '@daily', a timedelta or None"
    )


def _delta_as_cron(delta: timedelta, start: datetime | None) -> str | None:
    seconds = int(delta.total_seconds())
    at = start or datetime(2000, 1, 1)
    if seconds <= 0 or seconds != delta.total_seconds() or at.second or at.microsecond:
        return None
    minutes, hours = seconds // 60, seconds // 3600
    if seconds == 86400 and at.hour == 0 and at.minute == 0:
        return "@daily"
    if seconds == 7 * 86400 and at.weekday() == 6 and at.hour == 0 and at.minute == 0:
        return "@weekly"
    if seconds % 3600 == 0 and 24 % hours == 0 and at.minute == 0 and at.hour % hours == 0:
        return "@hourly" if hours == 1 else f"0 */{hours} * * *"
    if seconds % 60 == 0 and 60 % minutes == 0 and at.minute % minutes == 0:
        return f"*/{minutes} * * * *"
    return None
