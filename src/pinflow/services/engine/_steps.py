"""One scheduler step: the step's reports, then the claim and start of the slots they freed
(``report_and_claim``).

Where the database has one writer (SQLite: ``DialectOps.one_writer``) the whole step is one
transaction: no lock order is at stake, and a commit is the largest single cost of a step.
Elsewhere the step's reports share one transaction, their runs locked first in run order, and
the claim is another, because a claim locks DAG rows, which must never be waited for while
holding a run row (ADR 0002's lock order; ADR 0009, ADR 0042). A refusal (a stale report) is
raised before anything is written, so it never undoes the others in the step.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from pinflow.errors import ConflictError, InvalidInputError, NotFoundError, PinflowError
from pinflow.lifecycle.states import TaskState
from pinflow.services import common
from pinflow.services.engine._claims import ClaimedTask, claim_scheduled
from pinflow.services.engine._reports import NO_XCOM, TaskReport, finish_in
from pinflow.services.engine._starts import StartedTask, claim_and_start, claim_and_start_in
from pinflow.store.db import Database
from pinflow.store.prepared import Prepared
from pinflow.store.tables import DagRun, TaskInstance

_TI = cast(Table, TaskInstance.__table__)
_RUN = cast(Table, DagRun.__table__)
# The runs of a step's reports, locked in run order (``ORDER BY`` under ``FOR UPDATE``: rows
# are locked as they are returned). SQLite never runs it (one transaction per step there).
_LOCK_RUNS = Prepared(
    select(_RUN.c.id)
    .where(
        _RUN.c.id.in_(select(_TI.c.run_pk).where(_TI.c.id.in_(bindparam("tis", expanding=True))))
    )
    .order_by(_RUN.c.id)
    .with_for_update()
)


@dataclass(frozen=True)
class StepOutcome:
    """What ``report_and_claim`` did: each report's new state (or why it was refused: a
    stale or duplicate report), and the tries it started (or claimed and held)."""

    states: dict[tuple[int, int], TaskState | PinflowError]
    started: list[tuple[ClaimedTask, StartedTask]]
    held: list[ClaimedTask]


def report_and_claim(
    db: Database,
    reports: Sequence[TaskReport],
    *,
    limit: int,
    hostname: str | None = None,
    pid: int | None = None,
    hold: Collection[int] = (),
    now: datetime | None = None,
) -> StepOutcome:
    """Record ``reports`` (``finish_task`` each), then ``claim_and_start`` up to ``limit``.

    A report the store refuses is answered in ``states`` and changes nothing; a value that
    cannot be stored fails its try with the reason, as ``finish_task``'s callers do. Should
    starting the claimed tries conflict, they are only queued and returned as ``held``: the
    caller starts each with ``start_task``, which answers for each one.

    Where one writer at a time holds the whole database (SQLite), it is all one
    transaction: a commit is the largest cost of a step there. Elsewhere the reports share
    one transaction (``_record_reports``) and the claim is another, because a claim locks DAG
    rows, which must never be waited for while holding a run (the lock order).
    """
    stamp = now or common.now()
    ordered = sorted(reports, key=lambda r: (r.ti_id, r.try_number))  # a stable lock order
    if db.dialect_ops.one_writer and ordered:
        try:
            with db.transaction() as s:
                states = {r[:2]: _report_in(s, r, stamp) for r in ordered}
                # Stamped when they start, not when the step began: a try's start_date is
                # its upstream's end_date plus what the scheduler took (unless ``now`` is given).
                started, held = claim_and_start_in(
                    s, limit=limit, hostname=hostname, pid=pid, hold=hold, stamp=now or common.now()
                )
                return StepOutcome(states, started, held)
        except (SQLAlchemyError, ConflictError):
            pass  # unexpected: each on its own below, so that one cannot hold back the others
    states = _record_reports(db, ordered, stamp)
    try:
        started, held = claim_and_start(
            db, limit=limit, hostname=hostname, pid=pid, hold=hold, now=now
        )
    except ConflictError:  # a try row in the way (never written by Pinflow itself): slow path
        started, held = [], claim_scheduled(db, limit=limit, now=now)
    return StepOutcome(states, started, held)


def _record_reports(
    db: Database, ordered: Sequence[TaskReport], stamp: datetime
) -> dict[tuple[int, int], TaskState | PinflowError]:
    """The reports of a step where rows are locked one by one (PostgreSQL): several share one
    transaction, which first locks all their runs in run order in one statement (so two
    schedulers' steps never wait for each other's runs in a cycle; each report then locks its
    run again, a no-op, and its task instance: ADR 0002's order). A commit per step instead
    of one per report (ADR 0042). Should that transaction fail (a deadlock with a writer
    that locks in another order, anything unexpected), each report is retried on its own."""
    if len(ordered) > 1:
        try:
            with db.transaction() as s:
                _LOCK_RUNS.execute(common.conn(s), {"tis": [r.ti_id for r in ordered]})
                return {r[:2]: _report_in(s, r, stamp) for r in ordered}
        except (SQLAlchemyError, PinflowError):
            pass  # nothing of it was kept: one report per transaction below, as before
    states: dict[tuple[int, int], TaskState | PinflowError] = {}
    for report in ordered:
        with db.transaction() as s:
            states[report[:2]] = _report_in(s, report, stamp)
    return states


def _report_in(s: Session, report: TaskReport, stamp: datetime) -> TaskState | PinflowError:
    try:
        try:
            return finish_in(s, report, stamp)
        except InvalidInputError as exc:  # the value cannot be stored: the try fails
            failed = report._replace(success=False, error=str(exc), xcom=NO_XCOM)
            return finish_in(s, failed, stamp)
    except (ConflictError, NotFoundError) as exc:
        return exc
