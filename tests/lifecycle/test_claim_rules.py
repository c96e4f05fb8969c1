"""Whether a scheduled task instance may be claimed: max_active_tasks, max_active_tis_per_dag
and pool slots."""

from __future__ import annotations

import pytest

from pinflow.lifecycle.claim_rules import (
    UNLIMITED,
    PoolVerdict,
    open_slots,
    pool_verdict,
    run_has_room,
    task_has_room,
)


def test_a_run_has_room_below_its_max_active_tasks() -> None:
    assert run_has_room(0, 1)
    assert run_has_room(15, 16)
    assert not run_has_room(16, 16)
    assert not run_has_room(17, 16)  # the limit was lowered by a new version: still full
    assert not run_has_room(0, 0)


def test_a_task_has_room_below_its_max_active_tis_per_dag() -> None:
    assert task_has_room(0, 1)
    assert not task_has_room(1, 1)
    assert task_has_room(2, 3)
    assert not task_has_room(4, 3)  # a newer version lowered it: still full
    assert task_has_room(10_000, None)  # no limit


@pytest.mark.parametrize(
    ("slots", "used", "left"),
    [(128, 0, 128), (4, 3, 1), (4, 4, 0), (2, 5, 0), (UNLIMITED, 1000, None)],
)
def test_open_slots(slots: int, used: int, left: int | None) -> None:
    assert open_slots(slots, used) == left


@pytest.mark.parametrize(
    ("total", "open_now", "slots", "verdict"),
    [
        (None, None, 1, PoolVerdict.NO_POOL),
        (UNLIMITED, None, 500, PoolVerdict.ADMIT),
        (4, 4, 4, PoolVerdict.ADMIT),
        (4, 2, 2, PoolVerdict.ADMIT),
        (4, 1, 2, PoolVerdict.FULL),  # passed over: a smaller one behind may run
        (4, 0, 1, PoolVerdict.FULL),
        (4, 4, 5, PoolVerdict.NEVER_FITS),  # more than the pool has, even when it is empty
        (0, 0, 1, PoolVerdict.NEVER_FITS),
    ],
)
def test_pool_verdicts(
    total: int | None, open_now: int | None, slots: int, verdict: PoolVerdict
) -> None:
    assert pool_verdict(total, open_now, slots) == verdict
