"""DAG-level destructive actions of seed 000 as named rules: clear history, deregister, purge.

Each rule takes a ``DagFacts`` (whether the DAG is deregistered, the ``Impact`` of the action,
and whether the caller forces it) and refuses with the reason shown to the user, or passes.

Choices beyond the seed:

- "Tasks are running" means task instances in ``queued`` or ``running`` (Airflow's delete-DAG
  check counts ``running`` only; a queued task may start any moment, so it counts too).
- Deregister also refuses while *runs* are queued or running, even when no task is live at
  that instant: a deregistered DAG leaves every schedule, so such a run would never advance
  and would sit "running" for ever. ``force`` marks those runs and their unfinished task
  instances ``failed`` instead.
- Purge is allowed only after deregister (Airflow-like two-step safety): deregister is soft
  and restorable, so the permanent step can never be the first and only click.
"""

from __future__ import annotations

from dataclasses import dataclass

from pinflow.lifecycle.decisions import Refusal, Rule

_SHOWN_RUN_IDS = 5


@dataclass(frozen=True)
class Impact:
    """What a destructive action on one DAG touches (the preview, and the result afterwards).

    ``staging_dirs`` and ``log_paths`` are the files the caller removes once the rows are gone,
    and ``run_ids`` name the runs whose artifacts it removes: the database cannot delete
    files, and deleting them before the commit could lose data on a rollback.
    """

    dag_id: str
    runs_total: int = 0
    runs_in_flight: tuple[str, ...] = ()  # run_ids of queued/running runs
    running_tasks: int = 0  # task instances queued or running
    task_instances: int = 0
    versions: int = 0  # every version row, soft-deleted ones included
    xcoms: int = 0
    staging_dirs: tuple[str, ...] = ()
    log_paths: tuple[str, ...] = ()
    run_ids: tuple[str, ...] = ()

    @property
    def in_flight(self) -> bool:
        return bool(self.runs_in_flight) or self.running_tasks > 0


@dataclass(frozen=True)
class DagFacts:
    dag_id: str
    deregistered: bool
    impact: Impact
    force: bool = False


def _run_ids(impact: Impact) -> str:
    shown = ", ".join(impact.runs_in_flight[:_SHOWN_RUN_IDS])
    more = len(impact.runs_in_flight) - _SHOWN_RUN_IDS
    return shown + (f" and {more} more" if more > 0 else "")


def _refuse_while_tasks_run(d: DagFacts) -> Refusal | None:
    if d.force or d.impact.running_tasks == 0:
        return None
    return Refusal(
        "RefuseWhileTasksRun",
        f"DAG {d.dag_id!r} has {d.impact.running_tasks} task instance(s) queued or running "
        f"(runs in flight: {_run_ids(d.impact) or 'none'}); wait for them to finish or force "
        "the action.",
    )


RefuseWhileTasksRun = Rule[DagFacts](
    "RefuseWhileTasksRun",
    "Seed 000: clearing, deregistering or purging a DAG pulls rows out from under live task "
    "processes; doing it must be a deliberate, forced choice made after seeing the impact.",
    _refuse_while_tasks_run,
)


def _refuse_deregister_with_runs_in_flight(d: DagFacts) -> Refusal | None:
    if d.force or not d.impact.runs_in_flight:
        return None
    return Refusal(
        "RefuseDeregisterWithRunsInFlight",
        f"DAG {d.dag_id!r} has {len(d.impact.runs_in_flight)} run(s) queued or running "
        f"({_run_ids(d.impact)}); wait for them to finish, or force to mark them failed.",
    )


RefuseDeregisterWithRunsInFlight = Rule[DagFacts](
    "RefuseDeregisterWithRunsInFlight",
    "A deregistered DAG leaves every schedule, so its unfinished runs would never advance; "
    "they must finish first, or be marked failed on purpose (force).",
    _refuse_deregister_with_runs_in_flight,
)


def _require_registered(d: DagFacts) -> Refusal | None:
    if d.deregistered:
        return Refusal("RequireRegistered", f"DAG {d.dag_id!r} is already deregistered.")
    return None


RequireRegistered = Rule[DagFacts](
    "RequireRegistered",
    "Deregistering twice would overwrite who deregistered the DAG and when.",
    _require_registered,
)


def _require_deregistered(d: DagFacts) -> Refusal | None:
    if not d.deregistered:
        return Refusal(
            "RequireDeregistered", f"DAG {d.dag_id!r} is not deregistered; nothing to restore."
        )
    return None


RequireDeregistered = Rule[DagFacts](
    "RequireDeregistered",
    "Restore undoes a deregister; on a registered DAG it would do nothing and say it did.",
    _require_deregistered,
)


def _require_deregistered_for_purge(d: DagFacts) -> Refusal | None:
    if not d.deregistered:
        return Refusal(
            "RequireDeregisteredForPurge",
            f"DAG {d.dag_id!r} must be deregistered before it can be purged.",
        )
    return None


RequireDeregisteredForPurge = Rule[DagFacts](
    "RequireDeregisteredForPurge",
    "Purge is permanent. Requiring the soft, restorable deregister first (as Airflow requires "
    "a DAG to be gone before its metadata is deleted) means no single action destroys a live "
    "DAG, its versions and its history.",
    _require_deregistered_for_purge,
)

CLEAR_HISTORY = (RefuseWhileTasksRun,)
DEREGISTER = (RequireRegistered, RefuseWhileTasksRun, RefuseDeregisterWithRunsInFlight)
RESTORE = (RequireDeregistered,)
PURGE = (RequireDeregisteredForPurge, RefuseWhileTasksRun)
