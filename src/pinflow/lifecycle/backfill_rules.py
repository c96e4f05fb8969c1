"""What a backfill does with each date of its range: pure decisions (ADR 0040).

A date with no run gets a new one. A date that already has a run keeps it, or has it re-run,
as the backfill's ``reprocess_behavior`` says (Airflow 3's choices): ``none`` never touches
it, ``failed`` re-runs a failed one, ``completed`` re-runs any finished one. A run in flight
(queued or running) is never touched, whatever the behaviour: re-running it would race its
own tasks.
"""

from __future__ import annotations

from enum import StrEnum

from pinflow.lifecycle.states import RunState


class ReprocessBehavior(StrEnum):
    NONE = "none"
    FAILED = "failed"
    COMPLETED = "completed"


class DateAction(StrEnum):
    CREATE = "create"  # no run for the date: a new backfill run
    RERUN = "rerun"  # the existing run is cleared and joins the backfill
    KEEP = "keep"  # the existing run stays as it is


_RERUN_STATES = {
    ReprocessBehavior.NONE: frozenset[str](),
    ReprocessBehavior.FAILED: frozenset({RunState.FAILED.value}),
    ReprocessBehavior.COMPLETED: frozenset({RunState.FAILED.value, RunState.SUCCESS.value}),
}


def action_for(behavior: ReprocessBehavior, existing_state: str | None) -> DateAction:
    """What to do with one date, given the state of the run it already has (``None``: none)."""
    if existing_state is None:
        return DateAction.CREATE
    if existing_state in _RERUN_STATES[behavior]:
        return DateAction.RERUN
    return DateAction.KEEP


def may_change(completed: bool, what: str) -> str | None:
    """Why a pause, unpause or cancel is refused (``None``: it may go ahead): a completed or
    cancelled backfill has nothing left to start."""
    if completed:
        return f"The backfill is completed (or cancelled); there is nothing left to {what}."
    return None
