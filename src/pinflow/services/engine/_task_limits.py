"""``max_active_tis_per_dag`` during a claim (``_claims``): the live instances of the tasks
that have the limit, counted once per claim.

The limit is Airflow's: at most N instances of one task queued or running over all runs of its
DAG; whether one more fits is ``pinflow.lifecycle.claim_rules.task_has_room``'s decision. Only
a task that has the limit is counted, when the first of its instances is a candidate, so a
claim of tasks without it reads nothing more. The count is read under the DAG row's lock,
which every claim of that DAG holds (``_claims``), so it stays true until the claim commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import cast

from sqlalchemy import Table, bindparam, func, select
from sqlalchemy.orm import Session

from pinflow.lifecycle.states import LIVE_TASK_STATES
from pinflow.services import common
from pinflow.store.prepared import Prepared
from pinflow.store.tables import TaskInstance

_TI = cast(Table, TaskInstance.__table__)

TaskKey = tuple[str, str]  # (dag_id, task_id): what ``max_active_tis_per_dag`` counts
# (dag_id, task_id, snapshot digest): the limit is the pinned spec's, so runs pinned to other
# versions of the DAG may have another one (or none).
PinnedTask = tuple[str, str, str]


@dataclass
class TaskCounts:
    """Live instances of the tasks that have ``max_active_tis_per_dag``, during one claim.

    A task's count is read from the database the first time one of its instances is a
    candidate, under the DAG row's lock (see the module docstring). What this claim took of it
    before then and has not yet written (``pending``) is added, so the count is exact whether
    the claim queues page by page or leaves its rows ``scheduled`` for the caller.
    """

    session: Session
    live: dict[TaskKey, int] = field(default_factory=dict)
    pending: dict[TaskKey, int] = field(default_factory=dict)

    def of(self, key: TaskKey) -> int:
        live = self.live.get(key)
        if live is None:
            params = {"dag_id": key[0], "task_id": key[1]}
            (stored,) = _LIVE_OF_TASK.execute(common.conn(self.session), params).fetchone()
            live = self.live[key] = int(stored) + self.pending.get(key, 0)
        return live

    def take(self, key: TaskKey) -> None:
        if key in self.live:
            self.live[key] += 1
        self.pending[key] = self.pending.get(key, 0) + 1

    def written(self, keys: list[TaskKey]) -> None:
        """The rows of ``keys`` taken by this claim are now written (``queued``, counted by a
        later read)."""
        for key in keys:
            self.pending[key] -= 1


_LIVE_OF_TASK = Prepared(  # built once: the claim runs after every report
    select(func.count())
    .select_from(_TI)
    .where(_TI.c.dag_id == bindparam("dag_id"), _TI.c.task_id == bindparam("task_id"))
    .where(_TI.c.state.in_(sorted(state.value for state in LIVE_TASK_STATES)))
)
