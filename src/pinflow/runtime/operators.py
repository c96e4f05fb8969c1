"""Tasks given by configuration: a bash command, an HTTP request (Airflow's classic operators).

Both run inside the task process, whose stdout/stderr already go to the try's log.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from typing import IO, Any

from pinflow.runtime.contract import SkipTask
from pinflow.runtime.process import set_parent_death_signal
from pinflow.spec.masking import MASKER

# Airflow's BashOperator default ``skip_on_exit_code``: a command can say "skip me".
BASH_SKIP_EXIT_CODE = 99


class CommandFailed(Exception):  # noqa: N818 - reads as "the command failed"
    """A bash command exited with a non-zero code (the try fails with that code)."""

    def __init__(self, exit_code: int) -> None:
        super().__init__(f"bash command exited with code {exit_code}")
        self.exit_code = exit_code


class HttpStatusError(Exception):
    """The response's status is not one the task expects."""


def _die_with_task() -> None:
    # In the child between fork and exec: a command must not outlive its task process,
    # even when that process is killed with SIGKILL (which nobody can intercept).
    set_parent_death_signal(signal.SIGKILL)


def run_bash(command: str, *, cwd: str) -> str | None:
    """Run ``bash -c command``; its last non-empty stdout line is the output (Airflow's XCom).

    stdout is copied line by line to the log as it comes (through ``sys.stdout``, which masks
    the secrets the task read). stderr goes to the log directly, unless the task holds secrets
    (``MASKER``): then it is piped and copied through ``sys.stderr`` as well, by a thread.
    Exit code 99 skips the task, any other non-zero code fails it.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    masked = bool(MASKER)
    with subprocess.Popen(  # noqa: S603 - running the DAG author's command is the point
        ["bash", "-c", command],  # noqa: S607 - bash from PATH, as Airflow's BashOperator
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if masked else 2,
        cwd=cwd,
        preexec_fn=_die_with_task,  # noqa: PLW1509 - the task process is single-threaded here
    ) as process:
        assert process.stdout is not None
        errors = _copying(process.stderr) if process.stderr is not None else None
        last: str | None = None
        for raw in process.stdout:
            line = raw.decode(errors="replace")
            sys.stdout.write(line)
            if line.strip():
                last = line.rstrip("\r\n")
        code = process.wait()
        if errors is not None:
            errors.join()
    sys.stdout.flush()
    sys.stderr.flush()
    if code == BASH_SKIP_EXIT_CODE:
        raise SkipTask(f"bash command exited with code {BASH_SKIP_EXIT_CODE}")
    if code != 0:
        raise CommandFailed(code)
    return last


def _copying(stream: IO[bytes]) -> threading.Thread:
    """A started thread copying ``stream``'s lines to ``sys.stderr`` until it ends."""

    def copy() -> None:
        for raw in stream:
            sys.stderr.write(raw.decode(errors="replace"))

    thread = threading.Thread(target=copy, name="bash-stderr", daemon=True)
    thread.start()
    return thread


def _request(http: dict[str, Any]) -> urllib.request.Request:
    headers = dict(http.get("headers") or {})
    body = http.get("body")
    data: bytes | None = None
    if isinstance(body, str):
        data = body.encode()
    elif body is not None:
        data = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    url = str(http["url"])
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"only http(s) URLs can be requested, got {url!r}")
    method = str(http.get("method", "GET"))
    return urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310


def run_http(http: dict[str, Any]) -> Any:
    """Send the request; the output is the JSON body (parsed) or the text body."""
    request = _request(http)
    expected = list(http.get("expected_status") or [200, 201, 202, 204])
    timeout = float(http.get("timeout") or 30.0)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status, payload = response.status, response.read()
            content_type = response.headers.get_content_type()
    except urllib.error.HTTPError as exc:
        status, payload, content_type = exc.code, exc.read(), exc.headers.get_content_type()
    print(f"{request.get_method()} {request.full_url} -> HTTP {status}, {len(payload)} bytes")
    if status not in expected:
        raise HttpStatusError(
            f"HTTP {status} from {request.get_method()} {request.full_url} "
            f"(expected {', '.join(map(str, expected))}): {payload[:300]!r}"
        )
    if content_type == "application/json" and payload:
        return json.loads(payload)
    return payload.decode(errors="replace")
