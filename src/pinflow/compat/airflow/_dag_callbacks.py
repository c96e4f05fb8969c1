"""A DAG's ``on_success_callback``/``on_failure_callback``, called as Airflow 3 calls them.

At compile time the callbacks become references in the spec (``RunCallbacks``) with this
module's ``run`` as their runner. When the run ends, a process of its own on the scheduler's
host (``pinflow.runtime.run_callbacks``; never the scheduler itself) calls ``run(refs,
end)``, which builds Airflow's context for a DAG callback (the task context of the run's
last failed task instance, or of its last one, plus ``reason``: ``success``,
``task_failure`` or ``timed_out``) and calls each callback with it. One that raises is
logged and the next one still runs, as in Airflow; the run's state never changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from pinflow.compat.airflow._context import airflow_context, build_context
from pinflow.sdk.context import RunEnd, TaskContext
from pinflow.sdk.loader import call_each

RUN_END_RUNNER = "pinflow.compat.airflow._dag_callbacks:run"


def dag_callback_context(end: RunEnd) -> dict[str, Any]:
    """Airflow's context for a DAG callback of the run ``end`` describes."""
    last = dict(end.last_task or {})
    pinflow = TaskContext(
        dag_id=end.dag_id,
        run_id=end.run_id,
        task_id=str(last.get("task_id", "")),
        map_index=int(last.get("map_index", -1)),
        try_number=int(last.get("try_number", 0)),
        logical_date=end.logical_date,
        data_interval_start=end.data_interval_start,
        data_interval_end=end.data_interval_end,
        run_type=end.run_type,
        params=end.params,
        conf=end.conf,
    )
    context = build_context(pinflow, {})
    if last:
        context["ti"].state = last.get("state")
    else:  # a run that ended with no task instance ending (a timeout before any started)
        context["ti"] = context["task_instance"] = None
    run = context["dag_run"]
    run.state = end.state
    run.start_date = _when(end.start_date)
    run.end_date = _when(end.end_date)
    run.failed_tasks = list(end.failed_tasks)
    context["dag"] = SimpleNamespace(dag_id=end.dag_id, params=dict(end.params))
    context["reason"] = end.reason
    return context


def run(refs: Sequence[str], end: RunEnd) -> list[str]:
    """Call each callback with the context; the errors of those that raised."""
    context = dag_callback_context(end)
    with airflow_context(context):
        return call_each(refs, context)


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None
