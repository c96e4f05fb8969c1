"""Handing scheduled task instances to executors within their limits: pools,
``max_active_tasks`` and ``max_active_tis_per_dag``.

A claim moves ``scheduled`` task instances to ``queued`` in the order they were created:
older runs first, a run's tasks in the spec's order, a mapped task's elements in
``map_index`` order (elements are created when their task expands, so they follow what
existed then). That order is the index's own, so a claim reads only the rows it takes, never
sorts every scheduled row. A task instance is claimed only when every limit admits it
(``pinflow.lifecycle.claim_rules``):

- ``max_active_tasks``: per run, as in Airflow 3 (it was per DAG in Airflow 2), the limit of
  the run's pinned spec, counted over the run's queued and running task instances;
- ``max_active_tis_per_dag``: per task, as in Airflow, the limit of the run's pinned spec,
  counted over the queued and running instances of that task in every run of the DAG. Only a
  task that has the limit is counted, once per claim, when the first of its instances is a
  candidate (``_task_limits``): a claim of tasks without it costs nothing more;
- pools (``_pools``): a task instance takes ``pool_slots`` slots of its ``pool`` while it is
  queued or running. As in Airflow, a task instance that does not fit the open slots is
  passed over, so a smaller one behind it may still run.

Lock order: the DAG rows (``max_active_tasks`` and ``max_active_tis_per_dag`` are counted
against them: only a claim, holding its DAG's row, makes a task instance live), then the pool
rows, both in name order, then the task instances (``SKIP LOCKED``: rows another claimer holds
are passed over, never waited for). Two claimers thus never fill the same last slot, nor start
a task past its limit. On SQLite the writer holds the whole database instead: what waits and
what is live are read at once (``pinflow.store.dialect``'s ``claim_view``).

The claim writes who claimed (``claimer``, a scheduler's component id) to ``queued_by`` with
the move to ``queued`` (or, in ``claim_and_start``, straight to ``running``). Nothing clears
it: a try that starts keeps it (who dispatched it, as Airflow's ``queued_by_job_id``), one sent
back to ``scheduled`` keeps it until its next claim overwrites it (with ``None`` when that
claimer gives none). So only a *queued* task instance's ``queued_by`` says who holds it now.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, NamedTuple, cast

from sqlalchemy import Table, bindparam, literal_column, select, tuple_, update
from sqlalchemy.orm import Session

from pinflow.lifecycle.claim_rules import run_has_room, task_has_room
from pinflow.lifecycle.resource_access import usable_by
from pinflow.lifecycle.states import RunState, TaskState
from pinflow.services import common
from pinflow.services.engine._pools import PoolSlots, lock_pools, warn_foreign_pool
from pinflow.services.engine._task_limits import PinnedTask, TaskCounts
from pinflow.spec.models import DEFAULT_QUEUE
from pinflow.store.db import Database
from pinflow.store.dialect import dialect_ops
from pinflow.store.prepared import Prepared
from pinflow.store.repo import SpecCache
from pinflow.store.tables import Dag, DagRun, Pool, TaskInstance

# Scheduled rows read per query: the claim reads further only past rows its limits refuse.
_MIN_PAGE: Final = 16


@dataclass(frozen=True)
class ClaimedTask:
    """A task instance moved to ``queued`` for an executor: everything needed to start it."""

    ti_id: int
    run_pk: int
    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int  # the try about to start
    snapshot_digest: str  # the run's pin when claimed; ``start_task`` says what the try runs on
    version_id: str | None
    params: dict[str, Any] = field(default_factory=dict)
    conf: dict[str, Any] = field(default_factory=dict)
    queue: str = DEFAULT_QUEUE  # the workers' queue its try goes to (``TaskSpec.queue``)


# The claim runs after every report, so its statements are built once (building one costs
# more than running it on SQLite) and read plain rows, not ORM objects.

_TI = cast(Table, TaskInstance.__table__)
_RUN = cast(Table, DagRun.__table__)
_DAG = cast(Table, Dag.__table__)
_POOL = cast(Table, Pool.__table__)
_SCHEDULED = TaskState.SCHEDULED.value

_PAGE = (
    select(
        _TI.c.id,
        _TI.c.run_pk,
        _TI.c.task_id,
        _TI.c.map_index,
        _TI.c.try_number,
        _TI.c.pool,
        _TI.c.pool_slots,
        _TI.c.queue,
        _RUN.c.dag_id,
        _RUN.c.run_id,
        _RUN.c.snapshot_digest,
        _RUN.c.version_id,
        _RUN.c.params,
        _RUN.c.conf,
        _DAG.c.project_id,
        select(_POOL.c.project_id).where(_POOL.c.name == _TI.c.pool).scalar_subquery(),
    )
    .join(_RUN, _RUN.c.id == _TI.c.run_pk)
    .join(_DAG, _DAG.c.dag_id == _TI.c.dag_id)
    .where(_TI.c.dag_id.in_(bindparam("dag_ids", expanding=True)))
    # A literal, not a parameter: a generic prepared plan can then use the partial index
    # ix_task_instance_scheduled (ADR 0045).
    .where(_TI.c.state == literal_column(f"'{_SCHEDULED}'"))
    .where(_RUN.c.state == RunState.RUNNING.value)
    .where(_TI.c.pool.in_(bindparam("pools", expanding=True)))
    .order_by(_TI.c.id)
    .limit(bindparam("size"))
    .with_for_update(of=_TI, skip_locked=True)
)
_PAGE_PREPARED = Prepared(_PAGE)  # the usual case: no run at its limit, the first page
_QUEUE = Prepared(
    update(_TI)
    .where(_TI.c.id.in_(bindparam("ids", expanding=True)), _TI.c.state == _SCHEDULED)
    .values(
        state=TaskState.QUEUED.value,
        queued_at=bindparam("stamp"),
        queued_by=bindparam("claimer"),
        updated_at=bindparam("stamp"),
    )
    .returning(_TI.c.id)
)


class _Candidate(NamedTuple):
    """A scheduled task instance with its run, as ``_PAGE`` reads it."""

    id: int
    run_pk: int
    task_id: str
    map_index: int
    try_number: int
    pool: str
    pool_slots: int
    queue: str
    dag_id: str
    run_id: str
    snapshot_digest: str
    version_id: str | None
    params: dict[str, Any] | None
    conf: dict[str, Any] | None
    dag_project: int
    pool_project: int | None  # None: an instance-wide pool


@dataclass
class _Budget:
    """What the limits still admit during one claim."""

    specs: SpecCache
    live_per_run: dict[int, int]
    pools: PoolSlots
    tasks: TaskCounts
    run_limits: dict[int, int] = field(default_factory=dict)  # of the runs seen so far
    task_limits: dict[PinnedTask, int] = field(default_factory=dict)  # the limited ones seen

    def full_runs(self) -> list[int]:
        live = self.live_per_run
        full = [
            r for r, limit in self.run_limits.items() if not run_has_room(live.get(r, 0), limit)
        ]
        return sorted(full)

    def full_tasks(self) -> list[PinnedTask]:
        of = self.tasks.of
        limits = self.task_limits.items()
        return sorted(k for k, limit in limits if not task_has_room(of(k[:2]), limit))

    def admits(self, row: _Candidate) -> bool:
        limit = self.run_limits.get(row.run_pk)
        if limit is None:
            limit = self.specs.get(row.snapshot_digest).max_active_tasks
            self.run_limits[row.run_pk] = limit
        if not run_has_room(self.live_per_run.get(row.run_pk, 0), limit):
            return False
        if not usable_by(row.pool_project, row.dag_project):
            warn_foreign_pool(row.pool, row.dag_id)
            return False
        if not self.pools.admits(row.pool, row.pool_slots):
            return False
        return self._task_admits(row)

    def _task_admits(self, row: _Candidate) -> bool:
        task = self.specs.get(row.snapshot_digest).task(row.task_id)
        task_limit = None if task is None else task.max_active_tis_per_dag
        if task_limit is None:
            return True
        self.task_limits[(row.dag_id, row.task_id, row.snapshot_digest)] = task_limit
        return task_has_room(self.tasks.of((row.dag_id, row.task_id)), task_limit)

    def take(self, row: _Candidate) -> None:
        self.live_per_run[row.run_pk] = self.live_per_run.get(row.run_pk, 0) + 1
        self.pools.take(row.pool, row.pool_slots)
        self.tasks.take((row.dag_id, row.task_id))


class _Queuing(NamedTuple):
    """How a claim that queues what it takes writes it."""

    stamp: datetime
    claimer: str | None


def claim_scheduled(
    db: Database,
    *,
    limit: int,
    run_pk: int | None = None,
    now: datetime | None = None,
    claimer: str | None = None,
) -> list[ClaimedTask]:
    """Move up to ``limit`` scheduled task instances of running runs to ``queued``.

    Only those of ``run_pk`` when given. ``claimer`` (the claiming scheduler's component id)
    is written to ``queued_by``. One transaction; see the module's docstring for the order,
    the limits and the locks.
    """
    if limit <= 0:
        return []
    with db.transaction() as s:
        return claim_in(s, limit=limit, run_pk=run_pk, now=now, claimer=claimer)


def claim_in(
    s: Session,
    *,
    limit: int,
    run_pk: int | None = None,
    now: datetime | None = None,
    queue: bool = True,
    claimer: str | None = None,
) -> list[ClaimedTask]:
    """``claim_scheduled`` in the caller's transaction. With ``queue=False`` the claimed task
    instances are left ``scheduled`` (still locked, still counted against the limits here): the
    caller moves each of them on, in this transaction, with a write guarded on ``scheduled``
    and writes ``queued_by`` itself (``_starts.claim_and_start`` starts them at once)."""
    if limit <= 0:
        return []
    stamp = (now or common.now()) if queue else None
    conn = common.conn(s)
    view = dialect_ops(conn).claim_view(conn, run_pk, lambda pools: lock_pools(s, pools))
    if not view.dag_ids:
        return []
    pools = PoolSlots.of(view.pool_slots, view.used_slots)
    budget = _Budget(SpecCache(s), view.live_per_run, pools, TaskCounts(s))
    queuing = None if stamp is None else _Queuing(stamp, claimer)
    return _claim(s, budget, view.dag_ids, limit=limit, run_pk=run_pk, queuing=queuing)


def _claim(
    s: Session,
    budget: _Budget,
    dag_ids: list[str],
    *,
    limit: int,
    run_pk: int | None,
    queuing: _Queuing | None,
) -> list[ClaimedTask]:
    """Admit scheduled task instances, page by page; queue them (or, ``queuing=None``, leave
    that to the caller)."""
    claimed: list[ClaimedTask] = []
    after: int | None = None
    size = limit  # usually enough: limits refuse a row rarely; then the pages grow

    while len(claimed) < limit:
        page = _page(s, budget, dag_ids, run_pk=run_pk, after=after, size=size)
        admitted: list[_Candidate] = []
        for row in page:
            if len(claimed) + len(admitted) >= limit:
                break
            if budget.admits(row):
                budget.take(row)
                admitted.append(row)
        if queuing is None:
            claimed += [_claimed(row) for row in admitted]
        else:
            queued = queue_claimed(s, [row.id for row in admitted], *queuing)
            budget.tasks.written([(row.dag_id, row.task_id) for row in admitted])
            claimed += [_claimed(row) for row in admitted if row.id in queued]
        if len(page) < size:
            break
        after, size = page[-1].id, max(size * 2, _MIN_PAGE)
    return claimed


def _page(
    s: Session,
    budget: _Budget,
    dag_ids: list[str],
    *,
    run_pk: int | None,
    after: int | None,
    size: int,
) -> list[_Candidate]:
    """The next scheduled task instances in claim order, past task instance ``after``;
    runs and tasks at their limit and pools without an open slot are left out by the query
    itself."""
    usable = budget.pools.usable()
    if not usable:
        return []
    stmt = _PAGE
    full = budget.full_runs()
    if full:
        stmt = stmt.where(_TI.c.run_pk.not_in(full))
    full_tasks = budget.full_tasks()
    if full_tasks:
        pinned = tuple_(_TI.c.dag_id, _TI.c.task_id, _RUN.c.snapshot_digest)
        stmt = stmt.where(pinned.not_in(full_tasks))
    if run_pk is not None:
        stmt = stmt.where(_TI.c.run_pk == run_pk)
    if after is not None:
        stmt = stmt.where(_TI.c.id > after)
    params = {"dag_ids": dag_ids, "pools": usable, "size": size}
    if stmt is _PAGE:
        rows = _PAGE_PREPARED.execute(common.conn(s), params).fetchall()
    else:
        rows = list(common.conn(s).execute(stmt, params))
    return [_Candidate(*row) for row in rows]


def queue_claimed(
    s: Session, ti_ids: list[int], stamp: datetime, claimer: str | None = None
) -> set[int]:
    """``scheduled`` -> ``queued`` by ``claimer``, guarded; returns the ids that moved (one
    statement)."""
    if not ti_ids:
        return set()
    params = {"ids": ti_ids, "stamp": stamp, "claimer": claimer}
    rows = _QUEUE.execute(common.conn(s), params).fetchall()
    return {ti_id for (ti_id,) in rows}


def _claimed(row: _Candidate) -> ClaimedTask:
    return ClaimedTask(
        ti_id=row.id,
        run_pk=row.run_pk,
        dag_id=row.dag_id,
        run_id=row.run_id,
        task_id=row.task_id,
        map_index=row.map_index,
        try_number=row.try_number + 1,
        snapshot_digest=row.snapshot_digest,
        version_id=row.version_id,
        params=dict(row.params or {}),
        conf=dict(row.conf or {}),
        queue=row.queue,
    )
