"""Tasks given by configuration rather than a function: ``task.bash(bash_command=...)`` and
``task.http(...)``. Like Airflow's classic operators they need an explicit ``task_id``, and
using one twice in a DAG is an error (only task *functions* get automatic suffixes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pinflow.sdk.arguments import to_json_value
from pinflow.sdk.graph import XComArg, current_builder
from pinflow.sdk.options import (
    EXECUTION_CHECKERS,
    check_identifier,
    check_options,
    check_seconds,
    check_text,
    describe_invalid,
    node_options,
    type_name,
)
from pinflow.spec.models import HttpRequestSpec


def add_bash_task(task_id: object, bash_command: object, options: Mapping[str, object]) -> XComArg:
    owner = f"task.bash {task_id!r}"
    command = check_text(owner, "bash_command", bash_command)
    return _add(owner, task_id, {"kind": "bash", "bash_command": command}, options)


def add_http_task(
    task_id: object,
    *,
    url: object,
    method: object = "GET",
    headers: object = None,
    body: object = None,
    expected_status: object = None,
    timeout: object = None,
    options: Mapping[str, object],
) -> XComArg:
    owner = f"task.http {task_id!r}"
    if isinstance(body, XComArg):
        raise TypeError(f"{owner}: body cannot be a task's output; it is fixed at compile time")
    request: dict[str, Any] = {
        "method": check_text(owner, "method", method).upper(),
        "url": check_text(owner, "url", url),
        "headers": _headers(owner, headers),
        "body": to_json_value(owner, "body", body),
    }
    if expected_status is not None:
        request["expected_status"] = _statuses(owner, expected_status)
    if timeout is not None:
        request["timeout"] = check_seconds(positive=True)(owner, "timeout", timeout)
    try:
        spec = HttpRequestSpec.model_validate(request)
    except ValueError as exc:
        raise ValueError(f"{owner}: {describe_invalid(exc)}") from None
    return _add(owner, task_id, {"kind": "http", "http": spec}, options)


def _add(
    owner: str, task_id: object, fields: Mapping[str, Any], options: Mapping[str, object]
) -> XComArg:
    checked_id = check_identifier(owner, "task_id", task_id)
    checked = check_options(owner, options, EXECUTION_CHECKERS)
    builder = current_builder()
    if builder is None:
        raise RuntimeError(f"{owner}: call it inside a @dag function's body")
    return builder.add_task(checked_id, {**node_options(checked), **fields})


def _headers(owner: str, headers: object) -> dict[str, str]:
    if headers is None:
        return {}
    if not isinstance(headers, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise TypeError(f"{owner}: headers must be a dict of str to str")
    return dict(headers)


def _statuses(owner: str, statuses: object) -> list[int]:
    if isinstance(statuses, int) and not isinstance(statuses, bool):
        return [statuses]
    if not isinstance(statuses, Sequence) or isinstance(statuses, str):
        raise TypeError(
            f"{owner}: expected_status must be a list of ints, got {type_name(statuses)}"
        )
    if not all(isinstance(s, int) and not isinstance(s, bool) for s in statuses):
        raise TypeError(f"{owner}: expected_status must be a list of ints")
    return list(statuses)
