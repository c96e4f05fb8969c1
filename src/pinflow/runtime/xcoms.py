"""A task process's side of XComs: its return value out, its large inputs in.

Out: the return value is encoded once as JSON. At most ``xcom_db_limit`` bytes, it travels in
``TaskResult.value``; larger, up to ``xcom_max_size``, it is written to the artifact store
under the try's own key and only the reference travels; larger still, the try fails with a
message saying what to do instead. In: the arguments the scheduler left in the artifact store
(``TaskRequest.stored_inputs``) are read, checked and put in place before the call.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from pinflow.errors import DataLostError
from pinflow.runtime.artifacts import (
    ArtifactRef,
    ArtifactStore,
    get_json,
    open_store,
    put,
    xcom_key,
)
from pinflow.runtime.contract import StoredInput, TaskRequest
from pinflow.spec.models import EXPAND_KWARGS


class XComTooLargeError(Exception):
    """The return value is larger than the request's ``xcom_max_size``."""


def encode_json(value: Any) -> bytes:
    """The XCom encoding of ``value`` (compact UTF-8 JSON, no NaN): what its size is measured on.

    Raises ``TypeError`` naming the type when the value cannot be an XCom.
    """
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"the task's return value is not JSON-serializable ({type(value).__name__}): {exc}; "
            "return plain JSON data (str, int, float, bool, None, list, dict), or write large "
            "or binary data to PINFLOW_STAGING_DIR and return its path"
        ) from None
    return text.encode()


def output_fields(req: TaskRequest, value: Any) -> dict[str, Any]:
    """The ``TaskResult`` fields that carry ``value``: the value itself, or its reference."""
    data = encode_json(value)
    size = len(data)
    if size > req.xcom_max_size:
        raise XComTooLargeError(
            f"the return value of task {req.task_id!r} is {size} bytes as JSON, more than the "
            f"{req.xcom_max_size} bytes an XCom may have (xcom_max_size); write large data to "
            "the run's staging dir (PINFLOW_STAGING_DIR) or to your own storage and return its "
            "path instead"
        )
    if size <= req.xcom_db_limit or req.artifacts_uri is None:
        return {"value": value}
    key = xcom_key(
        req.dag_id, req.run_id, req.task_id, map_index=req.map_index, try_number=req.try_number
    )
    ref = put(open_store(req.artifacts_uri), key, data)
    return {
        "value_uri": ref.uri,
        "value_size": ref.size,
        "value_sha256": ref.sha256,
        "value_length": len(value) if isinstance(value, list) else None,
    }


def unpack_expand_kwargs(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """``arguments`` with an ``expand_kwargs`` element's dict (``EXPAND_KWARGS``) spread into
    them; an element that is not a dict of str keys fails the try with Airflow's message."""
    if EXPAND_KWARGS not in arguments:
        return dict(arguments)
    unpacked = {k: v for k, v in arguments.items() if k != EXPAND_KWARGS}
    element = arguments[EXPAND_KWARGS]
    if not isinstance(element, Mapping):
        kind = "None" if element is None else type(element).__name__
        raise ValueError(f"expand_kwargs() expects a list[dict], not list[{kind}]")
    for key in element:
        if not isinstance(key, str):  # JSON keys are str: only a hand-made request has others
            raise ValueError(f"expand_kwargs() input dict keys must all be str, but {key!r} is not")
    return {**unpacked, **element}


def load_stored_inputs(req: TaskRequest, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments ``req.stored_inputs`` names, read from the artifact store and put in place
    of their placeholders in ``arguments``. Each artifact is read once."""
    if not req.stored_inputs:
        return {}
    if req.artifacts_uri is None:
        raise ValueError("the request has stored inputs but no artifacts_uri to read them from")
    store = open_store(req.artifacts_uri)
    loaded: dict[str, Any] = {}
    values: dict[str, Any] = {}
    for name, parts in req.stored_inputs.items():
        value: Any = arguments.get(name)
        if any(part.position is not None for part in parts):
            value = list(value) if isinstance(value, list) else []
        for part in parts:
            if part.uri not in loaded:
                loaded[part.uri] = _read(store, part, name)
            item = _part(loaded[part.uri], part, name)
            if part.position is None:
                value = item
            else:
                value[part.position] = item
        values[name] = value
    return values


def _read(store: ArtifactStore, part: StoredInput, name: str) -> Any:
    try:
        return get_json(store, ArtifactRef(part.uri, part.size, part.sha256))
    except DataLostError as exc:
        raise DataLostError(
            f"argument {name!r} cannot be read: {exc}; clear the upstream task to compute it again",
            exc.details,
        ) from None


def _part(value: Any, part: StoredInput, name: str) -> Any:
    if part.element is None:
        return value
    if not isinstance(value, list) or not 0 <= part.element < len(value):
        raise DataLostError(
            f"argument {name!r}: the artifact {part.uri} holds no element {part.element}",
            {"uri": part.uri},
        )
    return value[part.element]
