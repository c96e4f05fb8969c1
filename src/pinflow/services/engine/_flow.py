"""Applying what a branch or short-circuit task's value decides (``lifecycle.flow_rules``).

Asked by ``finish_in`` for a successful try of a task with ``flow``, in the report's
transaction: the tasks the rule names are moved ``none`` -> ``skipped`` with guarded updates
before the run advances, so trigger rules carry the skip on in the same step. A value the
rule cannot follow (an unknown task id) fails the try instead, as Airflow's branch operators
raise.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from pinflow.lifecycle.flow_rules import FlowDecision, flow_decision
from pinflow.lifecycle.run_planning import MoveReason, TaskMove
from pinflow.lifecycle.states import TaskState
from pinflow.services.engine._run_instances import apply_move
from pinflow.services.engine._scheduling import RunRow
from pinflow.services.engine._try_rows import TiRow
from pinflow.services.engine._xcom_store import StoredXCom
from pinflow.store.repo import cached_spec


def decide_flow(s: Session, run: RunRow, ti: TiRow, value: Any) -> FlowDecision | None:
    """The decision of ``ti``'s task on its return ``value``; ``None`` for an ordinary task.
    ``value`` is what the try reported (a ``StoredXCom`` when it went to the artifact store,
    which the control plane does not read: such a value cannot be followed)."""
    spec = cached_spec(s, run.snapshot_digest)
    task = spec.task(ti.task_id)
    if task is None or task.flow is None:
        return None
    if isinstance(value, StoredXCom):
        return FlowDecision(
            error=f"the return value of {task.flow.value} task {task.task_id!r} is too large "
            "to decide on (it went to the artifact store); return the task ids or a bool"
        )
    return flow_decision(spec, task, value)


def skip_decided(s: Session, run: RunRow, decision: FlowDecision, stamp: datetime) -> list[str]:
    """Skip the tasks ``decision`` names that have not started; the ones moved."""
    moved = []
    for task_id in decision.skip:
        move = TaskMove(task_id, TaskState.NONE, TaskState.SKIPPED, MoveReason.FLOW)
        if apply_move(s, run.id, move, stamp):
            moved.append(task_id)
    return moved
