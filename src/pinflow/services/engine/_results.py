"""A try's ``TaskResult`` as the engine records it: the way back of a ``TaskRequest``, from a
local executor or a remote worker alike.

A scheduler step's results are reported together (``report_and_claim`` takes their
:func:`report_of`); a result that comes on its own (the executor stopped, a request could not
be built, a superseded try ended, a remote worker's report) is recorded with
:func:`record_result`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session

from pinflow.errors import InvalidInputError
from pinflow.lifecycle.states import TaskState
from pinflow.runtime.contract import TaskResult
from pinflow.services.engine._reports import (
    MAX_INTERRUPTIONS,
    NO_XCOM,
    TaskReport,
    finish_task,
)
from pinflow.services.engine._xcom_store import has_xcom, reported_xcom
from pinflow.store.db import Database


def xcom_of(result: TaskResult) -> Any:
    """What the try returned, as the services store it; ``NO_XCOM`` for a failure, a skip, or
    a try that returned nothing."""
    keep = result.success and not result.skipped and has_xcom(result)
    return reported_xcom(result) if keep else NO_XCOM


def report_of(
    result: TaskResult, xcom_db_limit: int, max_interruptions: int = MAX_INTERRUPTIONS
) -> TaskReport:
    return TaskReport(
        result.ti_id,
        result.try_number,
        result.success,
        result.error,
        xcom_of(result),
        result.skipped,
        xcom_db_limit,
        interrupted=result.interrupted,
        max_interruptions=max_interruptions,
        sensor=result.sensor,
        trigger=result.trigger,
    )


def record_result(
    db: Database,
    result: TaskResult,
    *,
    xcom_db_limit: int,
    max_interruptions: int = MAX_INTERRUPTIONS,
    wake: bool = False,
    also: Callable[[Session], None] | None = None,
) -> TaskState:
    """Record one result on its own: the try's new state. A value that cannot be stored fails
    the try instead; a stale result raises ``ConflictError`` or ``NotFoundError``. ``wake``,
    ``also``, ``max_interruptions``: as ``finish_task``'s."""
    xcom = xcom_of(result)
    if result.sensor is not None and not result.success:
        return finish_task(
            db,
            result.ti_id,
            try_number=result.try_number,
            success=False,
            error=result.error,
            sensor=result.sensor,
            trigger=result.trigger,
            wake=wake,
            also=also,
        )
    try:
        return finish_task(
            db,
            result.ti_id,
            try_number=result.try_number,
            success=result.success,
            error=result.error,
            xcom=xcom,
            skipped=result.skipped,
            xcom_db_limit=xcom_db_limit,
            interrupted=result.interrupted,
            max_interruptions=max_interruptions,
            wake=wake,
            also=also,
        )
    except InvalidInputError as exc:  # the value cannot be stored: the try fails
        return finish_task(
            db,
            result.ti_id,
            try_number=result.try_number,
            success=False,
            error=str(exc),
            wake=wake,
            also=also,
        )
