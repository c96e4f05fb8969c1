"""``pinflow.sdk.Variable`` / ``Connection`` / ``xcom_push`` outside a try with a channel, and
the channel protocol against a server that answers as the worker's does."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from pinflow.errors import NotFoundError
from pinflow.sdk import Connection, Variable, xcom_pull, xcom_push
from pinflow.sdk.task_api import TASK_API_ENV, TaskApiError, TaskApiUnavailable


def test_without_a_channel_every_call_says_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TASK_API_ENV, raising=False)
    for call in (
        lambda: Variable.get("x"),
        lambda: Connection.get("c"),
        lambda: xcom_push("k", 1),
        lambda: xcom_pull("t"),
    ):
        with pytest.raises(TaskApiUnavailable, match="PINFLOW_TASK_API is not set"):
            call()


def _serve(path: Path, answers: dict[str, dict[str, Any]], seen: list[dict[str, Any]]) -> None:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(4)

    def loop() -> None:
        for _ in range(len(answers)):
            conn, _ = server.accept()
            with conn:
                request = json.loads(conn.makefile("rb").readline())
                seen.append(request)
                conn.sendall(json.dumps(answers[request["op"]]).encode() + b"\n")
        server.close()

    threading.Thread(target=loop, daemon=True).start()


def test_the_answers_become_values_defaults_and_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s"
    seen: list[dict[str, Any]] = []
    answers = {
        "variable": {"ok": False, "status": 404, "error": "The variable 'x' was not found."},
        "connection": {"ok": True, "value": {"conn_id": "c", "conn_type": "http", "port": 1}},
        "xcom_push": {"ok": False, "status": 409, "error": "no longer the live try"},
        "xcom_pull": {"ok": False, "status": 404, "error": "none"},
    }
    _serve(path, answers, seen)
    monkeypatch.setenv(TASK_API_ENV, str(path))
    assert Variable.get("x", default=None) is None
    conn = Connection.get("c")
    assert (conn.conn_id, conn.port, conn.extra_dejson) == ("c", 1, {})
    with pytest.raises(TaskApiError, match="no longer the live try"):
        xcom_push("k", [1])
    assert xcom_pull("t", key="k") is None
    assert seen == [
        {"op": "variable", "key": "x"},
        {"op": "connection", "conn_id": "c"},
        {"op": "xcom_push", "key": "k", "value": [1]},
        {"op": "xcom_pull", "task_id": "t", "key": "k", "map_index": -1},
    ]


def test_a_missing_variable_without_a_default_is_a_key_error_as_in_airflow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s"
    _serve(path, {"variable": {"ok": False, "status": 404, "error": "nope"}}, [])
    monkeypatch.setenv(TASK_API_ENV, str(path))
    with pytest.raises(KeyError, match="Variable x does not exist"):
        Variable.get("x")
    assert issubclass(TaskApiUnavailable, Exception)
    assert not issubclass(KeyError, NotFoundError)
