"""Calling run-end callbacks: the scheduler's side (ADR 0044).

When a wake-up or a sweep says so, the scheduler claims pending callbacks
(``engine.run_callbacks``) and starts one process per callback
(``python -m pinflow.runtime.run_callbacks``): user code never runs in the scheduler, and a
callback that hangs is killed at ``run_callback_timeout``. The process writes its output to
``<logs>/<dag_id>/<run_id>/callbacks/<id>-<attempt>.log`` and one JSON line to a pipe that
the scheduler's ``select`` watches with its other inputs, so the callback's end is recorded
as soon as it happens, with no polling.

The process runs on the scheduler's host, where Airflow runs DAG callbacks too (its DAG
processor), whichever executor the tasks use: a DAG callback is a notification about the
run, not a task.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from pinflow.runtime.contract import RunCallbackRequest
from pinflow.runtime.paths import path_component
from pinflow.runtime.private import private_dirs
from pinflow.runtime.process import kill_group
from pinflow.scheduler.requests import BundleFiles
from pinflow.services import common
from pinflow.services.engine import ClaimedCallback, run_callbacks
from pinflow.settings import Settings
from pinflow.store.db import Database

log = logging.getLogger(__name__)

_RESULT_LIMIT = 1 << 20
OUTPUT_TAIL = 64 * 1024  # what the row keeps of the callback's log


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - OUTPUT_TAIL))
            return f.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"(the log {path} cannot be read: {exc})"


@dataclass
class _Live:
    callback: ClaimedCallback
    process: subprocess.Popen[bytes]
    result_fd: int
    deadline: float
    log_file: Path
    received: bytearray = field(default_factory=bytearray)


def _callback_environment(end: dict[str, object]) -> dict[str, str]:
    """The scheduler's environment without the control plane's settings (every ``PINFLOW_*``
    variable: the database URL, the instance secret...), as a task process has it, plus
    which run ended."""
    own = {k: v for k, v in os.environ.items() if not k.startswith("PINFLOW_")}
    return {**own, "PINFLOW_DAG_ID": str(end["dag_id"]), "PINFLOW_RUN_ID": str(end["run_id"])}


class RunCallbackRunner:
    """The callbacks one scheduler calls; not thread-safe (the scheduler loop's own)."""

    def __init__(
        self, db: Database, settings: Settings, bundles: BundleFiles, *, claimer: str
    ) -> None:
        self.db = db
        self.settings = settings
        self.bundles = bundles
        self.claimer = claimer
        self.timeout = settings.run_callback_timeout
        self.parallelism = settings.run_callback_parallelism
        self._live: dict[int, _Live] = {}  # by result fd

    def fds(self) -> list[int]:
        return list(self._live)

    def busy(self) -> bool:
        return bool(self._live)

    def _stale_before(self) -> datetime:
        # A claim older than the timeout (and a margin for the kill) is a dead scheduler's.
        return common.now() - timedelta(seconds=self.timeout + 60)

    def pending(self) -> bool:
        """Whether a callback waits to be called (by any scheduler)."""
        return run_callbacks.has_due_run_callbacks(self.db, stale_before=self._stale_before())

    def pump(self) -> int:
        """Claim what the free places take and start a process for each; returns how many."""
        free = self.parallelism - len(self._live)
        if free <= 0:
            return 0
        claimed = run_callbacks.claim_run_callbacks(
            self.db, claimer=self.claimer, limit=free, stale_before=self._stale_before()
        )
        for callback in claimed:
            self._start(callback)
        return len(claimed)

    def _start(self, callback: ClaimedCallback) -> None:
        end = callback.end
        folder = (
            Path(self.settings.logs_dir)
            / path_component(end["dag_id"])
            / path_component(end["run_id"])
            / "callbacks"
        )
        log_file = folder / f"{callback.id}-{callback.attempt}.log"
        try:
            private_dirs(folder)
            request = RunCallbackRequest(
                kind="on_success" if end["state"] == "success" else "on_failure",
                refs=callback.refs,
                runner=callback.runner,
                snapshot_digest=callback.snapshot_digest,
                bundle_uri=self.bundles.uri(callback.snapshot_digest),
                requirements=callback.requirements,
                env_config=self.settings.env_config.to_json(),
                end=end,
            )
            read_fd, write_fd = os.pipe()
            with open(log_file, "ab") as out:
                process = subprocess.Popen(  # noqa: S603 - our own module, our interpreter
                    [
                        sys.executable,
                        "-m",
                        "pinflow.runtime.run_callbacks",
                        f"--result-fd={write_fd}",
                        f"--cache-dir={self.settings.snapshot_cache_dir}",
                    ],
                    stdin=subprocess.PIPE,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    pass_fds=(write_fd,),
                    start_new_session=True,  # its own group: a timeout kills what it started
                    env=_callback_environment(end),
                )
            os.close(write_fd)
            assert process.stdin is not None
            with contextlib.suppress(BrokenPipeError):
                process.stdin.write(request.to_json().encode())
            process.stdin.close()
        except OSError as exc:
            run_callbacks.finish_run_callback(
                self.db, callback.id, claimer=self.claimer, error=f"not started: {exc}"
            )
            return
        os.set_blocking(read_fd, False)
        run_callbacks.started_run_callback(
            self.db, callback.id, claimer=self.claimer, log_path=str(log_file)
        )
        deadline = time.monotonic() + self.timeout
        self._live[read_fd] = _Live(callback, process, read_fd, deadline, log_file)

    def reap(self) -> int:
        """Record the callbacks whose process ended (or passed its timeout: killed)."""
        done = 0
        now = time.monotonic()
        for fd, live in list(self._live.items()):
            closed = self._read(live)
            if not closed and now < live.deadline:
                continue
            if not closed:
                kill_group(live.process.pid)
            live.process.wait()
            error = self._outcome(live, timed_out=not closed)
            del self._live[fd]
            os.close(fd)
            run_callbacks.finish_run_callback(
                self.db,
                live.callback.id,
                claimer=self.claimer,
                error=error,
                output=_tail(live.log_file),
            )
            done += 1
        return done

    @staticmethod
    def _read(live: _Live) -> bool:
        """Take what the pipe holds; ``True`` once it is closed (the process exited)."""
        while True:
            try:
                chunk = os.read(live.result_fd, 65536)
            except BlockingIOError:
                return False
            if not chunk:
                return True
            if len(live.received) < _RESULT_LIMIT:
                live.received += chunk

    def _outcome(self, live: _Live, *, timed_out: bool) -> str | None:
        if timed_out:
            return f"killed after {self.timeout:g} s (PINFLOW_RUN_CALLBACK_TIMEOUT)"
        try:
            errors = json.loads(bytes(live.received).decode())["errors"]
        except (ValueError, KeyError, UnicodeDecodeError):
            code = live.process.returncode
            return f"the callback process ended with exit code {code} before it reported"
        return "; ".join(errors) if errors else None

    def stop(self) -> None:
        """Kill the live callbacks and hand them back: the next scheduler calls them."""
        for fd, live in list(self._live.items()):
            kill_group(live.process.pid)
            live.process.wait()
            os.close(fd)
        ids = [live.callback.id for live in self._live.values()]
        self._live.clear()
        with contextlib.suppress(Exception):
            run_callbacks.release_run_callbacks(self.db, ids, claimer=self.claimer)
