"""A task instance's row as the start, heartbeat and report paths lock, check and write it.

Each path locks the run, then the task instance (``lock``: ADR 0002's lock order), checks
that the row is where the try it names expects it (``expect``, by
``pinflow.lifecycle.try_rules``), and writes with an ``UPDATE`` still guarded on that state
and try number (``guarded``): a check never becomes a race, and a stale or duplicate message
changes nothing.

Starts and reports run once per try: their statements are built once (building one costs
more than running it) and read plain rows, not ORM objects.
"""

from __future__ import annotations

from typing import Any, NamedTuple, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from pinflow.errors import ConflictError, NotFoundError
from pinflow.lifecycle.try_rules import TryPosition, is_stale
from pinflow.services import common
from pinflow.services.engine._claims import ClaimedTask
from pinflow.services.engine._scheduling import RunRow
from pinflow.store.prepared import Prepared
from pinflow.store.tables import DagRun, TaskInstance

_TI = cast(Table, TaskInstance.__table__)
_RUN = cast(Table, DagRun.__table__)

_RUN_ROW = (
    _RUN.c.id,
    _RUN.c.dag_id,
    _RUN.c.run_id,
    _RUN.c.state,
    _RUN.c.snapshot_digest,
    _RUN.c.version_id,
)
_RUN_COLUMNS = len(_RUN_ROW)
_TI_ROW = (
    _TI.c.id,
    _TI.c.run_pk,
    _TI.c.task_id,
    _TI.c.map_index,
    _TI.c.state,
    _TI.c.try_number,
    _TI.c.max_tries,
)
# One statement, one round trip, on both databases: PostgreSQL takes a join's row locks in
# the order of its FROM list, so the run's row before the task instance's (ADR 0002's lock
# order; ADR 0026); SQLite, whose writer holds the whole database, renders no FOR UPDATE.
_LOCK_RUN_AND_TI = Prepared(
    select(*_RUN_ROW, *_TI_ROW)
    .join_from(_RUN, _TI, _RUN.c.id == _TI.c.run_pk)
    .where(_TI.c.id == bindparam("ti"))
    .with_for_update()
)
_LOCK_TI = Prepared(select(*_TI_ROW).where(_TI.c.id == bindparam("ti")).with_for_update())


def guarded_stmt(*columns: str) -> Prepared:
    """``UPDATE task_instance SET <columns> WHERE id, state, try_number`` are as expected."""
    return Prepared(
        update(_TI)
        .where(_TI.c.id == bindparam("ti"), _TI.c.state == bindparam("expected_state"))
        .where(_TI.c.try_number == bindparam("expected_try"))
        .values({column: bindparam(f"v_{column}") for column in columns})
    )


class TiRow(NamedTuple):
    """A task instance as the start and report paths lock it."""

    id: int
    run_pk: int
    task_id: str
    map_index: int
    state: str
    try_number: int
    max_tries: int


def lock(s: Session, ti_id: int) -> tuple[RunRow, TiRow]:
    """Lock the run, then the task instance (the lock order), in one statement."""
    found = _LOCK_RUN_AND_TI.execute(common.conn(s), {"ti": ti_id}).fetchone()
    if found is None:
        raise NotFoundError(f"Task instance {ti_id} was not found.")
    return RunRow(*found[:_RUN_COLUMNS]), TiRow(*found[_RUN_COLUMNS:])


def lock_ti(s: Session, ti_id: int) -> TiRow:
    found = _LOCK_TI.execute(common.conn(s), {"ti": ti_id}).fetchone()
    if found is None:
        raise NotFoundError(f"Task instance {ti_id} was not found.")
    return TiRow(*found)


def name(ti: TiRow | ClaimedTask) -> str:
    mapped = f"[{ti.map_index}]" if ti.map_index >= 0 else ""
    ti_id = ti.id if isinstance(ti, TiRow) else ti.ti_id
    return f"task {ti.task_id!r}{mapped} (task instance {ti_id})"


def expect(ti: TiRow, expected: TryPosition, action: str) -> None:
    """Refuse ``action`` (``ConflictError``) unless ``ti`` is where the try expects it."""
    if is_stale(ti.state, ti.try_number, expected):
        raise ConflictError(
            f"Cannot {action} {name(ti)}: it is {ti.state} at try {ti.try_number}, expected "
            f"{expected.state.value} at try {expected.try_number}. The report is stale or a "
            "duplicate; nothing was changed.",
            {"state": ti.state, "tryNumber": ti.try_number},
        )


def guarded(
    s: Session, ti: TiRow, expected: TryPosition, *, stmt: Prepared, values: dict[str, Any]
) -> None:
    """The write behind a checked report: still conditional, so a check never becomes a race."""
    written = stmt.execute(common.conn(s), guarded_params(ti, expected, values))
    confirm(ti, written.rowcount)


def guarded_params(ti: TiRow, expected: TryPosition, values: dict[str, Any]) -> dict[str, Any]:
    """The parameters of a ``guarded_stmt`` that expects ``ti`` at ``expected``."""
    return {
        "ti": ti.id,
        "expected_state": expected.state.value,
        "expected_try": expected.try_number,
        **values,
    }


def confirm(ti: TiRow, written: int) -> None:
    """Refuse (``ConflictError``) a guarded write that changed no row (``written``)."""
    if not written:
        raise ConflictError(f"{name(ti)} changed state meanwhile; nothing was changed.")
