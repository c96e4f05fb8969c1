"""Whether a scheduled task instance may be claimed: its run's ``max_active_tasks``, its
task's ``max_active_tis_per_dag`` and its pool's slots (Airflow's pools).

The decisions behind ``services.engine``'s claim, as pure functions of counts the claim read
under its locks: the claim asks them for each candidate, in claim order, and counts what it
takes, so that the next candidate is judged against what is left.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

UNLIMITED: Final = -1  # a pool's ``slots`` when it has no limit


def run_has_room(live: int, max_active_tasks: int) -> bool:
    """Whether a run with ``live`` task instances queued or running may have one more.

    Why: ``max_active_tasks`` keeps one run from taking every worker. As in Airflow 3 it is
    per run (it was per DAG in Airflow 2), the limit of the run's pinned spec.
    """
    return live < max_active_tasks


def task_has_room(live: int, max_active_tis_per_dag: int | None) -> bool:
    """Whether a task with ``live`` instances queued or running, over all runs of its DAG, may
    have one more; ``None``: no limit.

    Why: Airflow's ``max_active_tis_per_dag`` keeps one task from running in many runs at once
    (a task that writes one table, or calls an API with a rate limit) while the rest of each
    run goes on. The limit is the one in the candidate's run's pinned spec; the count is over
    every run of the DAG, whatever version it is pinned to, because the shared thing the limit
    protects does not change with the version.
    """
    return max_active_tis_per_dag is None or live < max_active_tis_per_dag


def open_slots(slots: int, used: int) -> int | None:
    """The slots of a pool (``slots`` in all) that ``used`` leaves open; ``None``: unlimited.

    Why: a task instance holds its ``pool_slots`` while it is queued or running. A pool made
    smaller than what its task instances hold has none open (never fewer than none).
    """
    return None if slots == UNLIMITED else max(slots - used, 0)


class PoolVerdict(StrEnum):
    ADMIT = "admit"
    FULL = "full"  # not now: passed over, so that a smaller task instance behind may run
    NEVER_FITS = "never_fits"  # more slots than the pool has: waits for the pool to grow
    NO_POOL = "no_pool"  # waits for the pool to be created


def pool_verdict(total: int | None, open_now: int | None, slots: int) -> PoolVerdict:
    """Whether a task instance asking for ``slots`` slots fits its pool, which has ``total``
    slots (``None``: no such pool) of which ``open_now`` are open (``None``: unlimited).

    Why: as in Airflow, a task instance that does not fit the open slots is passed over, not
    waited for, so a smaller one behind it may still run; one that can never fit (or whose
    pool does not exist) stays ``scheduled`` until the pool is created or resized, and says
    so (``NEVER_FITS`` and ``NO_POOL`` are worth a warning, ``FULL`` is not).
    """
    if total is None:
        return PoolVerdict.NO_POOL
    if open_now is None:
        return PoolVerdict.ADMIT
    if total != UNLIMITED and slots > total:
        return PoolVerdict.NEVER_FITS
    return PoolVerdict.ADMIT if slots <= open_now else PoolVerdict.FULL
