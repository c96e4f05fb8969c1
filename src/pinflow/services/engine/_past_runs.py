"""``depends_on_past`` in the engine: the previous run's states that ``lifecycle.past_rules``
decides on, and the wake-up of the next run when a past instance finishes (ADR 0038).

"Previous" is Airflow's: the DAG's run with the closest earlier logical date, whatever its
state or version. One statement reads it and its instances of the tasks asked about; a
scheduling step asks once, and only when it would schedule a task that depends on its past.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session, aliased

from pinflow.lifecycle.past_rules import PAST_DONE
from pinflow.lifecycle.states import RunState, TaskState
from pinflow.services.common import for_update
from pinflow.store.tables import DagRun, TaskInstance

_TI = cast(Table, TaskInstance.__table__)
_THIS, _OTHER = aliased(DagRun), aliased(DagRun)

_PREVIOUS_RUN = (
    select(_OTHER.id)
    .where(
        _THIS.id == bindparam("run_pk"),
        _OTHER.dag_id == _THIS.dag_id,
        _OTHER.logical_date < _THIS.logical_date,
    )
    .order_by(_OTHER.logical_date.desc(), _OTHER.id.desc())
    .limit(1)
    .scalar_subquery()
)
_PAST_STATES = (
    select(_TI.c.task_id, _TI.c.state)
    .where(
        _TI.c.run_pk == _PREVIOUS_RUN,
        _TI.c.task_id.in_(bindparam("task_ids", expanding=True)),
    )
    .distinct()
)
_NEXT_RUN = (
    select(_OTHER.id)
    .where(
        _THIS.id == bindparam("run_pk"),
        _OTHER.dag_id == _THIS.dag_id,
        _OTHER.logical_date > _THIS.logical_date,
    )
    .order_by(_OTHER.logical_date, _OTHER.id)
    .limit(1)
)


def past_states(
    session: Session, run_pk: int, task_ids: Collection[str]
) -> Mapping[str, Sequence[TaskState]]:
    """The states of ``task_ids``' instances in the run before ``run_pk`` (by logical date);
    empty when it is the first run."""
    states: dict[str, list[TaskState]] = {}
    params = {"run_pk": run_pk, "task_ids": sorted(task_ids)}
    for task_id, state in session.execute(_PAST_STATES, params).all():
        states.setdefault(task_id, []).append(TaskState(state))
    return states


def next_running_run(session: Session, run_pk: int, ended: Mapping[str, Any]) -> DagRun | None:
    """The run after ``run_pk`` (by logical date), locked, when one of ``ended`` (task ids with
    their states now, among those that depend on their past) is done and that run is running:
    its instances that waited on this one may start now."""
    if not any(state in PAST_DONE for states in ended.values() for state in states):
        return None
    next_pk = session.scalars(_NEXT_RUN, {"run_pk": run_pk}).first()
    if next_pk is None:
        return None
    run = session.scalars(for_update(select(DagRun).where(DagRun.id == next_pk))).one_or_none()
    return run if run is not None and run.state == RunState.RUNNING.value else None
