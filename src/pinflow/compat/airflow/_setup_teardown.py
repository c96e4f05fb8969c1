"""Airflow's setup and teardown tasks: ``@setup``, ``@teardown``, ``.as_setup()``,
``.as_teardown(setups=...)`` and ``with teardown_task:``, on Pinflow's ``setup``/``teardown``
task flags (ADR 0033).

A teardown gets Airflow's ``all_done_setup_success`` trigger rule: it runs once its upstreams
are done if one of its setups succeeded, even when the work between them failed; its failure
does not fail the run unless ``on_failure_fail_dagrun=True``. Setups are found among a
teardown's direct upstreams, which is how every construct here links them (Airflow's docs
ask for the same: "s and t are linked directly").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pinflow.compat.airflow._groups import connect, work_leaves
from pinflow.compat.airflow._options import UnsupportedArgument
from pinflow.sdk.graph import XComArg
from pinflow.spec.models import TriggerRule

# Pinflow task options the Airflow-shaped decorators set themselves (not Airflow arguments).
FLOW_OPTIONS = frozenset(
    {"flow", "ignore_downstream_trigger_rules", "setup", "teardown", "on_failure_fail_dagrun"}
)


def split_flow_options(options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``options`` as (the flow options, the Airflow arguments to translate)."""
    flow = {k: v for k, v in options.items() if k in FLOW_OPTIONS}
    return flow, {k: v for k, v in options.items() if k not in FLOW_OPTIONS}


def mark_setup(handle: XComArg) -> None:
    fields = handle.builder.task_fields(handle.task_id)
    if fields.get("teardown"):
        raise ValueError(f"task {handle.task_id!r} is a teardown; it cannot be a setup too")
    handle.builder.update_task(handle, {"setup": True})


def mark_teardown(
    handle: XComArg, setups: object = None, on_failure_fail_dagrun: bool | None = None
) -> None:
    """``handle.as_teardown(setups=...)``: Airflow marks the setups, and adds the edges
    ``setup >> teardown``."""
    if handle.builder.task_fields(handle.task_id).get("setup"):
        raise ValueError(f"task {handle.task_id!r} is a setup; it cannot be a teardown too")
    fields: dict[str, Any] = {"teardown": True, "trigger_rule": TriggerRule.ALL_DONE_SETUP_SUCCESS}
    if on_failure_fail_dagrun is not None:
        if not isinstance(on_failure_fail_dagrun, bool):
            raise TypeError(f"task {handle.task_id!r}: on_failure_fail_dagrun must be a bool")
        fields["on_failure_fail_dagrun"] = on_failure_fail_dagrun
    handle.builder.update_task(handle, fields)
    listed = setups if isinstance(setups, list | tuple) else [] if setups is None else [setups]
    for setup in listed:
        if not isinstance(setup, XComArg):
            raise TypeError(f"as_teardown(setups=...) takes tasks, got {setup!r}")
        mark_setup(setup)
        connect(setup, handle)


class SetupTeardownScope:
    """``with teardown_task:`` (or ``with setup_task:``): the tasks created in the block run
    after the setups and before the teardowns (Airflow's setup/teardown context manager)."""

    def __init__(self, handle: XComArg) -> None:
        builder, task_id = handle.builder, handle.task_id
        fields = builder.task_fields(task_id)
        if fields.get("teardown"):
            setups = [u for u in builder.upstream_ids(task_id) if _is(builder, u, "setup")]
            teardowns = [task_id]
        elif fields.get("setup"):
            setups = [task_id]
            teardowns = [
                t
                for t in builder.task_ids
                if _is(builder, t, "teardown") and task_id in builder.upstream_ids(t)
            ]
        else:
            raise UnsupportedArgument(
                f"task {task_id!r}: only setup and teardown tasks can be used as context "
                "managers (`with teardown_task:`)"
            )
        self._handle, self._setups, self._teardowns = handle, setups, teardowns
        self._before = set(builder.task_ids)

    def close(self) -> None:
        builder = self._handle.builder
        ends = {*self._setups, *self._teardowns}
        new = [t for t in builder.task_ids if t not in self._before and t not in ends]
        upstream = {t: [u for u in builder.upstream_ids(t) if u in set(new)] for t in new}
        for root in (t for t in new if not upstream[t]):
            for setup in self._setups:
                builder.add_dependency(XComArg(builder, setup), XComArg(builder, root))
        for leaf in work_leaves(new, upstream, lambda t, flag: _is(builder, t, flag)):
            for teardown in self._teardowns:
                builder.add_dependency(XComArg(builder, leaf), XComArg(builder, teardown))


def _is(builder: Any, task_id: str, flag: str) -> bool:
    return bool(builder.task_fields(task_id).get(flag))


def setup_decorator(make: Callable[..., Any]) -> Callable[..., Any]:
    """``@setup``: ``make(function, options)`` builds the task."""

    def setup(python_callable: Any = None) -> Any:
        if python_callable is None:
            return setup
        return make(python_callable, {"setup": True})

    return setup


def teardown_decorator(make: Callable[..., Any]) -> Callable[..., Any]:
    """``@teardown`` / ``@teardown(on_failure_fail_dagrun=True)``."""

    def teardown(python_callable: Any = None, *, on_failure_fail_dagrun: bool = False) -> Any:
        options = {"teardown": True, "on_failure_fail_dagrun": on_failure_fail_dagrun}
        if python_callable is None:
            return lambda function: make(function, options)
        return make(python_callable, options)

    return teardown
