"""Tries run by remote workers, through the execution API (``/execution/v1``, ADR 0012).

The same engine calls as the local executor's, keyed by the try a token names
(``_try_tokens.TryClaims``): ``start_task`` (``queued`` -> ``running``), ``heartbeat``,
``finish_task``; so the try rules fence a remote try exactly as a local one. A worker gets
the same ``TaskRequest`` the local executor builds, except that ``bundle_uri`` is the
execution API's snapshot resource, and reports the same ``TaskResult``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, func, insert, select
from sqlalchemy.orm import Session

from pinflow.errors import ConflictError, InvalidInputError, NotFoundError, PinflowError
from pinflow.lifecycle.states import RunType, TaskState
from pinflow.lifecycle.try_rules import position_while_running
from pinflow.runtime.artifacts import ArtifactStore
from pinflow.runtime.contract import TaskRequest, TaskResult
from pinflow.runtime.paths import log_path, staging_path
from pinflow.services import common
from pinflow.services.common import now
from pinflow.services.engine._assets import triggering_events
from pinflow.services.engine._dispatch import attach_staging
from pinflow.services.engine._heartbeats import heartbeat
from pinflow.services.engine._reports import finish_task
from pinflow.services.engine._requests import task_request
from pinflow.services.engine._results import record_result
from pinflow.services.engine._starts import StartedTask, start_task, start_task_in
from pinflow.services.engine._try_rows import expect, lock_ti
from pinflow.services.engine._try_tokens import TryClaims
from pinflow.services.engine._xcom_store import TryIdentity, encode_xcom
from pinflow.services.xcom_values import RETURN_VALUE, value_of
from pinflow.settings import Settings
from pinflow.store.db import Database
from pinflow.store.dialect import PreparedInsertOrIgnore
from pinflow.store.prepared import Prepared
from pinflow.store.tables import DagRun, Snapshot, TaskInstance, TaskLogChunk, XCom

STOP_THE_TRY = "Stop this try: it is no longer the live try of its task instance."


@dataclass(frozen=True)
class SnapshotDocument:
    """A snapshot as a worker fetches it: it recomputes ``digest`` from the other two."""

    digest: str
    spec: dict[str, Any]
    bundle: bytes


def start_remote_try(
    db: Database,
    claims: TryClaims,
    settings: Settings,
    *,
    bundles_url: str,
    hostname: str | None,
    pid: int | None,
) -> tuple[TaskRequest, StartedTask]:
    """Start the try a token names and build its request, in one transaction (the start, the
    reads the request needs, where the try logs); ``ConflictError`` when the task instance is
    no longer where that try can start (cleared, started already, superseded)."""
    try:
        with db.transaction() as s:
            started = start_task_in(
                s, claims.ti_id, try_number=claims.try_number, hostname=hostname, pid=pid
            )
            request = _request(s, claims, started, settings, bundles_url)
            # Where the run stages (on the shared store when there is one), so that deleting
            # the run removes it. No log path: a remote try's log is kept in the database.
            staged = (started.run_pk, request.staging_uri or request.staging_dir)
            if staged not in _STAGED:
                attach_staging(s, *staged)
        _remember_staged(staged)
        return request, started
    except ConflictError as exc:
        raise ConflictError(f"{exc} {STOP_THE_TRY}") from None
    except PinflowError as exc:
        # The request cannot be built (the start above was rolled back with it): the try
        # starts and fails, so that its retries apply and the reason is on the try.
        message = f"the task request could not be built: {exc}"
        try:
            started = start_task(
                db, claims.ti_id, try_number=claims.try_number, hostname=hostname, pid=pid
            )
        except ConflictError as conflict:
            raise ConflictError(f"{conflict} {STOP_THE_TRY}") from None
        finish_task(db, claims.ti_id, try_number=started.try_number, success=False, error=message)
        raise


# The runs whose staging dir this process recorded (the row is made once per run: a start of
# another try of the run need not write it again). Bounded: forgetting only costs a write.
_STAGED: set[tuple[int, str]] = set()
_STAGED_MAX = 100_000


def _remember_staged(staged: tuple[int, str]) -> None:
    if len(_STAGED) >= _STAGED_MAX:
        _STAGED.clear()
    _STAGED.add(staged)


def heartbeat_remote_try(db: Database, claims: TryClaims, *, now: datetime | None = None) -> None:
    try:
        heartbeat(db, claims.ti_id, try_number=claims.try_number, now=now)
    except ConflictError as exc:
        raise ConflictError(f"{exc} {STOP_THE_TRY}") from None


def finish_remote_try(
    db: Database,
    claims: TryClaims,
    result: TaskResult,
    settings: Settings,
    *,
    log: str | None = None,
    log_seq: int | None = None,
) -> TaskState:
    """Record the try's result as the scheduler records a local one: a value that cannot be
    stored (above ``xcom_db_limit`` inline, a reference to another key) fails the try. A stale
    try's result raises ``ConflictError`` and writes nothing. ``log``: the end of the try's
    log, kept in the same transaction (``append_log``)."""
    # The try is the token's, whatever the body says.
    mine = replace(result, ti_id=claims.ti_id, try_number=claims.try_number)

    def keep_log(s: Session) -> None:
        if log:
            append_log_in(s, claims, log, seq=log_seq)

    # What the result made ready is claimed by a scheduler in another process (or this
    # one): its commit wakes them, rather than their next poll.
    return record_result(
        db,
        mine,
        xcom_db_limit=settings.xcom_db_limit,
        max_interruptions=settings.max_interruptions,
        wake=True,
        also=keep_log,
    )


def push_xcom(db: Database, claims: TryClaims, key: str, value: Any, *, limit: int) -> None:
    """Store an XCom the running try pushes under ``key`` (its own task instance only: the
    token's), replacing what it pushed before under that key. Fenced as a heartbeat is: a try
    that is no longer the live one writes nothing (``ConflictError``). ``return_value`` is the
    try's result, recorded with it, never pushed."""
    if key == RETURN_VALUE:
        raise InvalidInputError(
            f"The XCom key {RETURN_VALUE!r} is the task's result: return the value from the "
            "task instead of pushing it."
        )
    with db.transaction() as s:
        ti = lock_ti(s, claims.ti_id)
        expect(
            ti,
            position_while_running(claims.try_number),
            f"push an XCom from try {claims.try_number} of",
        )
        of = TryIdentity(
            claims.dag_id, claims.run_id, claims.task_id, claims.map_index, claims.try_number
        )
        payload = encode_xcom(of, value, limit=limit)
        where = {"run_pk": ti.run_pk, "task_id": ti.task_id, "map_index": ti.map_index}
        s.execute(delete(XCom).filter_by(**where, key=key))
        s.execute(insert(XCom).values(**where, key=key, **payload.as_dict(), created_at=now()))


def append_log(db: Database, claims: TryClaims, chunk: str, *, seq: int | None = None) -> None:
    """Keep a piece of the try's log (``TaskLogChunk``), where every API server reads it."""
    with db.transaction() as s:
        append_log_in(s, claims, chunk, seq=seq)


def append_log_in(s: Session, claims: TryClaims, chunk: str, *, seq: int | None = None) -> None:
    """``append_log`` in the caller's transaction. ``seq``: the piece's place in the log (the
    worker numbers them, so that a retried upload is kept once); ``None``: after the last."""
    key = {"ti_id": claims.ti_id, "try_number": claims.try_number}
    if seq is None:
        last = s.scalar(select(func.max(TaskLogChunk.seq)).filter_by(**key))
        seq = 0 if last is None else last + 1
    values = {**key, "seq": seq, "content": chunk, "created_at": now()}
    _INSERT_LOG_CHUNK.execute(common.conn(s), values)


_INSERT_LOG_CHUNK = PreparedInsertOrIgnore(
    cast(Table, TaskLogChunk.__table__),
    ("ti_id", "try_number", "seq", "content", "created_at"),
    key=("ti_id", "try_number", "seq"),
)


def try_log_path(logs_dir: Path, claims: TryClaims) -> Path:
    return log_path(
        logs_dir,
        claims.dag_id,
        claims.run_id,
        claims.task_id,
        map_index=claims.map_index,
        try_number=claims.try_number,
    )


def snapshot_document(db: Database, digest: str) -> SnapshotDocument:
    with db.read() as s:
        row = s.get(Snapshot, digest)
        if row is None:
            raise NotFoundError(f"Snapshot {digest} was not found.")
        return SnapshotDocument(row.digest, dict(row.spec), bytes(row.bundle or b""))


def encode_bundle(bundle: bytes) -> str | None:
    return base64.b64encode(bundle).decode() if bundle else None


def run_xcom(
    db: Database,
    claims: TryClaims,
    task_id: str,
    *,
    map_index: int = -1,
    key: str = RETURN_VALUE,
    artifacts: ArtifactStore | None = None,
) -> Any:
    """An XCom of the token's own run; ``NotFoundError`` when there is none."""
    return value_of(db, _run_pk(db, claims), task_id, key, map_index, artifacts=artifacts)


def _run_pk(db: Database, claims: TryClaims) -> int:
    with db.read() as s:
        run_pk = s.scalars(select(TaskInstance.run_pk).where(TaskInstance.id == claims.ti_id))
        found = run_pk.one_or_none()
    if found is None:
        raise NotFoundError(f"Task instance {claims.ti_id} was not found.")
    return int(found)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# Whether a snapshot has code, by digest: a snapshot never changes.
_HAS_CODE: dict[str, bool] = {}


def _has_code(s: Session, digest: str) -> bool:
    if digest not in _HAS_CODE:
        length = s.scalar(select(func.length(Snapshot.bundle)).filter_by(digest=digest))
        _HAS_CODE[digest] = bool(length)
    return _HAS_CODE[digest]


_RUN = cast(Table, DagRun.__table__)
# Built once: it runs for every remote start (a Core row, not an ORM object: cheaper).
_RUN_FIELDS = Prepared(
    select(
        _RUN.c.params,
        _RUN.c.conf,
        _RUN.c.logical_date,
        _RUN.c.data_interval_start,
        _RUN.c.data_interval_end,
        _RUN.c.run_type,
    ).where(_RUN.c.id == bindparam("run_pk"))
)


def _run_fields(s: Session, started: StartedTask, bundles_url: str) -> dict[str, Any]:
    """What a request takes from the run, and where the worker fetches the code."""
    digest = started.snapshot_digest
    row = _RUN_FIELDS.execute(common.conn(s), {"run_pk": started.run_pk}).fetchone()
    if row is None:
        raise NotFoundError(f"DAG run {started.run_pk} was not found.")
    params, conf, logical_date, start, end, run_type = row
    return {
        "params": dict(params or {}),
        "conf": dict(conf or {}),
        "logical_date": _iso(logical_date),
        "data_interval_start": _iso(start),
        "data_interval_end": _iso(end),
        "run_type": run_type,
        "triggering_asset_events": (
            triggering_events(s, started.run_pk)
            if run_type == RunType.ASSET_TRIGGERED.value
            else []
        ),
        "bundle_uri": f"{bundles_url}/{digest}" if _has_code(s, digest) else None,
    }


def _request(
    s: Session, claims: TryClaims, started: StartedTask, settings: Settings, bundles_url: str
) -> TaskRequest:
    """The ``TaskRequest`` the local executor's ``RequestBuilder`` builds for this try."""
    return task_request(
        s,
        settings,
        ti_id=claims.ti_id,
        dag_id=claims.dag_id,
        run_id=claims.run_id,
        run_pk=started.run_pk,
        task_id=started.task_id,
        map_index=started.map_index,
        try_number=started.try_number,
        snapshot_digest=started.snapshot_digest,
        staging_dir=str(staging_path(settings.staging_dir, claims.dag_id, claims.run_id)),
        log_path=str(try_log_path(settings.logs_dir, claims)),
        run_fields=_run_fields(s, started, bundles_url),
    )


__all__ = [
    "STOP_THE_TRY",
    "SnapshotDocument",
    "append_log",
    "append_log_in",
    "encode_bundle",
    "finish_remote_try",
    "heartbeat_remote_try",
    "push_xcom",
    "run_xcom",
    "snapshot_document",
    "start_remote_try",
    "try_log_path",
]
