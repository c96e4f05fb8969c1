"""XComs in the database or in the artifact store: what the control plane records and reads.

A return value of at most ``xcom_db_limit`` bytes of JSON is stored in ``xcom.value``. A larger
one was written to the artifact store by the worker (``pinflow.runtime.xcoms``), and its row
keeps only the reference: ``artifact_uri``, ``artifact_sha256``, ``size`` and, for a list,
``value_length``. The control plane never loads such a value to do its work:

- planning sees a ``StoredValue`` (``outputs_by_index``): ``expand`` needs only the length;
- a task request carries references (``request_arguments`` -> ``TaskRequest.stored_inputs``),
  and the worker reads the artifact;
- only a reader that must show the value loads it (``load``: the API, ``get_xcom``), checked
  against its size and sha256; a missing or altered artifact is a ``DataLostError`` that says
  which XCom it is and what to do.

See ADR 0008.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, bindparam, null, select
from sqlalchemy.orm import Session

from pinflow.errors import InvalidInputError
from pinflow.lifecycle.mapping import MappedList, StoredElement, StoredValue
from pinflow.runtime.artifacts import (
    ArtifactRef,
    ArtifactStore,
    key_matches,
    run_prefix,
    xcom_key,
)
from pinflow.runtime.contract import StoredInput, TaskResult
from pinflow.runtime.xcoms import encode_json
from pinflow.services import common
from pinflow.store.prepared import Prepared
from pinflow.store.tables import XCom

OutputKey = tuple[str, str, int]
"""An XCom's place in a run: task id, key, map index."""


@dataclass(frozen=True)
class StoredXCom:
    """A return value that the worker put in the artifact store: what ``finish_task`` records
    instead of the value."""

    ref: ArtifactRef
    length: int | None = None


def reported_xcom(result: TaskResult) -> Any:
    """The XCom a result reports: its value, or a ``StoredXCom`` when it carries a reference."""
    if result.value_uri is None:
        return result.value
    ref = ArtifactRef(result.value_uri, result.value_size or 0, result.value_sha256 or "")
    return StoredXCom(ref, result.value_length)


def has_xcom(result: TaskResult) -> bool:
    """Whether a successful result has a value to store (``None`` stores nothing, as before)."""
    return result.value is not None or result.value_uri is not None


# --- writing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class XComColumns:
    """What one ``xcom`` row holds: the value, or where it is."""

    value: Any
    size: int
    artifact_uri: str | None = None
    artifact_sha256: str | None = None
    value_length: int | None = None

    def as_dict(self) -> dict[str, Any]:
        # SQL NULL, not JSON ``null``, for a value that is elsewhere: ``None`` is a value.
        return {
            "value": null() if self.artifact_uri is not None else self.value,
            "size": self.size,
            "artifact_uri": self.artifact_uri,
            "artifact_sha256": self.artifact_sha256,
            "value_length": self.value_length,
        }


@dataclass(frozen=True)
class TryIdentity:
    """The try whose return value is recorded, as names (for messages and its artifact key)."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int

    @property
    def label(self) -> str:
        mapped = f"[{self.map_index}]" if self.map_index >= 0 else ""
        return f"task {self.task_id!r}{mapped} of run {self.run_id!r}"

    @property
    def artifact_key(self) -> str:
        return xcom_key(
            self.dag_id,
            self.run_id,
            self.task_id,
            map_index=self.map_index,
            try_number=self.try_number,
        )


def encode_xcom(of: TryIdentity, value: Any, *, limit: int) -> XComColumns:
    """The row for ``value`` (a JSON value, or a ``StoredXCom``); ``InvalidInputError`` when it
    cannot be stored: not JSON, above ``limit`` bytes in the database, or a reference to
    anything but this try's own artifact (a reference is data a task process sent)."""
    if isinstance(value, StoredXCom):
        if not key_matches(value.ref.uri, of.artifact_key):
            raise InvalidInputError(
                f"The return value of {of.label} refers to {value.ref.uri}, which is not the "
                f"artifact of try {of.try_number} ({of.artifact_key}); nothing was stored.",
                {"uri": value.ref.uri, "expected": of.artifact_key},
            )
        ref = value.ref
        return XComColumns(None, ref.size, ref.uri, ref.sha256, value.length)
    try:
        data = encode_json(value)
    except TypeError as exc:
        raise InvalidInputError(
            f"The return value of {of.label} cannot be stored as JSON: {exc}."
        ) from None
    if len(data) > limit:
        raise InvalidInputError(
            f"The return value of {of.label} is {len(data)} bytes as JSON; values stored in "
            f"the database are limited to {limit} bytes (xcom_db_limit). A task run by a "
            "worker puts larger values in the artifact store.",
            {"size": len(data), "limit": limit},
        )
    return XComColumns(value, len(data))


