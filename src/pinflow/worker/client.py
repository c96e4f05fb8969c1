"""The execution API as a worker calls it: one client per try, holding that try's token.

Every call sends the latest token the API gave (``Refreshed-API-Token``). Transient failures
(the API restarting, a network blip, a 5xx) are retried with backoff for ``patience``
seconds; answers that will not change are raised at once as ``TryFenced`` (409: the try is
no longer the live one, stop it) or ``TokenRefused`` (401/403).
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from pinflow.errors import PinflowError
from pinflow.runtime.contract import TaskRequest, TaskResult
from pinflow.worker.wire import Answer, HttpxWire, Wire, WireError, shared_wire

PREFIX = "/execution/v1"
REFRESHED_TOKEN = "Refreshed-API-Token"  # noqa: S105 - a header name
_BACKOFF = (0.1, 0.25, 0.5, 1.0, 2.0)


class ExecutionApiError(PinflowError):
    """The execution API did not answer as expected."""


class TryFenced(ExecutionApiError):  # noqa: N818 - a condition, not a failure
    """409: the try was cleared, recovered or started elsewhere; it must stop."""


class TokenRefused(ExecutionApiError):  # noqa: N818
    """401/403: the token is invalid, expired, or not for this try."""


class ApiUnavailable(ExecutionApiError):  # noqa: N818
    """No usable answer within the client's patience."""


def _detail(response: Answer) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    detail = body.get("detail") if isinstance(body, dict) else None
    return str(detail if detail is not None else body)[:500]


@dataclass(frozen=True)
class XComTarget:
    """A task instance's XComs, by name (the execution API's XCom paths)."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1

    @property
    def path(self) -> str:
        return "/".join(quote(part, safe="") for part in (self.dag_id, self.run_id, self.task_id))


class ExecutionClient:
    """Calls for the try of ``ti_id``; ``token`` is the queue token until ``start``. They go
    over the process's keep-alive connection to the API (``wire.shared_wire``), or over the
    httpx ``transport`` given (tests)."""

    def __init__(
        self,
        api_url: str,
        ti_id: int,
        token: str,
        *,
        timeout: float = 30.0,
        patience: float = 60.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.ti_id = ti_id
        self._token = token
        self.patience = patience
        self.base_url = api_url.rstrip("/") + PREFIX
        self._wire: Wire = (
            shared_wire(self.base_url, timeout=timeout)
            if transport is None
            else HttpxWire(self.base_url, transport, timeout=timeout)
        )

    def __repr__(self) -> str:  # never the token
        return f"ExecutionClient(ti_id={self.ti_id}, base_url={self.base_url!r})"

    def close(self) -> None:
        """Nothing to release: the connection belongs to the process's wire."""

    # -- the calls ---------------------------------------------------------------------------

    def start(self, hostname: str, pid: int) -> TaskRequest:
        """``queued`` -> ``running``: the try's ``TaskRequest``."""
        body = {"hostname": hostname, "pid": pid}
        data = self._call("PATCH", f"/task-instances/{self.ti_id}/run", json=body).json()
        return TaskRequest.from_dict(data)

    def heartbeat(self) -> None:
        self._call("PUT", f"/task-instances/{self.ti_id}/heartbeat")

    def finish(
        self, result: TaskResult, *, log: str | None = None, log_seq: int | None = None
    ) -> str:
        """Report how the try ended (with the end of its log, piece ``log_seq``); the state
        the API recorded."""
        state = "skipped" if result.skipped else "success" if result.success else "failed"
        body: dict[str, Any] = {"state": state}
        for name in ("value", "error", "exit_code", "duration", "pid"):
            body[name] = getattr(result, name)
        for name in ("value_uri", "value_size", "value_sha256", "value_length"):
            if getattr(result, name) is not None:
                body[name] = getattr(result, name)
        if result.interrupted:
            body["interrupted"] = True
        if result.sensor is not None:
            body.update(sensor=result.sensor, trigger=result.trigger)
        if body["error"] is not None:
            body["error"] = str(body["error"])[:4000]
        if log:
            body["log"] = log
            body["log_seq"] = log_seq
        answer = self._call("PATCH", f"/task-instances/{self.ti_id}/state", json=body).json()
        return str(answer["state"])

    def upload_log(self, content: str, seq: int | None = None) -> None:
        """Piece ``seq`` of the try's log (numbered from 0: a retried upload is kept once)."""
        body = {"content": content, "seq": seq}
        self._call("POST", f"/task-instances/{self.ti_id}/logs", json=body)

    def variable(self, key: str) -> str:
        """A variable's value (``ExecutionApiError`` 404 when there is none)."""
        return str(self._call("GET", f"/variables/{quote(key, safe='')}").json()["value"])

    def connection(self, conn_id: str) -> dict[str, Any]:
        """A connection's fields, password and extra included."""
        return dict(self._call("GET", f"/connections/{quote(conn_id, safe='')}").json())

    def push_xcom(self, own: XComTarget, key: str, value: Any) -> None:
        """An XCom of the try's own task instance, under ``key``."""
        path = f"/xcoms/{own.path}?{urlencode({'map_index': own.map_index, 'key': key})}"
        self._call("POST", path, json={"value": value})

    def pull_xcom(self, own: XComTarget, task_id: str, map_index: int, key: str) -> Any:
        """An XCom of ``task_id`` in the try's own run."""
        target = XComTarget(own.dag_id, own.run_id, task_id, map_index)
        path = f"/xcoms/{target.path}?{urlencode({'map_index': map_index, 'key': key})}"
        return self._call("GET", path).json()["value"]

    def put_rendered_fields(self, fields: dict[str, Any]) -> None:
        """The try's rendered template fields (Airflow's ``PUT .../rtif``)."""
        self._call("PUT", f"/task-instances/{self.ti_id}/rtif", json=fields)

    def snapshot(self, digest: str) -> tuple[dict[str, Any], bytes]:
        """The snapshot's spec and code bundle (unchecked: see ``runner.fetch_snapshot``)."""
        data = self._call("GET", f"/snapshots/{digest}").json()
        bundle = base64.b64decode(data["bundle"]) if data.get("bundle") else b""
        return dict(data["spec"]), bundle

    # -- plumbing ----------------------------------------------------------------------------

    def _send(self, method: str, path: str, body: Any) -> Answer:
        headers = {"Authorization": f"Bearer {self._token}"}
        content = None
        if body is not None:
            content = json.dumps(body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        return self._wire.send(method, path, headers, content)

    def _call(self, method: str, path: str, json: Any = None) -> Answer:
        deadline = time.monotonic() + self.patience
        attempt = 0
        while True:
            problem: str
            try:
                response = self._send(method, path, json)
            except WireError as exc:
                problem = str(exc)
            else:
                refreshed = response.headers.get(REFRESHED_TOKEN.lower())
                if refreshed:
                    self._token = refreshed
                if response.status < 400:
                    return response
                status = {"status": response.status}
                if response.status == 409:
                    raise TryFenced(_detail(response), status)
                if response.status in (401, 403):
                    raise TokenRefused(f"{response.status}: {_detail(response)}", status)
                if response.status < 500 and response.status != 429:
                    raise ExecutionApiError(_detail(response), status)
                problem = f"{response.status}: {_detail(response)}"
            pause = _BACKOFF[min(attempt, len(_BACKOFF) - 1)]
            if time.monotonic() + pause > deadline:
                raise ApiUnavailable(f"{method} {path}: {problem}")
            time.sleep(pause)
            attempt += 1
