"""Moving a run's task instances at once, as an operator's mark or a run's timeout does: the
history rows of live tries being overwritten are closed, and their late results are refused
as stale (``lifecycle.try_rules``). In the caller's transaction, with the run's row lock."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from pinflow.lifecycle.states import FINISHED_TASK_STATES, LIVE_TASK_STATES, TaskState
from pinflow.services.common import now
from pinflow.services.engine._scheduling import execute_guarded
from pinflow.store.tables import TaskInstance, TaskInstanceTry

_LIVE = tuple(s.value for s in LIVE_TASK_STATES)


def close_live_tries(s: Session, ti_ids: Sequence[int], state: TaskState, reason: str) -> None:
    """The history rows of live tries being overwritten end with ``state`` and ``reason``."""
    s.execute(
        update(TaskInstanceTry)
        .where(TaskInstanceTry.ti_id.in_(ti_ids), TaskInstanceTry.state.in_(_LIVE))
        .values(state=state.value, end_date=now(), error=reason)
    )


def mark_tasks(
    s: Session, run_pk: int, moves: Mapping[TaskState, Sequence[str]], why: str
) -> tuple[int, list[int]]:
    """Guarded moves of the run's task instances: ``{new state: from states}``. Returns how
    many changed, and the ids of those that were live (queued or running): their tries are
    to be stopped."""
    changed, live = 0, []
    for new, olds in moves.items():
        rows = s.execute(
            select(TaskInstance.id, TaskInstance.state).where(
                TaskInstance.run_pk == run_pk, TaskInstance.state.in_(olds)
            )
        ).all()
        if not rows:
            continue
        ids = [row.id for row in rows]
        close_live_tries(s, ids, new, why)
        values: dict[str, Any] = {"state": new.value, "updated_at": now(), "next_try_at": None}
        if new in FINISHED_TASK_STATES:
            values["end_date"] = now()
        changed += execute_guarded(
            s,
            update(TaskInstance)
            .where(TaskInstance.id.in_(ids), TaskInstance.state.in_(olds))
            .values(**values),
        )
        live += [row.id for row in rows if row.state in _LIVE]
    return changed, live
