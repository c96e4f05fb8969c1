"""Starting tries: ``queued`` -> ``running`` (``start_task``), or claimed and started in one
transaction (``claim_and_start``).

A start writes the task instance (guarded on the state and try number the start expects:
``pinflow.lifecycle.try_rules.position_to_start``) and the try's row, which records the
run's snapshot digest and version *at this moment*: the proof of which definition the try ran
on, even if the run is re-bound later. XComs left by an earlier try are dropped, so a
downstream task never reads a stale result.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple, cast

from sqlalchemy import Table, bindparam, delete, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pinflow.errors import ConflictError
from pinflow.lifecycle.states import RunState, TaskState
from pinflow.lifecycle.try_rules import position_to_start
from pinflow.services import common
from pinflow.services.engine._claims import ClaimedTask, claim_in, queue_claimed
from pinflow.services.engine._scheduling import RunRow
from pinflow.services.engine._try_rows import TiRow, expect, guarded_stmt, lock, name
from pinflow.store.db import Database
from pinflow.store.prepared import Prepared, Together
from pinflow.store.tables import TaskInstanceTry, XCom


@dataclass(frozen=True)
class StartedTask:
    """The try that started, and the definition it runs on (the run's pin at that moment)."""

    ti_id: int
    run_pk: int
    task_id: str
    map_index: int
    try_number: int
    snapshot_digest: str
    version_id: str | None


_TRY = cast(Table, TaskInstanceTry.__table__)
_BEGIN_COLUMNS = (
    "state",
    "try_number",
    "start_date",
    "end_date",
    "heartbeat_at",
    "next_try_at",
    "updated_at",
    "snapshot_digest",
    "hostname",
    "pid",
)
_BEGIN = guarded_stmt(*_BEGIN_COLUMNS)
_CLAIM_AND_BEGIN = guarded_stmt(*_BEGIN_COLUMNS, "queued_at", "queued_by")
_TRY_COLUMNS = (
    "ti_id",
    "try_number",
    "state",
    "snapshot_digest",
    "version_id",
    "start_date",
    "hostname",
    "pid",
    "interrupted",  # given, not the column's default: ``Together`` computes none
)
_INSERT_TRY = Prepared(insert(_TRY).values({c: bindparam(c) for c in _TRY_COLUMNS}))
_DROP_XCOMS = Prepared(
    delete(cast(Table, XCom.__table__)).where(
        XCom.run_pk == bindparam("run_pk"),
        XCom.task_id == bindparam("task_id"),
        XCom.map_index == bindparam("map_index"),
    )
)
# The start of tries: each task instance moved to running (guarded), its try row, the XComs
# of its earlier tries dropped; one round trip (ADR 0048).
_BEGINNING = Together(_BEGIN, _INSERT_TRY, _DROP_XCOMS)
_CLAIMING_AND_BEGINNING = Together(_CLAIM_AND_BEGIN, _INSERT_TRY, _DROP_XCOMS)


def start_task(
    db: Database,
    ti_id: int,
    *,
    try_number: int,
    hostname: str | None = None,
    pid: int | None = None,
    now: datetime | None = None,
) -> StartedTask:
    """``queued`` -> ``running`` for try ``try_number``, recording the definition it runs on.

    The try row stores the run's snapshot digest and version *at this moment*: that is the
    proof of which definition a try ran on, even if the run is re-bound later. XComs left by
    an earlier try are dropped, so a downstream task never reads a stale result.
    """
    with db.transaction() as s:
        return start_task_in(s, ti_id, try_number=try_number, hostname=hostname, pid=pid, now=now)


def start_task_in(
    s: Session,
    ti_id: int,
    *,
    try_number: int,
    hostname: str | None = None,
    pid: int | None = None,
    now: datetime | None = None,
) -> StartedTask:
    """``start_task`` in the caller's transaction (which then also builds what the try needs,
    so that a start is one transaction)."""
    stamp = now or common.now()
    run, ti = lock(s, ti_id)
    expect(ti, position_to_start(try_number), f"start try {try_number} of")
    _begin_tries(s, [_Try(run, ti, try_number)], hostname=hostname, pid=pid, stamp=stamp)
    return _started(run, ti.id, ti.task_id, ti.map_index, try_number)


def claim_and_start(
    db: Database,
    *,
    limit: int,
    hostname: str | None = None,
    pid: int | None = None,
    hold: Collection[int] = (),
    now: datetime | None = None,
    claimer: str | None = None,
) -> tuple[list[tuple[ClaimedTask, StartedTask]], list[ClaimedTask]]:
    """``claim_scheduled`` and ``start_task`` of every claimed try, in one transaction.

    What an executor that runs a try as soon as it has it calls (the local executor): the
    tries are ``running`` once this returns, with the same rows ``start_task`` writes, and
    the transaction per try between the claim and the start is saved. Claimed task instances
    whose id is in ``hold`` (a try of theirs still runs in this executor) are left ``queued``,
    returned second, for ``start_task`` once that try has ended. ``claimer`` is written to
    ``queued_by`` of both, as ``claim_scheduled`` writes it.
    """
    with db.transaction() as s:
        return claim_and_start_in(
            s,
            limit=limit,
            hostname=hostname,
            pid=pid,
            hold=hold,
            stamp=now or common.now(),
            claimer=claimer,
        )


def claim_and_start_in(
    s: Session,
    *,
    limit: int,
    hostname: str | None,
    pid: int | None,
    hold: Collection[int],
    stamp: datetime,
    claimer: str | None = None,
) -> tuple[list[tuple[ClaimedTask, StartedTask]], list[ClaimedTask]]:
    """``claim_and_start`` in the caller's transaction."""
    claimed = claim_in(s, limit=limit, now=stamp, queue=False)
    held = [task for task in claimed if task.ti_id in hold]
    if held:
        queue_claimed(s, [task.ti_id for task in held], stamp, claimer)
    starting = [task for task in claimed if task.ti_id not in hold]
    if not starting:
        return [], held
    # The claim read each run under its lock, in this transaction: its pin is current.
    runs = {task.run_pk: _run_of(task) for task in starting}
    _begin_tries(
        s,
        [_Try(runs[t.run_pk], t, t.try_number) for t in starting],
        hostname=hostname,
        pid=pid,
        stamp=stamp,
        claimer=claimer,
        claimed=True,
    )
    started = [
        (t, _started(runs[t.run_pk], t.ti_id, t.task_id, t.map_index, t.try_number))
        for t in starting
    ]
    return started, held


def _started(run: RunRow, ti_id: int, task_id: str, map_index: int, try_number: int) -> StartedTask:
    return StartedTask(
        ti_id, run.id, task_id, map_index, try_number, run.snapshot_digest, run.version_id
    )


def _run_of(task: ClaimedTask) -> RunRow:
    return RunRow(
        task.run_pk,
        task.dag_id,
        task.run_id,
        RunState.RUNNING.value,
        task.snapshot_digest,
        task.version_id,
    )


class _Try(NamedTuple):
    run: RunRow
    ti: TiRow | ClaimedTask
    number: int

    @property
    def ti_id(self) -> int:
        return self.ti.id if isinstance(self.ti, TiRow) else self.ti.ti_id


def _begin_tries(
    s: Session,
    tries: Sequence[_Try],
    *,
    hostname: str | None,
    pid: int | None,
    stamp: datetime,
    claimer: str | None = None,
    claimed: bool = False,
) -> None:
    """``queued`` -> ``running`` for each try, its try row, and the XComs of earlier tries
    dropped (one round trip however many tries, ``Together``). ``claimed``: straight from
    ``scheduled``, claimed in this transaction (by ``claimer``, written to ``queued_by``)."""
    rows = []
    for t in tries:
        expected = position_to_start(t.number, claimed=claimed)
        rows.append(
            {
                # the task instance, guarded on where the try expects it
                "ti": t.ti_id,
                "expected_state": expected.state.value,
                "expected_try": expected.try_number,
                "v_queued_at": stamp,
                "v_queued_by": claimer,
                "v_state": TaskState.RUNNING.value,
                "v_try_number": t.number,
                "v_start_date": stamp,
                "v_end_date": None,
                "v_heartbeat_at": stamp,
                "v_next_try_at": None,
                "v_updated_at": stamp,
                "v_snapshot_digest": t.run.snapshot_digest,
                "v_hostname": hostname,
                "v_pid": pid,
                # its try row
                "ti_id": t.ti_id,
                "try_number": t.number,
                "state": TaskState.RUNNING.value,
                "snapshot_digest": t.run.snapshot_digest,
                "version_id": t.run.version_id,
                "start_date": stamp,
                "hostname": hostname,
                "pid": pid,
                "interrupted": False,
                # the XComs an earlier try left (or a try of an element a clear removed): a
                # downstream task must never read a stale result
                "run_pk": t.ti.run_pk,
                "task_id": t.ti.task_id,
                "map_index": t.ti.map_index,
            }
        )
    writes = _CLAIMING_AND_BEGINNING if claimed else _BEGINNING
    try:
        begun, _, _ = writes.execute(common.conn(s), rows)
    except IntegrityError:
        which = "; ".join(f"Try {t.number} of {name(t.ti)}" for t in tries)
        raise ConflictError(f"{which}: a try row with that number already exists.") from None
    if begun != len(rows):
        raise ConflictError("A task instance changed state meanwhile; nothing was changed.")
