"""One scheduler step: the step's reports, then the claim and start of the slots they freed
(``report_and_claim``).

Where the database has one writer (SQLite: ``DialectOps.one_writer``) the whole step is one
transaction: no lock order is at stake, and a commit is the largest single cost of a step.
Elsewhere each report is its own transaction and the claim another, because a claim locks DAG
rows, which must never be waited for while holding a run row (ADR 0002's lock order; ADR
0009). A refusal (a stale report) is raised before anything is written, so it never undoes
the others in the step.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from pinflow.errors import ConflictError, InvalidInputError, NotFoundError, PinflowError
from pinflow.lifecycle.states import TaskState
from pinflow.services import common
from pinflow.services.engine._claims import ClaimedTask, claim_scheduled
from pinflow.services.engine._reports import NO_XCOM, TaskReport, finish_in
from pinflow.services.engine._starts import StartedTask, claim_and_start, claim_and_start_in
from pinflow.store.db import Database


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
    transaction: a commit is the largest cost of a step there. Elsewhere each report is its
    own transaction and the claim another, because a claim locks DAG rows, which must never
    be waited for while holding a run (the lock order).
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
    states = {}
    for report in ordered:
        with db.transaction() as s:
            states[report[:2]] = _report_in(s, report, stamp)
    try:
        started, held = claim_and_start(
            db, limit=limit, hostname=hostname, pid=pid, hold=hold, now=now
        )
    except ConflictError:  # a try row in the way (never written by Pinflow itself): slow path
        started, held = [], claim_scheduled(db, limit=limit, now=now)
    return StepOutcome(states, started, held)


def _report_in(s: Session, report: TaskReport, stamp: datetime) -> TaskState | PinflowError:
    try:
        try:
            return finish_in(s, report, stamp)
        except InvalidInputError as exc:  # the value cannot be stored: the try fails
            failed = report._replace(success=False, error=str(exc), xcom=NO_XCOM)
            return finish_in(s, failed, stamp)
    except (ConflictError, NotFoundError) as exc:
        return exc
