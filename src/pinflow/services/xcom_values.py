"""Reading stored XCom values: where a row's value is, the value read back from the artifact
store, checked, and one XCom's value (``value_of``). Shared by the engine (task inputs, remote
workers) and the reads (the API's XComs)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pinflow.errors import DataLostError, InvalidInputError, NotFoundError
from pinflow.lifecycle.mapping import StoredValue
from pinflow.runtime.artifacts import (
    ArtifactRef,
    ArtifactStore,
    get_json,
)
from pinflow.store.db import Database
from pinflow.store.tables import XCom

RETURN_VALUE = "return_value"  # the key of a try's own result


def artifact_of(row: XCom) -> ArtifactRef | None:
    """Where a row's value is, when it is in the artifact store."""
    if row.artifact_uri is None:
        return None
    return ArtifactRef(row.artifact_uri, row.size, row.artifact_sha256 or "")


def load(artifacts: ArtifactStore | None, value: Any, what: str) -> Any:
    """``value`` with what is stored (a ``StoredValue``, or one inside a mapped upstream's
    list) read from ``artifacts``. ``what`` names the XCom in messages."""
    if isinstance(value, list) and any(isinstance(item, StoredValue) for item in value):
        return [load(artifacts, item, f"{what}[{i}]") for i, item in enumerate(value)]
    if not isinstance(value, StoredValue):
        return value
    return read_artifact(artifacts, value.source, what)


def read_artifact(artifacts: ArtifactStore | None, ref: ArtifactRef, what: str) -> Any:
    """The value of the artifact ``ref``, checked; errors name ``what`` and the way out."""
    if artifacts is None:
        raise InvalidInputError(
            f"The value of {what} is in the artifact store ({ref.uri}); read it with an "
            "artifact store (artifacts=open_store(settings.artifacts_uri))."
        )
    try:
        return get_json(artifacts, ref)
    except DataLostError as exc:
        raise DataLostError(
            f"The value of {what} cannot be read: {exc}. Clear the task to compute it again.",
            exc.details,
        ) from None


def value_of(
    db: Database,
    run_pk: int,
    task_id: str,
    key: str = RETURN_VALUE,
    map_index: int = -1,
    *,
    artifacts: ArtifactStore | None = None,
) -> Any:
    """The value of one XCom of the run ``run_pk`` (what a task or a test sees, not the API's
    ``XComInfo``); ``NotFoundError`` when the task pushed nothing under ``key``.

    A value in the artifact store is read from ``artifacts`` (``DataLostError`` when it is
    missing or altered).
    """
    with db.read() as s:
        row = _xcom_row(s, run_pk, task_id, key, map_index)
        if row is None:
            raise NotFoundError(f"No XCom {key!r} of task {task_id!r} in run {run_pk}.")
        ref = artifact_of(row)
        if ref is None:
            return row.value
    mapped = f"[{map_index}]" if map_index >= 0 else ""
    return read_artifact(artifacts, ref, f"XCom {key!r} of task {task_id!r}{mapped}")


def _xcom_row(s: Session, run_pk: int, task_id: str, key: str, map_index: int) -> XCom | None:
    where = {"run_pk": run_pk, "task_id": task_id, "key": key, "map_index": map_index}
    row: XCom | None = s.scalars(select(XCom).filter_by(**where)).one_or_none()
    return row
