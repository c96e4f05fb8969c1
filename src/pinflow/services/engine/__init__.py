"""The engine: the scheduler's hot path and its safety net. Claims and starts tries
(``claims``, ``pools``, ``starts``), records heartbeats and results (``heartbeats``,
``reports``, ``steps``), advances runs (``scheduling``, ``new_runs``, ``sweep``), fails the
runs past their ``dagrun_timeout`` (``run_timeouts``), keeps PostgreSQL's planner statistics
of the busiest tables fresh (``statistics``, ADR 0046), hands tries to executors
(``dispatch``), stores XComs and resolves a task's inputs (``xcom_store``, ``inputs``),
recovers lost tries, creates scheduled runs, queues and hands out run-end callbacks
(``run_callbacks``, ADR 0044), wakes schedulers, records the
fleet's heartbeats (``fleet``: schedulers, workers, the broker); records asset events and
creates the runs they trigger (``assets``, ADR 0037); serves remote
workers' tries (``remote_tries``, authenticated by ``try_tokens``). Called by the scheduler and
the executors, and by the execution API (``/execution/v1``, ADR 0012) on behalf of a remote
worker; never by a user's route: those change state through ``commands``.

The decisions it applies are ``pinflow.lifecycle``'s (``run_planning``, ``try_rules``,
``claim_rules``); what differs between SQLite and PostgreSQL is ``pinflow.store.dialect``'s.

This face is the room's public API; the modules behind it are private."""

from __future__ import annotations

from pinflow.runtime.paths import log_path, staging_path
from pinflow.services.engine import _assets as assets
from pinflow.services.engine import _claims as claims
from pinflow.services.engine import _dispatch as dispatch
from pinflow.services.engine import _fleet as fleet
from pinflow.services.engine import _heartbeats as heartbeats
from pinflow.services.engine import _inputs as inputs
from pinflow.services.engine import _new_runs as new_runs
from pinflow.services.engine import _pools as pools
from pinflow.services.engine import _recovery as recovery
from pinflow.services.engine import _remote_tries as remote_tries
from pinflow.services.engine import _reports as reports
from pinflow.services.engine import _run_callbacks as run_callbacks
from pinflow.services.engine import _schedules as schedules
from pinflow.services.engine import _scheduling as scheduling
from pinflow.services.engine import _starts as starts
from pinflow.services.engine import _statistics as statistics
from pinflow.services.engine import _steps as steps
from pinflow.services.engine import _sweep as sweep
from pinflow.services.engine import _try_tokens as try_tokens
from pinflow.services.engine import _wakeups as wakeups
from pinflow.services.engine import _xcom_store as xcom_store
from pinflow.services.engine._assets import create_asset_runs
from pinflow.services.engine._claims import ClaimedTask, claim_scheduled
from pinflow.services.engine._dispatch import (
    DispatchRecord,
    RunContext,
    bundle_bytes,
    has_unfinished_runs,
    next_retry_at,
    record_dispatches,
    resolve_arguments,
    run_context,
    task_definition,
)
from pinflow.services.engine._fleet import scheduler_id, worker_id
from pinflow.services.engine._heartbeats import heartbeat
from pinflow.services.engine._inputs import get_inputs
from pinflow.services.engine._new_runs import start_new_runs
from pinflow.services.engine._recovery import find_lost_tries, recover_lost_tries
from pinflow.services.engine._rendered import set_rendered_fields
from pinflow.services.engine._reports import NO_XCOM, TaskReport, finish_task
from pinflow.services.engine._requests import task_request
from pinflow.services.engine._results import record_result, report_of
from pinflow.services.engine._run_callbacks import ClaimedCallback
from pinflow.services.engine._run_timeouts import TimeoutSweep, fail_timed_out_runs
from pinflow.services.engine._schedules import (
    create_scheduled_runs,
    next_schedule_at,
    scheduled_dags,
)
from pinflow.services.engine._sensors import resume_deferred
from pinflow.services.engine._starts import StartedTask, claim_and_start, start_task
from pinflow.services.engine._steps import report_and_claim
from pinflow.services.engine._sweep import (
    count_running_runs,
    release_due_retries,
    schedule_pass,
    sweep_pass,
)
from pinflow.services.engine._try_tokens import (
    EXECUTION_SCOPE,
    QUEUE_SCOPE,
    TryClaims,
    TryTokens,
    claims_of,
)
from pinflow.services.engine._wakeups import CHANNEL
from pinflow.services.engine._xcom_store import has_xcom, reported_xcom, request_arguments

__all__ = [
    "CHANNEL",
    "EXECUTION_SCOPE",
    "NO_XCOM",
    "QUEUE_SCOPE",
    "ClaimedCallback",
    "ClaimedTask",
    "DispatchRecord",
    "RunContext",
    "StartedTask",
    "TaskReport",
    "TimeoutSweep",
    "TryClaims",
    "TryTokens",
    "assets",
    "bundle_bytes",
    "claim_and_start",
    "claim_scheduled",
    "claims",
    "claims_of",
    "count_running_runs",
    "create_asset_runs",
    "create_scheduled_runs",
    "dispatch",
    "fail_timed_out_runs",
    "find_lost_tries",
    "finish_task",
    "fleet",
    "get_inputs",
    "has_unfinished_runs",
    "has_xcom",
    "heartbeat",
    "heartbeats",
    "inputs",
    "log_path",
    "new_runs",
    "next_retry_at",
    "next_schedule_at",
    "pools",
    "record_dispatches",
    "record_result",
    "recover_lost_tries",
    "recovery",
    "release_due_retries",
    "remote_tries",
    "report_and_claim",
    "report_of",
    "reported_xcom",
    "reports",
    "request_arguments",
    "resolve_arguments",
    "resume_deferred",
    "run_callbacks",
    "run_context",
    "schedule_pass",
    "scheduled_dags",
    "scheduler_id",
    "schedules",
    "scheduling",
    "set_rendered_fields",
    "staging_path",
    "start_new_runs",
    "start_task",
    "starts",
    "statistics",
    "steps",
    "sweep",
    "sweep_pass",
    "task_definition",
    "task_request",
    "try_tokens",
    "wakeups",
    "worker_id",
    "xcom_store",
]
