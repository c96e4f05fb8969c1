"""Pools during a claim (``_claims``): their rows locked, their open slots counted.

Pools are Airflow's: a task instance takes ``pool_slots`` slots of its ``pool`` while it is
queued or running; a pool with ``slots = -1`` is unlimited. Whether a task instance fits is
``pinflow.lifecycle.claim_rules.pool_verdict``'s decision; one whose pool does not exist (or
that asks for more slots than the pool has) stays ``scheduled``, with a warning in the log
(at most once a minute), until the pool is created or resized.

``default_pool`` needs no row (see ``tables.Pool``): the first claim that uses it creates it
with Airflow's 128 slots, as the pools API does, so that it can be locked like any pool.
Pool rows are locked in name order, after the DAG rows (see ``_claims``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Final

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from pinflow.lifecycle.claim_rules import PoolVerdict, open_slots, pool_verdict
from pinflow.services import common
from pinflow.store import repo
from pinflow.store.prepared import Prepared
from pinflow.store.tables import Pool

log = logging.getLogger(__name__)

DEFAULT_POOL: Final = "default_pool"
DEFAULT_POOL_SLOTS: Final = 128  # Airflow's default
_WARN_EVERY_SECONDS: Final = 60.0
_warned_at: dict[tuple[str, str], float] = {}


@dataclass
class PoolSlots:
    """Open slots per pool during one claim. A pool not in ``open`` does not exist."""

    open: dict[str, int | None]  # None: unlimited
    total: dict[str, int]

    @classmethod
    def of(cls, total: dict[str, int], used: dict[str, int]) -> PoolSlots:
        """``total`` slots by pool, ``used``: the slots queued and running tasks hold."""
        slots_open = {name: open_slots(slots, used.get(name, 0)) for name, slots in total.items()}
        return cls(slots_open, dict(total))

    def usable(self) -> list[str]:
        """Pools where a task instance of one slot could start now."""
        return sorted(p for p in self.open if self._verdict(p, 1) == PoolVerdict.ADMIT)

    def admits(self, pool: str, slots: int) -> bool:
        verdict = self._verdict(pool, slots)
        if verdict == PoolVerdict.NEVER_FITS:
            msg = "Task instances asking for %d slots of pool %r (%d slots) will not be scheduled"
            _warn_once(pool, str(slots), msg, slots, pool, self.total[pool])
        return verdict == PoolVerdict.ADMIT

    def _verdict(self, pool: str, slots: int) -> PoolVerdict:
        return pool_verdict(self.total.get(pool), self.open.get(pool), slots)

    def take(self, pool: str, slots: int) -> None:
        left = self.open[pool]
        if left is not None:
            self.open[pool] = left - slots


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


def warn_foreign_pool(pool: str, dag_id: str) -> None:
    """A pool created in another project under a name the DAG already used (ADR 0017)."""
    msg = "Tasks of DAG %r will not be scheduled: pool %r belongs to another project"
    _warn_once(pool, f"dag:{dag_id}", msg, dag_id, pool)


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


_LOCK_POOLS = Prepared(  # built once: the claim runs after every report
    select(Pool.name, Pool.slots)
    .where(Pool.name.in_(bindparam("names", expanding=True)))
    .order_by(Pool.name)
    .with_for_update()
)
