"""Reading stored XCom values: where a row's value is, and the value read back from the
artifact store, checked. Shared by the engine (task inputs) and the reads (the API's XComs)."""

from __future__ import annotations

from typing import Any

from pinflow.errors import DataLostError, InvalidInputError
from pinflow.lifecycle.mapping import StoredValue
from pinflow.runtime.artifacts import (
    ArtifactRef,
    ArtifactStore,
    get_json,
)
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
