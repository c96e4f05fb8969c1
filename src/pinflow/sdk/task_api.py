"""What a running task reads and writes beyond its arguments: variables, connections, XComs.

Inside a task, as in Airflow::

    from pinflow.sdk import Connection, Variable, xcom_push

    bucket = Variable.get("bucket")
    limits = Variable.get("limits", deserialize_json=True, default={})
    warehouse = Connection.get("warehouse")  # .host, .login, .password, .extra_dejson ...
    xcom_push("row_count", 42)

Each call goes over the try's own channel (``PINFLOW_TASK_API``: a Unix socket its supervisor
serves while the try runs, ADR 0012): a Celery worker holds the try's token and asks the
execution API, the local executor's scheduler asks its services for that try; either way the
task never holds a credential of the control plane, and it may read what its try may.
One JSON line each way per call. Standard library only (the
SDK imports nothing of Pinflow's runtime).

Outside a try with a channel (a DAG file being parsed, a unit test, an executor that offers
none) every call raises ``TaskApiUnavailable`` saying so.
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, field
from typing import Any

from pinflow.errors import NotFoundError, PinflowError
from pinflow.spec.masking import MASKER

TASK_API_ENV = "PINFLOW_TASK_API"
_TIMEOUT = 120.0  # the supervisor retries the API for up to a minute before it answers
_MISSING: Any = object()


class TaskApiUnavailable(PinflowError):  # noqa: N818 - a condition
    """This process is not a try with a task channel."""


class TaskApiError(PinflowError):
    """The supervisor answered with an error other than not-found."""


def call(op: str, **arguments: Any) -> Any:
    """One request on the try's channel; its ``value``. ``NotFoundError`` for a 404."""
    path = os.environ.get(TASK_API_ENV)
    if not path:
        raise TaskApiUnavailable(
            f"{op}: this process is not a running try with a task channel ({TASK_API_ENV} is "
            "not set). Variables, connections and XCom pushes are served to running tries only "
            "(by the local executor and by Celery workers)."
        )
    line = json.dumps({"op": op, **arguments}, separators=(",", ":")).encode() + b"\n"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(_TIMEOUT)
        try:
            sock.connect(path)
            sock.sendall(line)
            answer = _read_line(sock)
        except OSError as exc:
            raise TaskApiUnavailable(f"{op}: the try's channel at {path} failed: {exc}") from None
    reply = json.loads(answer)
    if reply.get("ok"):
        return reply.get("value")
    message = str(reply.get("error") or "the request failed")
    if reply.get("status") == 404:
        raise NotFoundError(message)
    raise TaskApiError(message)


def _read_line(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        chunks.append(chunk)
        if chunk.endswith(b"\n"):
            break
    return b"".join(chunks)


class Variable:
    """Airflow's ``Variable.get``: a variable's value as text, or parsed as JSON."""

    @staticmethod
    def get(key: str, default: Any = _MISSING, *, deserialize_json: bool = False) -> Any:
        """The value of ``key``; ``default`` when there is no such variable (without a
        default, ``KeyError`` as in Airflow). A value whose key looks sensitive is masked
        in this process's output from now on (``pinflow.spec.masking``)."""
        try:
            value = call("variable", key=key)
        except NotFoundError:
            if default is _MISSING:
                raise KeyError(f"Variable {key} does not exist") from None
            return default
        MASKER.add(value, key)
        if not deserialize_json:
            return value
        parsed = json.loads(value)
        MASKER.add(parsed, key)
        return parsed


@dataclass(frozen=True)
class Connection:
    """A connection as a task uses it (Airflow's ``Connection``, the fields tasks read)."""

    conn_id: str
    conn_type: str
    host: str | None = None
    schema: str | None = None
    login: str | None = None
    password: str | None = field(default=None, repr=False)
    port: int | None = None
    extra: str | None = field(default=None, repr=False)
    description: str | None = None

    @property
    def extra_dejson(self) -> dict[str, Any]:
        if not self.extra:
            return {}
        parsed = json.loads(self.extra)
        return parsed if isinstance(parsed, dict) else {}

    @classmethod
    def get(cls, conn_id: str) -> Connection:
        """The connection ``conn_id`` (``NotFoundError`` when there is none). Its password
        and the sensitive fields of its extra are masked in this process's output."""
        fields = call("connection", conn_id=conn_id)
        MASKER.add_connection(fields)
        known = {name: fields.get(name) for name in cls.__dataclass_fields__}
        return cls(**known)


def xcom_push(key: str, value: Any) -> None:
    """Push ``value`` (JSON) under ``key`` for this try's task instance (``ti.xcom_push``);
    the return value is pushed by returning it."""
    call("xcom_push", key=key, value=value)


def xcom_pull(task_id: str, *, key: str = "return_value", map_index: int = -1) -> Any:
    """An XCom of this run (``ti.xcom_pull``); ``None`` when there is none, as in Airflow."""
    try:
        return call("xcom_pull", task_id=task_id, key=key, map_index=map_index)
    except NotFoundError:
        return None