# --- reading ------------------------------------------------------------------------------------


_XCOM = cast(Table, XCom.__table__)
# Built once: read for every task that takes an upstream value, and for every expansion.
_OUTPUTS_OF = Prepared(
    select(
        _XCOM.c.task_id,
        _XCOM.c.key,
        _XCOM.c.map_index,
        _XCOM.c.value,
        _XCOM.c.artifact_uri,
        _XCOM.c.size,
        _XCOM.c.artifact_sha256,
        _XCOM.c.value_length,
    ).where(
        _XCOM.c.run_pk == bindparam("run_pk"),
        _XCOM.c.task_id.in_(bindparam("task_ids", expanding=True)),
    )
)


def outputs_by_index(s: Session, run_pk: int, task_ids: Iterable[str]) -> dict[OutputKey, Any]:
    """The stored outputs of ``task_ids`` in the run (one query): each a JSON value, or a
    ``StoredValue`` for one in the artifact store (never loaded here)."""
    params = {"run_pk": run_pk, "task_ids": sorted(set(task_ids))}
    rows = _OUTPUTS_OF.execute(common.conn(s), params).fetchall()
    return {
        (task_id, key, map_index): (
            value if uri is None else StoredValue(ArtifactRef(uri, size, sha256 or ""), length)
        )
        for task_id, key, map_index, value, uri, size, sha256, length in rows
    }


def mapped_list(value: Any) -> MappedList:
    """An ``expand`` argument's upstream output as ``mapping.element`` takes it: the list, or
    the ``StoredValue`` of a stored list (its elements become ``StoredElement``s)."""
    return value if isinstance(value, StoredValue) else list(value or [])


# --- task requests ------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestArguments:
    """A request's ``inputs``, ``mapped`` and ``stored_inputs``: plain JSON, with what is in
    the artifact store replaced by references for the worker to read."""

    inputs: dict[str, Any] = field(default_factory=dict)
    mapped: dict[str, Any] = field(default_factory=dict)
    stored: dict[str, list[StoredInput]] = field(default_factory=dict)


def request_arguments(inputs: Mapping[str, Any], mapped: Mapping[str, Any]) -> RequestArguments:
    """Split resolved arguments (``dispatch.resolve_arguments``) into what the request carries.

    A ``StoredValue`` argument becomes a ``None`` placeholder and a reference; a mapped
    upstream's list keeps its inline items and gets a reference per stored item
    (``position``); a ``StoredElement`` is a reference to one element of a stored list.
    """
    arguments = RequestArguments()
    for target, given in ((arguments.inputs, inputs), (arguments.mapped, mapped)):
        for name, value in given.items():
            target[name], parts = _split(value)
            if parts:
                arguments.stored[name] = parts
    return arguments


def _split(value: Any) -> tuple[Any, list[StoredInput]]:
    if isinstance(value, StoredValue | StoredElement):
        return None, [_reference(value)]
    if isinstance(value, list) and any(isinstance(item, StoredValue) for item in value):
        parts = [
            _reference(item, position=i)
            for i, item in enumerate(value)
            if isinstance(item, StoredValue)
        ]
        return [None if isinstance(item, StoredValue) else item for item in value], parts
    return value, []


def _reference(value: StoredValue | StoredElement, *, position: int | None = None) -> StoredInput:
    ref: ArtifactRef = value.source
    element = value.index if isinstance(value, StoredElement) else None
    return StoredInput(ref.uri, ref.size, ref.sha256, element=element, position=position)


# --- cleanup ------------------------------------------------------------------------------------


def discard_artifacts(artifacts: ArtifactStore, dag_id: str, run_ids: Collection[str]) -> None:
    """Remove the artifacts of deleted runs, after the commit (as their logs and staging dirs):
    every try's, including tries whose result was refused as stale."""
    for run_id in run_ids:
        artifacts.delete_prefix(run_prefix(dag_id, run_id))
