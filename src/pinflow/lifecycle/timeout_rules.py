"""``dagrun_timeout``: when a running run has run too long, and what its timeout does.

Airflow's behaviour: a running run older than its DAG's ``dagrun_timeout`` (counted from the
run's start) is failed; its unfinished task instances become ``skipped`` (the live ones are
stopped). The engine finds the runs this rule names and applies it, one transaction each,
guarded by the run's state so that two schedulers fail a run once (ADR 0038).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from pinflow.lifecycle.states import FINISHED_TASK_STATES, TaskState

TIMED_OUT_REASON = "timed out"

# Every unfinished state goes to ``skipped`` (Airflow sets them all so, running ones too).
UNFINISHED_TASK_STATES = tuple(s for s in TaskState if s not in FINISHED_TASK_STATES)


def run_deadline(start_date: datetime | None, timeout: float | None) -> datetime | None:
    """When a run started at ``start_date`` times out; ``None``: never (no timeout, or not
    started)."""
    if start_date is None or timeout is None:
        return None
    return start_date + timedelta(seconds=timeout)


def is_timed_out(start_date: datetime | None, timeout: float | None, now: datetime) -> bool:
    """FailRunOnTimeout: the run has outlived its ``dagrun_timeout``. Why: a run that hangs
    (a sensor that never succeeds, a stuck task) must not hold its DAG's ``max_active_runs``
    slot for ever, and its owner must learn that it failed."""
    deadline = run_deadline(start_date, timeout)
    return deadline is not None and now >= deadline


def timeout_moves() -> Mapping[TaskState, tuple[TaskState, ...]]:
    """The task moves of a timed-out run: every unfinished instance becomes ``skipped``."""
    return {TaskState.SKIPPED: UNFINISHED_TASK_STATES}
