"""What an executor calls: claim scheduled tasks, start a try, heartbeat, report its result.

``claim_scheduled`` lives with the limits it enforces (``services.pools``) and is re-exported
here, so an executor needs this module only.

Every function is one transaction and every state change is guarded by the state (and try)
the caller expects. A report that does not match (a duplicate, or a stale result arriving
after the task was cleared) raises ``ConflictError`` and changes nothing: never a lost update.

Task results are not audit events: there are far too many, and the task instance and its try
rows already record who ran what, when, on which snapshot.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Final, NamedTuple, cast

from sqlalchemy import Table, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from pinflow.errors import ConflictError, InvalidInputError, NotFoundError, PinflowError
from pinflow.lifecycle.mapping import MISSING, upstream_output
from pinflow.lifecycle.run_planning import RetryDecision, retry_decision
from pinflow.lifecycle.states import RunState, TaskState, can_report
from pinflow.runtime.artifacts import ArtifactStore
from pinflow.runtime.contract import XCOM_DB_LIMIT
from pinflow.services import common, xcom_values
from pinflow.services.engine import _xcom_store as xcom_store
from pinflow.services.engine._pools import ClaimedTask, claim_in, claim_scheduled, queue_claimed
from pinflow.services.engine._scheduling import RunRow, advance_run
from pinflow.services.engine._xcom_store import TryIdentity, XComColumns
from pinflow.spec.models import TaskSpec, XComRef
from pinflow.store.db import Database
from pinflow.store.prepared import Prepared
from pinflow.store.repo import cached_spec
from pinflow.store.tables import DagRun, TaskInstance, TaskInstanceTry, XCom

__all__ = [
    "NO_XCOM",
    "RETURN_VALUE",
    "XCOM_DB_LIMIT_BYTES",
    "ClaimedTask",
    "StartedTask",
    "claim_and_start",
    "claim_scheduled",
    "finish_task",
    "get_inputs",
    "get_xcom",
    "heartbeat",
    "report_and_claim",
    "start_task",
]

RETURN_VALUE = "return_value"
# The default of ``finish_task``'s ``xcom_db_limit``: larger values belong in the artifact store.
XCOM_DB_LIMIT_BYTES: Final = XCOM_DB_LIMIT


class _NoXCom(Enum):
    NO_XCOM = "no_xcom"


NO_XCOM: Final = _NoXCom.NO_XCOM
"""``finish_task(xcom=NO_XCOM)``: the try returned nothing to store (``None`` is a value)."""


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


# --- rows ---------------------------------------------------------------------------------------
#
# Starts and reports run once per try: their statements are built once (building one costs
# more than running it) and read plain rows, not ORM objects.

_TI = cast(Table, TaskInstance.__table__)
_TRY = cast(Table, TaskInstanceTry.__table__)
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
_LOCK_RUN_OF_TI = Prepared(
    select(*_RUN_ROW)
    .where(_RUN.c.id == select(_TI.c.run_pk).where(_TI.c.id == bindparam("ti")).scalar_subquery())
    .with_for_update()
)
_LOCK_TI = Prepared(select(*_TI_ROW).where(_TI.c.id == bindparam("ti")).with_for_update())
_READ_RUN_AND_TI = Prepared(
    select(*_RUN_ROW, *_TI_ROW)
    .join_from(_TI, _RUN, _RUN.c.id == _TI.c.run_pk)
    .where(_TI.c.id == bindparam("ti"))
)


def _guarded_stmt(*columns: str) -> Prepared:
    """``UPDATE task_instance SET <columns> WHERE id, state, try_number`` are as expected."""
    return Prepared(
        update(_TI)
        .where(_TI.c.id == bindparam("ti"), _TI.c.state == bindparam("expected_state"))
        .where(_TI.c.try_number == bindparam("expected_try"))
        .values({column: bindparam(f"v_{column}") for column in columns})
    )


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
_BEGIN = _guarded_stmt(*_BEGIN_COLUMNS)
_CLAIM_AND_BEGIN = _guarded_stmt(*_BEGIN_COLUMNS, "queued_at")
_END = _guarded_stmt("state", "end_date", "updated_at", "next_try_at")
_HEARTBEAT = _guarded_stmt("heartbeat_at")
_TRY_COLUMNS = (
    "ti_id",
    "try_number",
    "state",
    "snapshot_digest",
    "version_id",
    "start_date",
    "hostname",
    "pid",
)
_INSERT_TRY = Prepared(insert(_TRY).values({c: bindparam(c) for c in _TRY_COLUMNS}))
_END_TRY = Prepared(
    update(_TRY)
    .where(_TRY.c.ti_id == bindparam("ti"), _TRY.c.try_number == bindparam("try"))
    .values(state=bindparam("v_state"), end_date=bindparam("v_end"), error=bindparam("v_error"))
)
_XCOM_COLUMNS = (
    "run_pk",
    "task_id",
    "map_index",
    "key",
    "value",
    "size",
    "artifact_uri",
    "artifact_sha256",
    "value_length",
    "created_at",
)
_INSERT_XCOM = Prepared(
    insert(cast(Table, XCom.__table__)).values({c: bindparam(c) for c in _XCOM_COLUMNS})
)
_DROP_XCOMS = Prepared(
    delete(cast(Table, XCom.__table__)).where(
        XCom.run_pk == bindparam("run_pk"),
        XCom.task_id == bindparam("task_id"),
        XCom.map_index == bindparam("map_index"),
    )
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


# --- start, heartbeat ---------------------------------------------------------------------------


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
    stamp = now or common.now()
    with db.transaction() as s:
        run, ti = _lock(s, ti_id)
        _expect(ti, TaskState.QUEUED, try_number - 1, f"start try {try_number} of")
        _begin_tries(s, [_Try(run, ti, try_number)], hostname=hostname, pid=pid, stamp=stamp)
        _drop_xcoms(s, [ti])
        return _started(run, ti.id, ti.task_id, ti.map_index, try_number)


def claim_and_start(
    db: Database,
    *,
    limit: int,
    hostname: str | None = None,
    pid: int | None = None,
    hold: Collection[int] = (),
    now: datetime | None = None,
) -> tuple[list[tuple[ClaimedTask, StartedTask]], list[ClaimedTask]]:
    """``claim_scheduled`` and ``start_task`` of every claimed try, in one transaction.

    What an executor that runs a try as soon as it has it calls (the local executor): the
    tries are ``running`` once this returns, with the same rows ``start_task`` writes, and
    the transaction per try between the claim and the start is saved. Claimed task instances
    whose id is in ``hold`` (a try of theirs still runs in this executor) are left ``queued``,
    returned second, for ``start_task`` once that try has ended.
    """
    with db.transaction() as s:
        return _claim_and_start_in(
            s, limit=limit, hostname=hostname, pid=pid, hold=hold, stamp=now or common.now()
        )


def _claim_and_start_in(
    s: Session,
    *,
    limit: int,
    hostname: str | None,
    pid: int | None,
    hold: Collection[int],
    stamp: datetime,
) -> tuple[list[tuple[ClaimedTask, StartedTask]], list[ClaimedTask]]:
    claimed = claim_in(s, limit=limit, now=stamp, queue=False)
    held = [task for task in claimed if task.ti_id in hold]
    if held:
        queue_claimed(s, [task.ti_id for task in held], stamp)
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
        claimed=True,
    )
    _drop_xcoms(s, starting)
    started = [
        (t, _started(runs[t.run_pk], t.ti_id, t.task_id, t.map_index, t.try_number))
        for t in starting
    ]
    return started, held


def _started(run: RunRow, ti_id: int, task_id: str, map_index: int, try_number: int) -> StartedTask:
    return StartedTask(
        ti_id, run.id, task_id, map_index, try_number, run.snapshot_digest, run.version_id
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
    claimed: bool = False,
) -> None:
    """``queued`` -> ``running`` for each try, and its try row (two statements, however many
    tries). ``claimed``: straight from ``scheduled``, claimed in this transaction."""
    proc = {"hostname": hostname, "pid": pid}
    begins = [
        {
            "ti": t.ti_id,
            "expected_state": (TaskState.SCHEDULED if claimed else TaskState.QUEUED).value,
            "expected_try": t.number - 1,
            "v_queued_at": stamp,
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
        }
        for t in tries
    ]
    conn = common.conn(s)
    if (_CLAIM_AND_BEGIN if claimed else _BEGIN).executemany(conn, begins) != len(begins):
        raise ConflictError("A task instance changed state meanwhile; nothing was changed.")
    rows = [
        {
            "ti_id": t.ti_id,
            "try_number": t.number,
            "state": TaskState.RUNNING.value,
            "snapshot_digest": t.run.snapshot_digest,
            "version_id": t.run.version_id,
            "start_date": stamp,
            **proc,
        }
        for t in tries
    ]
    try:
        _INSERT_TRY.executemany(conn, rows)
    except IntegrityError:
        which = "; ".join(f"Try {t.number} of {_name(t.ti)}" for t in tries)
        raise ConflictError(f"{which}: a try row with that number already exists.") from None


def _drop_xcoms(s: Session, tis: Sequence[TiRow | ClaimedTask]) -> None:
    """XComs an earlier try left (or a try of an element a clear removed): a downstream task
    must never read a stale result."""
    if tis:
        keys = [{"run_pk": t.run_pk, "task_id": t.task_id, "map_index": t.map_index} for t in tis]
        _DROP_XCOMS.executemany(common.conn(s), keys)


def heartbeat(db: Database, ti_id: int, *, try_number: int, now: datetime | None = None) -> None:
    """Record that try ``try_number`` is alive. A conflict tells the worker to stop the try."""
    stamp = now or common.now()
    with db.transaction() as s:  # the task instance's row lock only: heartbeats are frequent
        ti = _lock_ti(s, ti_id)
        _expect(ti, TaskState.RUNNING, try_number, f"heartbeat try {try_number} of")
        _guarded(
            s, ti, TaskState.RUNNING, try_number, stmt=_HEARTBEAT, values={"v_heartbeat_at": stamp}
        )


# --- finish -------------------------------------------------------------------------------------


def finish_task(
    db: Database,
    ti_id: int,
    *,
    try_number: int,
    success: bool,
    error: str | None = None,
    xcom: Any = NO_XCOM,
    skipped: bool = False,
    now: datetime | None = None,
    xcom_db_limit: int = XCOM_DB_LIMIT_BYTES,
) -> TaskState:
    """Report how try ``try_number`` ended; returns the task instance's new state.

    ``skipped`` wins over ``success`` (the task asked to be skipped). A failure becomes
    ``up_for_retry`` while tries remain, else ``failed``. ``xcom`` is stored as the
    ``return_value`` of a successful try (ignored otherwise): a JSON value of at most
    ``xcom_db_limit`` bytes once encoded, or a ``xcom_store.StoredXCom`` (the reference to the
    try's artifact, recorded without reading it); else ``InvalidInputError`` and nothing
    changes. The run advances in the same transaction, so downstream tasks are scheduled at
    once.
    """
    report = TaskReport(ti_id, try_number, success, error, xcom, skipped, xcom_db_limit)
    with db.transaction() as s:
        return _finish_in(s, report, now or common.now())


class TaskReport(NamedTuple):
    """How one try ended, as ``finish_task`` takes it (``report_and_claim`` takes several)."""

    ti_id: int
    try_number: int
    success: bool
    error: str | None = None
    xcom: Any = NO_XCOM
    skipped: bool = False
    xcom_db_limit: int = XCOM_DB_LIMIT_BYTES  # for an inline value (the settings' limit)


def _finish_in(s: Session, report: TaskReport, stamp: datetime) -> TaskState:
    """``finish_task`` in the caller's transaction. Every refusal (``ConflictError``,
    ``NotFoundError``, ``InvalidInputError``) is raised before anything is written."""
    ti_id, try_number, success, error, xcom, skipped, xcom_db_limit = report
    run, ti = _lock(s, ti_id)
    _expect(ti, TaskState.RUNNING, try_number, f"report try {try_number} of")
    stored = xcom is not NO_XCOM and success and not skipped
    payload = _encode_xcom(run, ti, xcom, xcom_db_limit) if stored else None
    if skipped or success:
        decision = RetryDecision(TaskState.SKIPPED if skipped else TaskState.SUCCESS, None)
    else:
        decision = _after_failure(s, run, ti, try_number, stamp)
    assert can_report(TaskState.RUNNING, decision.state)
    _end_try(s, ti, try_number, decision, error=error, stamp=stamp)  # the first write
    if payload is not None:
        _store_xcom(s, ti, payload, stamp)
    advance_run(s, run, now=stamp, changed=[ti.task_id])
    return decision.state


# --- one scheduler step ---------------------------------------------------------------------------


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

    On SQLite, where one writer at a time holds the whole database, it is all one
    transaction: a commit is the largest cost of a step there. Elsewhere each report is its
    own transaction and the claim another, because a claim locks DAG rows, which must never
    be waited for while holding a run (the lock order).
    """
    stamp = now or common.now()
    ordered = sorted(reports, key=lambda r: (r.ti_id, r.try_number))  # a stable lock order
    if db.is_sqlite and ordered:
        try:
            with db.transaction() as s:
                states = {r[:2]: _report_in(s, r, stamp) for r in ordered}
                # Stamped when they start, not when the step began: a try's start_date is
                # its upstream's end_date plus what the scheduler took (unless ``now`` is given).
                started, held = _claim_and_start_in(
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
            return _finish_in(s, report, stamp)
        except InvalidInputError as exc:  # the value cannot be stored: the try fails
            failed = report._replace(success=False, error=str(exc), xcom=NO_XCOM)
            return _finish_in(s, failed, stamp)
    except (ConflictError, NotFoundError) as exc:
        return exc


def _end_try(
    s: Session,
    ti: TiRow,
    try_number: int,
    decision: RetryDecision,
    *,
    error: str | None,
    stamp: datetime,
) -> None:
    values = {
        "v_state": decision.state.value,
        "v_end_date": stamp,
        "v_updated_at": stamp,
        "v_next_try_at": decision.next_try_at,
    }
    _guarded(s, ti, TaskState.RUNNING, try_number, stmt=_END, values=values)
    params = {
        "ti": ti.id,
        "try": try_number,
        "v_state": decision.state.value,
        "v_end": stamp,
        "v_error": error,
    }
    _END_TRY.execute(common.conn(s), params)


def _after_failure(
    s: Session, run: RunRow, ti: TiRow, try_number: int, now: datetime
) -> RetryDecision:
    spec = cached_spec(s, run.snapshot_digest)
    task = spec.task(ti.task_id)
    if task is None:  # the run was re-bound to a version without this task: nothing to retry
        return RetryDecision(TaskState.FAILED, None)
    return retry_decision(spec.resolve(task), try_number, now, max_tries=ti.max_tries)


def _encode_xcom(run: RunRow, ti: TiRow, value: Any, limit: int) -> XComColumns:
    of = TryIdentity(run.dag_id, run.run_id, ti.task_id, ti.map_index, ti.try_number)
    return xcom_store.encode_xcom(of, value, limit=limit)


def _store_xcom(s: Session, ti: TiRow, payload: XComColumns, stamp: datetime) -> None:
    # ``start_task`` dropped this task instance's earlier XComs: this is the only value.
    row = {
        "run_pk": ti.run_pk,
        "task_id": ti.task_id,
        "map_index": ti.map_index,
        "key": RETURN_VALUE,
        **payload.as_dict(),
        "created_at": stamp,
    }
    _INSERT_XCOM.execute(common.conn(s), row)


def _lock(s: Session, ti_id: int) -> tuple[RunRow, TiRow]:
    """Lock the run, then the task instance (the module-wide lock order). SQLite has no row
    locks (its writer holds the whole database): both rows are read at once there."""
    conn = common.conn(s)
    if conn.dialect.name == "sqlite":
        both = _READ_RUN_AND_TI.execute(conn, {"ti": ti_id}).fetchone()
        if both is None:
            raise NotFoundError(f"Task instance {ti_id} was not found.")
        return RunRow(*both[:_RUN_COLUMNS]), TiRow(*both[_RUN_COLUMNS:])
    found = _LOCK_RUN_OF_TI.execute(conn, {"ti": ti_id}).fetchone()
    if found is None:
        raise NotFoundError(f"Task instance {ti_id} was not found.")
    return RunRow(*found), _lock_ti(s, ti_id)


def _run_of(task: ClaimedTask) -> RunRow:
    return RunRow(
        task.run_pk,
        task.dag_id,
        task.run_id,
        RunState.RUNNING.value,
        task.snapshot_digest,
        task.version_id,
    )


def _lock_ti(s: Session, ti_id: int) -> TiRow:
    found = _LOCK_TI.execute(common.conn(s), {"ti": ti_id}).fetchone()
    if found is None:
        raise NotFoundError(f"Task instance {ti_id} was not found.")
    return TiRow(*found)


def _name(ti: TiRow | ClaimedTask) -> str:
    mapped = f"[{ti.map_index}]" if ti.map_index >= 0 else ""
    ti_id = ti.id if isinstance(ti, TiRow) else ti.ti_id
    return f"task {ti.task_id!r}{mapped} (task instance {ti_id})"


def _expect(ti: TiRow, state: TaskState, try_number: int, action: str) -> None:
    if ti.state != state or ti.try_number != try_number:
        raise ConflictError(
            f"Cannot {action} {_name(ti)}: it is {ti.state} at try {ti.try_number}, expected "
            f"{state.value} at try {try_number}. The report is stale or a duplicate; "
            "nothing was changed.",
            {"state": ti.state, "tryNumber": ti.try_number},
        )


def _guarded(
    s: Session,
    ti: TiRow,
    state: TaskState,
    try_number: int,
    *,
    stmt: Prepared,
    values: dict[str, Any],
) -> None:
    """The write behind a checked report: still conditional, so a check never becomes a race."""
    params = {"ti": ti.id, "expected_state": state.value, "expected_try": try_number, **values}
    if not stmt.execute(common.conn(s), params).rowcount:
        raise ConflictError(f"{_name(ti)} changed state meanwhile; nothing was changed.")


# --- XCom reads -----------------------------------------------------------------------------------


def get_xcom(
    db: Database,
    run_pk: int,
    task_id: str,
    key: str = RETURN_VALUE,
    map_index: int = -1,
    *,
    artifacts: ArtifactStore | None = None,
) -> Any:
    """The stored value; ``NotFoundError`` when the task pushed nothing under ``key``.

    A value in the artifact store is read from ``artifacts`` (``DataLostError`` when it is
    missing or altered).
    """
    with db.read() as s:
        row = _xcom_row(s, run_pk, task_id, key, map_index)
        if row is None:
            raise NotFoundError(f"No XCom {key!r} of task {task_id!r} in run {run_pk}.")
        ref = xcom_values.artifact_of(row)
        if ref is None:
            return row.value
    mapped = f"[{map_index}]" if map_index >= 0 else ""
    return xcom_values.read_artifact(artifacts, ref, f"XCom {key!r} of task {task_id!r}{mapped}")


def get_inputs(
    db: Database,
    run_pk: int,
    inputs: Mapping[str, XComRef] | TaskSpec,
    *,
    artifacts: ArtifactStore | None = None,
) -> dict[str, Any]:
    """Upstream values for a task's ``inputs``, by argument name.

    A mapped upstream gives the list of its elements' values, in ``map_index`` order. As in
    Airflow, a missing ``return_value`` (the upstream was skipped, or returned nothing)
    resolves to ``None``; a missing value under another key is a ``NotFoundError``. Values in
    the artifact store are read from ``artifacts``.
    """
    refs = inputs.inputs if isinstance(inputs, TaskSpec) else inputs
    if not refs:
        return {}
    task_ids = sorted({ref.task_id for ref in refs.values()})
    with db.read() as s:
        outputs = xcom_store.outputs_by_index(s, run_pk, task_ids)
        stored: dict[tuple[str, str], dict[int, Any]] = {}
        for (task_id, key, map_index), value in outputs.items():
            stored.setdefault((task_id, key), {})[map_index] = value
        elements = _element_counts(s, run_pk, task_ids)
    values: dict[str, Any] = {}
    for name, ref in refs.items():
        count = elements.get(ref.task_id, 0)
        value = upstream_output(stored.get((ref.task_id, ref.key), {}), count, mapped=count > 0)
        if value is MISSING and ref.key != RETURN_VALUE:
            raise NotFoundError(f"No XCom {ref.key!r} of task {ref.task_id!r} for {name!r}.")
        what = f"XCom {ref.key!r} of task {ref.task_id!r}"
        values[name] = None if value is MISSING else xcom_values.load(artifacts, value, what)
    return values


def _element_counts(s: Session, run_pk: int, task_ids: list[str]) -> dict[str, int]:
    rows = s.execute(
        select(TaskInstance.task_id, func.max(TaskInstance.map_index) + 1)
        .where(TaskInstance.run_pk == run_pk, TaskInstance.task_id.in_(task_ids))
        .where(TaskInstance.map_index >= 0)
        .group_by(TaskInstance.task_id)
    )
    return {task_id: int(count) for task_id, count in rows}


def _xcom_row(s: Session, run_pk: int, task_id: str, key: str, map_index: int) -> XCom | None:
    where = {"run_pk": run_pk, "task_id": task_id, "key": key, "map_index": map_index}
    return s.scalars(select(XCom).filter_by(**where)).one_or_none()
