"""Running ``pinflow`` as a user would: subprocesses, a free port, bounded polling, and a look
at /proc for processes left behind."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pinflow.client import PinflowClient

T = TypeVar("T")
POLL = 0.05
PASSWORD_LINE = re.compile(r"Admin password:\s+(\S+)")
URL_LINE = re.compile(r"URL:\s+(http://\S+)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PINFLOW_")}
    return {**env, "PYTHONUNBUFFERED": "1", "PINFLOW_STOP_GRACE": "2", **extra}


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 30.0) -> T:
    """Poll ``check`` until it returns something other than ``None`` (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value is not None:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(POLL)


@dataclass
class Process:
    """A ``pinflow`` subprocess whose stdout and stderr go to files we can poll."""

    proc: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path
    seen: set[int] = field(default_factory=set)

    def out(self) -> str:
        return self.stdout.read_text(errors="replace")

    def err(self) -> str:
        return self.stderr.read_text(errors="replace")

    def remember_descendants(self) -> set[int]:
        self.seen |= descendants(self.proc.pid)
        return self.seen

    def interrupt(self, timeout: float = 45.0) -> int:
        """SIGINT, as Ctrl-C would; the exit code (bounded wait)."""
        self.remember_descendants()
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"did not stop on SIGINT; stderr:\n{self.err()}") from None

    def kill(self) -> None:
        for pid in [self.proc.pid, *self.remember_descendants()]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc.wait(10)


NO_EXTRAS = Path(__file__).resolve().parents[1] / "support" / "no_extras.py"


def run_pinflow(
    args: list[str], workdir: Path, env: dict[str, str], name: str, *, base_install: bool = False
) -> Process:
    """``pinflow ARGS`` in a subprocess; with ``base_install``, as the base install sees it
    (no extra's package importable: ``tests/support/no_extras.py``)."""
    stdout, stderr = workdir / f"{name}.out", workdir / f"{name}.err"
    runner = [str(NO_EXTRAS)] if base_install else []
    with stdout.open("wb") as out, stderr.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, *runner, "-m", "pinflow.cli", *args],
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=workdir,
        )
    return Process(proc, stdout, stderr)


@dataclass
class Standalone:
    process: Process
    url: str
    password: str | None


def start_standalone(
    home: Path, workdir: Path, *extra: str, name: str = "standalone"
) -> Standalone:
    port = free_port()
    args = ["standalone", "--port", str(port), "--home", str(home), *extra]
    # Standalone is what the base install runs: prove it needs none of the extras.
    process = run_pinflow(args, workdir, cli_env(), name, base_install=True)

    def banner() -> str | None:
        if process.proc.poll() is not None:
            raise AssertionError(f"standalone exited: {process.err()}")
        text = process.out()
        return text if "Press Ctrl-C to stop." in text else None

    try:
        text = wait_for("the standalone banner", banner, timeout=60)
    except BaseException:
        process.kill()
        raise
    url = URL_LINE.search(text)
    password = PASSWORD_LINE.search(text)
    assert url is not None, text
    found = password.group(1) if password else None
    return Standalone(process, url.group(1), None if found == "unchanged" else found)


def login(url: str, password: str, username: str = "admin") -> PinflowClient:
    with PinflowClient(url) as anonymous:
        jwt = anonymous.login(username, password)
    return PinflowClient(url, jwt)


def wait_run(api: PinflowClient, dag_id: str, run_id: str, timeout: float = 60) -> dict[str, Any]:
    def finished() -> dict[str, Any] | None:
        run = api.get_run(dag_id, run_id)
        return run if run["state"] in ("success", "failed") else None

    return wait_for(f"run {dag_id}/{run_id} to finish", finished, timeout)


# --- processes --------------------------------------------------------------------------------


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) from /proc/PID/stat, or ``None`` when the process is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[1])


def descendants(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := _stat(int(entry.name))) is not None:
            parents[int(entry.name)] = stat[1]
    found, frontier = set(), {root}
    while frontier:
        children = {pid for pid, parent in parents.items() if parent in frontier}
        frontier = children - found
        found |= children
    return found


def alive(pid: int) -> bool:
    """Running (a zombie has finished: it only waits for its parent to read its status)."""
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z"
