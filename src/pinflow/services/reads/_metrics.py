"""What ``/metrics`` counts in the database at each scrape: rows by state, and the depth of
each queue. Counted from the database (not from any process's memory), so every API server
gives the same figures, whichever scheduler or worker changed them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import InstrumentedAttribute

from pinflow.lifecycle.states import TaskState
from pinflow.store.db import Database
from pinflow.store.tables import DagRun, TaskInstance, TaskInstanceTry

# Waiting for a slot (scheduled) or for a worker (queued): what "queue depth" means here.
WAITING = (TaskState.SCHEDULED.value, TaskState.QUEUED.value)


@dataclass(frozen=True)
class StateCounts:
    runs: dict[str, int]  # dag_run by state
    task_instances: dict[str, int]  # task_instance by state
    tries: dict[str, int]  # task_instance_try by state
    queue_depth: dict[tuple[str, str], int]  # (queue, state) of waiting task instances


def state_counts(db: Database) -> StateCounts:
    """One read transaction, four grouped counts (each uses the state index of its table)."""
    with db.read() as s:

        def by_state(column: InstrumentedAttribute[str]) -> dict[str, int]:
            rows = s.execute(select(column, func.count()).group_by(column)).all()
            return {str(state): int(n) for state, n in rows}

        waiting = s.execute(
            select(TaskInstance.queue, TaskInstance.state, func.count())
            .where(TaskInstance.state.in_(WAITING))
            .group_by(TaskInstance.queue, TaskInstance.state)
        ).all()
        return StateCounts(
            runs=by_state(DagRun.state),
            task_instances=by_state(TaskInstance.state),
            tries=by_state(TaskInstanceTry.state),
            queue_depth={(str(q), str(st)): int(n) for q, st, n in waiting},
        )
