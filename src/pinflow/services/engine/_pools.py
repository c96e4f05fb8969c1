"""Handing scheduled task instances to executors within their limits: pools and
``max_active_tasks``.

A claim moves ``scheduled`` task instances to ``queued`` in the order they were created:
older runs first, a run's tasks in the spec's order, a mapped task's elements in
``map_index`` order (elements are created when their task expands, so they follow what
existed then). That order is the index's own, so a claim reads only the rows it takes, never
sorts every scheduled row. A task instance is claimed only when both limits admit it:

- ``max_active_tasks``: per run, as in Airflow 3 (it was per DAG in Airflow 2), the limit of
  the run's pinned spec, counted over the run's queued and running task instances;
- pools (Airflow's): a task instance takes ``pool_slots`` slots of its ``pool`` while it is
  queued or running; a pool with ``slots = -1`` is unlimited. As in Airflow, a task
  instance that does not fit the open slots is passed over, so a smaller one behind it may
  still run; one whose pool does not exist (or asks for more slots than the pool has) stays
  ``scheduled``, with a warning in the log, until the pool is created or resized.

``default_pool`` needs no row (see ``tables.Pool``): the first claim that uses it creates it
with Airflow's 128 slots, as the pools API does, so that it can be locked like any pool.

Lock order: the DAG rows (``max_active_tasks`` is counted against them), then the pool rows,
both in name order, then the task instances (``SKIP LOCKED``: rows another claimer holds are
passed over, never waited for). Two claimers thus never fill the same last slot.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, NamedTuple, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.orm import Session

from pinflow.lifecycle.states import LIVE_TASK_STATES, RunState, TaskState
from pinflow.services import common
from pinflow.store import repo
from pinflow.store.db import Database
from pinflow.store.prepared import Prepared
from pinflow.store.repo import SpecCache
from pinflow.store.tables import Dag, DagRun, Pool, TaskInstance

log = logging.getLogger(__name__)

DEFAULT_POOL: Final = "default_pool"
DEFAULT_POOL_SLOTS: Final = 128  # Airflow's default
UNLIMITED: Final = -1
# Scheduled rows read per query: the claim reads further only past rows its limits refuse.
_MIN_PAGE: Final = 16
_WARN_EVERY_SECONDS: Final = 60.0
_warned_at: dict[tuple[str, str], float] = {}


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


# --- pool slots ---------------------------------------------------------------------------------


@dataclass
class PoolSlots:
    """Open slots per pool during one claim. A pool not in ``open`` does not exist."""

    open: dict[str, int | None]  # None: unlimited
    total: dict[str, int]

    @classmethod
    def of(cls, total: dict[str, int], used: dict[str, int]) -> PoolSlots:
        """``total`` slots by pool, ``used``: the slots queued and running tasks hold."""
        open_slots: dict[str, int | None] = {
            name: None if slots == UNLIMITED else max(slots - used.get(name, 0), 0)
            for name, slots in total.items()
        }
        return cls(open_slots, dict(total))

    def usable(self) -> list[str]:
        """Pools where a task instance of one slot could start now."""
        return sorted(p for p, n in self.open.items() if n is None or n > 0)

    def admits(self, pool: str, slots: int) -> bool:
        if pool not in self.open:
            return False
        open_slots, total = self.open[pool], self.total[pool]
        if open_slots is None:
            return True
        if total != UNLIMITED and slots > total:
            msg = "Task instances asking for %d slots of pool %r (%d slots) will not be scheduled"
            _warn_once(pool, str(slots), msg, slots, pool, total)
            return False
        return slots <= open_slots

    def take(self, pool: str, slots: int) -> None:
        open_slots = self.open[pool]
        if open_slots is not None:
            self.open[pool] = open_slots - slots


def lock_pools(s: Session, names: Collection[str]) -> dict[str, int]:
    """Lock the rows of the pools ``names`` (name order); their slots, by name. Pools that
    do not exist are left out (with a warning), except ``default_pool``, created on first use.
    """
    wanted = sorted(set(names))
    rows = _lock_pool_rows(s, wanted)
    if DEFAULT_POOL in wanted and DEFAULT_POOL not in rows:
        values = {"name": DEFAULT_POOL, "slots": DEFAULT_POOL_SLOTS, "description": "Default pool"}
        # Out of name order, once per database: a concurrent claimer waits on the insert.
        repo.insert_ignore(s, Pool.__table__, values, ["name"])
        rows.update(_lock_pool_rows(s, [DEFAULT_POOL]))
    for name in wanted:
        if name not in rows:
            _warn_once(name, "", "Tasks using non-existent pool %r will not be scheduled", name)
    return rows


def _lock_pool_rows(s: Session, names: Sequence[str]) -> dict[str, int]:
    if not names:
        return {}
    return dict(_LOCK_POOLS.execute(common.conn(s), {"names": list(names)}).fetchall())


def _warn_once(pool: str, what: str, msg: str, *args: object) -> None:
    """Airflow logs these on every loop; the claim runs far more often, so at most once a
    minute per pool and reason."""
    key, at = (pool, what), time.monotonic()
    if at - _warned_at.get(key, -_WARN_EVERY_SECONDS) >= _WARN_EVERY_SECONDS:
        _warned_at[key] = at
        log.warning(msg, *args)


# --- the claim ----------------------------------------------------------------------------------
#
# The claim runs after every report, so its statements are built once (building one costs
# more than running it on SQLite) and read plain rows, not ORM objects.

_TI = cast(Table, TaskInstance.__table__)
_RUN = cast(Table, DagRun.__table__)
_LIVE_STATES = sorted(state.value for state in LIVE_TASK_STATES)
_SCHEDULED = TaskState.SCHEDULED.value

_LOCK_POOLS = Prepared(
    select(Pool.name, Pool.slots)
    .where(Pool.name.in_(bindparam("names", expanding=True)))
    .order_by(Pool.name)
    .with_for_update()
)
_WAITING = select(_TI.c.dag_id, _TI.c.pool).where(_TI.c.state == _SCHEDULED).distinct()
_WAITING_IN_RUN = _WAITING.where(_TI.c.run_pk == bindparam("run_pk"))
_LOCK_DAGS = (
    select(Dag.dag_id)
    .where(Dag.dag_id.in_(bindparam("dag_ids", expanding=True)))
    .order_by(Dag.dag_id)
    .with_for_update()
)
_LIVE = (
    select(_TI.c.run_pk, _TI.c.pool, func.count(), func.sum(_TI.c.pool_slots))
    .where(_TI.c.state.in_(_LIVE_STATES))
    .group_by(_TI.c.run_pk, _TI.c.pool)
)
_WAITING_AND_LIVE = Prepared(
    select(
        _TI.c.dag_id,
        _TI.c.pool,
        _TI.c.run_pk,
        _TI.c.state,
        func.count(),
        func.sum(_TI.c.pool_slots),
    )
    .where(_TI.c.state.in_([_SCHEDULED, *_LIVE_STATES]))
    .group_by(_TI.c.dag_id, _TI.c.pool, _TI.c.run_pk, _TI.c.state)
)
_PAGE = (
    select(
        _TI.c.id,
        _TI.c.run_pk,
        _TI.c.task_id,
        _TI.c.map_index,
        _TI.c.try_number,
        _TI.c.pool,
        _TI.c.pool_slots,
        _RUN.c.dag_id,
        _RUN.c.run_id,
        _RUN.c.snapshot_digest,
        _RUN.c.version_id,
        _RUN.c.params,
        _RUN.c.conf,
    )
    .join(_RUN, _RUN.c.id == _TI.c.run_pk)
    .where(_TI.c.dag_id.in_(bindparam("dag_ids", expanding=True)))
    .where(_TI.c.state == _SCHEDULED)
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
        state=TaskState.QUEUED.value, queued_at=bindparam("stamp"), updated_at=bindparam("stamp")
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
    dag_id: str
    run_id: str
    snapshot_digest: str
    version_id: str | None
    params: dict[str, Any] | None
    conf: dict[str, Any] | None


@dataclass
class _Budget:
    """What the limits still admit during one claim."""

    specs: SpecCache
    live_per_run: dict[int, int]
    pools: PoolSlots
    run_limits: dict[int, int] = field(default_factory=dict)  # of the runs seen so far

    def full_runs(self) -> list[int]:
        live = self.live_per_run
        return sorted(r for r, limit in self.run_limits.items() if live.get(r, 0) >= limit)

    def admits(self, row: _Candidate) -> bool:
        limit = self.run_limits.get(row.run_pk)
        if limit is None:
            limit = self.specs.get(row.snapshot_digest).max_active_tasks
            self.run_limits[row.run_pk] = limit
        if self.live_per_run.get(row.run_pk, 0) >= limit:
            return False
        return self.pools.admits(row.pool, row.pool_slots)

    def take(self, row: _Candidate) -> None:
        self.live_per_run[row.run_pk] = self.live_per_run.get(row.run_pk, 0) + 1
        self.pools.take(row.pool, row.pool_slots)


def claim_scheduled(
    db: Database, *, limit: int, run_pk: int | None = None, now: datetime | None = None
) -> list[ClaimedTask]:
    """Move up to ``limit`` scheduled task instances of running runs to ``queued``.

    Only those of ``run_pk`` when given. One transaction; see the module's docstring for the
    order, the limits and the locks.
    """
    if limit <= 0:
        return []
    with db.transaction() as s:
        return claim_in(s, limit=limit, run_pk=run_pk, now=now)


def claim_in(
    s: Session,
    *,
    limit: int,
    run_pk: int | None = None,
    now: datetime | None = None,
    queue: bool = True,
) -> list[ClaimedTask]:
    """``claim_scheduled`` in the caller's transaction. With ``queue=False`` the claimed task
    instances are left ``scheduled`` (still locked, still counted against the limits here): the
    caller moves each of them on, in this transaction, with a write guarded on ``scheduled``
    (``task_results.claim_and_start`` starts them at once)."""
    if limit <= 0:
        return []
    stamp = now or common.now()
    if s.get_bind().dialect.name == "sqlite":
        # One writer holds the whole database (BEGIN IMMEDIATE): nothing to lock row by row,
        # and what waits and what is live can be read at once.
        waiting, live_per_run, used = _waiting_and_live(s, run_pk)
        dag_ids = sorted({dag_id for dag_id, _ in waiting})
        total = lock_pools(s, {pool for _, pool in waiting}) if waiting else {}
    else:
        waiting = set(_waiting(s, run_pk))
        dag_ids = _lock_dags(s, sorted({dag_id for dag_id, _ in waiting}))
        total = lock_pools(s, {pool for _, pool in waiting}) if dag_ids else {}
        live_per_run, used = _live(s)  # read under the locks: no claimer can add to it now
    if not dag_ids:
        return []
    budget = _Budget(SpecCache(s), live_per_run, PoolSlots.of(total, used))
    return _claim(s, budget, dag_ids, limit=limit, run_pk=run_pk, stamp=stamp if queue else None)


def _waiting(s: Session, run_pk: int | None) -> list[tuple[str, str]]:
    """The (DAG, pool) pairs of scheduled task instances: what the claim must lock."""
    conn = common.conn(s)
    if run_pk is None:
        return [(dag_id, pool) for dag_id, pool in conn.execute(_WAITING)]
    return [(dag_id, pool) for dag_id, pool in conn.execute(_WAITING_IN_RUN, {"run_pk": run_pk})]


def _waiting_and_live(
    s: Session, run_pk: int | None
) -> tuple[set[tuple[str, str]], dict[int, int], dict[str, int]]:
    """``_waiting`` and ``_live`` in one query."""
    waiting: set[tuple[str, str]] = set()
    per_run: dict[int, int] = {}
    per_pool: dict[str, int] = {}
    rows = _WAITING_AND_LIVE.execute(common.conn(s)).fetchall()
    for dag_id, pool, run, state, count, slots in rows:
        if state == _SCHEDULED:
            if run_pk is None or run == run_pk:
                waiting.add((dag_id, pool))
        else:
            per_run[run] = per_run.get(run, 0) + int(count)
            per_pool[pool] = per_pool.get(pool, 0) + int(slots or 0)
    return waiting, per_run, per_pool


def _lock_dags(s: Session, dag_ids: list[str]) -> list[str]:
    if not dag_ids:
        return []
    return list(common.conn(s).execute(_LOCK_DAGS, {"dag_ids": dag_ids}).scalars())


def _live(s: Session) -> tuple[dict[int, int], dict[str, int]]:
    """Queued and running task instances per run, and the pool slots they hold per pool."""
    per_run: dict[int, int] = {}
    per_pool: dict[str, int] = {}
    for run_pk, pool, count, slots in common.conn(s).execute(_LIVE):
        per_run[run_pk] = per_run.get(run_pk, 0) + int(count)
        per_pool[pool] = per_pool.get(pool, 0) + int(slots or 0)
    return per_run, per_pool


def _claim(
    s: Session,
    budget: _Budget,
    dag_ids: list[str],
    *,
    limit: int,
    run_pk: int | None,
    stamp: datetime | None,
) -> list[ClaimedTask]:
    """Admit scheduled task instances, page by page; queue them at ``stamp`` (or, ``None``,
    leave that to the caller)."""
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
        if stamp is None:
            claimed += [_claimed(row) for row in admitted]
        else:
            queued = queue_claimed(s, [row.id for row in admitted], stamp)
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
    runs at their limit and pools without an open slot are left out by the query itself."""
    usable = budget.pools.usable()
    if not usable:
        return []
    stmt = _PAGE
    full = budget.full_runs()
    if full:
        stmt = stmt.where(_TI.c.run_pk.not_in(full))
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


def queue_claimed(s: Session, ti_ids: list[int], stamp: datetime) -> set[int]:
    """``scheduled`` -> ``queued``, guarded; returns the ids that moved (one statement)."""
    if not ti_ids:
        return set()
    rows = _QUEUE.execute(common.conn(s), {"ids": ti_ids, "stamp": stamp}).fetchall()
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
    )
