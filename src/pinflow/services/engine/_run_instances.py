"""A running run's task instances as a scheduling step reads and moves them.

The reads group a run's task instances by task and state (``load_instances``: a mapped
task's elements cost a row per state, not a row each) and ask whether any is unfinished
(``has_unfinished``, ``any_unfinished_of``: an index range, not a scan). The moves are guarded
``UPDATE … WHERE state = :from_state`` (``apply_move``): a move is a claim about the state it
was planned from, never a blind write. Every report takes these paths, so their statements
are built once (building one costs more than running it) and read plain rows.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Select, Table, Update, bindparam, case, func, select, update
from sqlalchemy.orm import Session

from pinflow.lifecycle.mapping import RunInstances, XComValues
from pinflow.lifecycle.run_planning import TaskMove
from pinflow.lifecycle.states import DUE_AGAIN_STATES, FINISHED_TASK_STATES, TaskState
from pinflow.services import common
from pinflow.services.engine._xcom_store import outputs_by_index
from pinflow.spec.models import TaskSpec, XComRef
from pinflow.store.prepared import Prepared
from pinflow.store.tables import TaskInstance

_TI = cast(Table, TaskInstance.__table__)
_UNFINISHED = sorted(state.value for state in TaskState if state not in FINISHED_TASK_STATES)


def _instances_stmt(*, some: bool) -> Select[Any]:
    ti = _TI.c
    placeholder = func.min(case((ti.map_index == -1, ti.id)))
    stmt = select(ti.task_id, ti.state, func.count(), func.max(ti.map_index), placeholder).where(
        ti.run_pk == bindparam("run_pk")
    )
    if some:
        stmt = stmt.where(ti.task_id.in_(bindparam("task_ids", expanding=True)))
    return stmt.group_by(ti.task_id, ti.state).order_by(func.min(ti.id))


# Built once: on the report path, building a statement costs more than running it.
_ALL_INSTANCES = Prepared(_instances_stmt(some=False))
_SOME_INSTANCES = Prepared(_instances_stmt(some=True))
_ANY_UNFINISHED = Prepared(
    select(_TI.c.id)
    .where(_TI.c.run_pk == bindparam("run_pk"), _TI.c.state.in_(_UNFINISHED))
    .limit(1)
)


_BUSY = frozenset(TaskState) - FINISHED_TASK_STATES - {TaskState.NONE}


def busy(states: Mapping[str, Sequence[TaskState]]) -> bool:
    return any(state in _BUSY for group in states.values() for state in group)


def load_instances(
    session: Session, run_pk: int, task_ids: Collection[str] | None = None
) -> RunInstances:
    """The run's task instances (only those of ``task_ids`` when given), grouped by task and
    state (one query): a mapped task's elements cost a row per state, not a row each. Tasks
    come in creation order."""
    # Plain rows, no ORM result processing: this is on every report's path.
    if task_ids is None:
        rows = _ALL_INSTANCES.execute(common.conn(session), {"run_pk": run_pk}).fetchall()
    else:
        params = {"run_pk": run_pk, "task_ids": sorted(task_ids)}
        rows = _SOME_INSTANCES.execute(common.conn(session), params).fetchall()
    return RunInstances.of(rows)


def upstream_set(task: TaskSpec) -> frozenset[str]:
    found = _UPSTREAM_SETS.get(id(task))
    if found is None or found[0] is not task:
        found = _UPSTREAM_SETS[id(task)] = (task, frozenset(task.upstream_task_ids))
        if len(_UPSTREAM_SETS) > 1024:
            _UPSTREAM_SETS.pop(next(iter(_UPSTREAM_SETS)))
    return found[1]


_UPSTREAM_SETS: dict[int, tuple[TaskSpec, frozenset[str]]] = {}
_ANY_UNFINISHED_OF = Prepared(
    select(_TI.c.id)
    .where(_TI.c.run_pk == bindparam("run_pk"), _TI.c.state.in_(_UNFINISHED))
    .where(_TI.c.task_id.in_(bindparam("task_ids", expanding=True)))
    .limit(1)
)


def any_unfinished_of(session: Session, run_pk: int, task_ids: Sequence[str]) -> bool:
    if not task_ids:
        return False
    params = {"run_pk": run_pk, "task_ids": list(task_ids)}
    return _ANY_UNFINISHED_OF.execute(common.conn(session), params).fetchone() is not None


def has_unfinished(session: Session, run_pk: int) -> bool:
    """Whether a task instance of the run is not finished (an index range, not a scan)."""
    found = _ANY_UNFINISHED.execute(common.conn(session), {"run_pk": run_pk}).fetchone()
    return found is not None


def read_xcoms(session: Session, run_pk: int, refs: Sequence[XComRef]) -> XComValues:
    """The stored values the ``refs`` name, with every ``map_index`` (one query); a value in
    the artifact store is a ``StoredValue`` (expanding needs only its length)."""
    wanted = {(r.task_id, r.key) for r in refs}
    outputs = outputs_by_index(session, run_pk, {t for t, _ in wanted})
    values: dict[tuple[str, str], dict[int, Any]] = {}
    for (task_id, key, map_index), value in outputs.items():
        if (task_id, key) in wanted:
            values.setdefault((task_id, key), {})[map_index] = value
    return values


def _move_stmt(*, finished: bool) -> Update:
    ti = _TI.c
    values: dict[str, Any] = {"state": bindparam("to_state"), "updated_at": bindparam("stamp")}
    if finished:
        values.update(end_date=bindparam("stamp"), next_try_at=None)
    return (
        update(_TI)
        .where(ti.run_pk == bindparam("run"), ti.task_id == bindparam("task"))
        .where(ti.state == bindparam("from_state"))
        .values(values)
    )


_MOVE = {finished: Prepared(_move_stmt(finished=finished)) for finished in (False, True)}
_RELEASE_RETRIES = Prepared(
    update(_TI)
    .where(_TI.c.run_pk == bindparam("run"), _TI.c.state.in_(sorted(DUE_AGAIN_STATES)))
    .where(_TI.c.next_try_at <= bindparam("due_by"))
    .values(state=TaskState.SCHEDULED.value, next_try_at=None, updated_at=bindparam("stamp"))
)


def apply_move(session: Session, run_pk: int, move: TaskMove, stamp: datetime) -> int:
    params = {
        "run": run_pk,
        "task": move.task_id,
        "from_state": move.from_state.value,
        "to_state": move.to_state.value,
        "stamp": stamp,
    }
    stmt = _MOVE[move.to_state in FINISHED_TASK_STATES]
    return stmt.execute(common.conn(session), params).rowcount


def release_due_retries_of(session: Session, run_pk: int, due_by: datetime, stamp: datetime) -> int:
    params = {"run": run_pk, "due_by": due_by, "stamp": stamp}
    return _RELEASE_RETRIES.execute(common.conn(session), params).rowcount
