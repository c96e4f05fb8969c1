"""The engine: the scheduler's hot path and its safety net. Claims and starts tries, records
their results and advances runs (scheduling, task results, pools, dispatch), stores XComs,
recovers lost tries, creates scheduled runs, wakes schedulers. Called by the scheduler and the
executors, never by a route: a route changes state through ``commands``.

This face is the room's public API; the modules behind it are private."""

from __future__ import annotations

from pinflow.services.engine import _dispatch as dispatch
from pinflow.services.engine import _pools as pools
from pinflow.services.engine import _recovery as recovery
from pinflow.services.engine import _schedules as schedules
from pinflow.services.engine import _scheduling as scheduling
from pinflow.services.engine import _task_results as task_results
from pinflow.services.engine import _wakeups as wakeups
from pinflow.services.engine import _xcom_store as xcom_store
from pinflow.services.engine._dispatch import (
    DispatchRecord,
    RunContext,
    bundle_bytes,
    has_unfinished_runs,
    log_path,
    next_retry_at,
    record_dispatches,
    resolve_arguments,
    run_context,
    staging_path,
    task_definition,
)
from pinflow.services.engine._recovery import find_lost_tries, recover_lost_tries
from pinflow.services.engine._schedules import (
    create_scheduled_runs,
    next_schedule_at,
    scheduled_dags,
)
from pinflow.services.engine._scheduling import release_due_retries, schedule_pass, start_new_runs
from pinflow.services.engine._task_results import (
    NO_XCOM,
    ClaimedTask,
    StartedTask,
    TaskReport,
    claim_and_start,
    claim_scheduled,
    finish_task,
    get_inputs,
    heartbeat,
    report_and_claim,
    start_task,
)
from pinflow.services.engine._wakeups import CHANNEL
from pinflow.services.engine._xcom_store import has_xcom, reported_xcom, request_arguments

__all__ = [
    "CHANNEL",
    "NO_XCOM",
    "ClaimedTask",
    "DispatchRecord",
    "RunContext",
    "StartedTask",
    "TaskReport",
    "bundle_bytes",
    "claim_and_start",
    "claim_scheduled",
    "create_scheduled_runs",
    "dispatch",
    "find_lost_tries",
    "finish_task",
    "get_inputs",
    "has_unfinished_runs",
    "has_xcom",
    "heartbeat",
    "log_path",
    "next_retry_at",
    "next_schedule_at",
    "pools",
    "record_dispatches",
    "recover_lost_tries",
    "recovery",
    "release_due_retries",
    "report_and_claim",
    "reported_xcom",
    "request_arguments",
    "resolve_arguments",
    "run_context",
    "schedule_pass",
    "scheduled_dags",
    "schedules",
    "scheduling",
    "staging_path",
    "start_new_runs",
    "start_task",
    "task_definition",
    "task_results",
    "wakeups",
    "xcom_store",
]
