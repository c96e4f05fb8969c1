"""The local executor: one process per task, forked from a warm interpreter.

``start()`` launches the zygote (``pinflow.runtime.zygote``) once; each ``submit`` is one
frame on its request pipe, and each finished try comes back as one frame on the event pipe.
No thread, no sleep: ``poll`` waits on the event pipe with ``select``, and ``fileno`` lets the
scheduler wait on it together with its own wake-ups.

Death chain (Linux ``PR_SET_PDEATHSIG``): the zygote dies when this process dies, and every
task process dies when the zygote dies, so a task never outlives the scheduler that recorded
it as running, and a restarted scheduler can safely start it again. Start the executor from
the thread that will live as long as it (the kernel signals the death of the forking thread).
"""

from __future__ import annotations

import os
import pwd
import select
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from pinflow.errors import PinflowError
from pinflow.runtime.contract import TaskKey, TaskRequest, TaskResult
from pinflow.runtime.envs import EnvConfig
from pinflow.runtime.private import private_dirs
from pinflow.runtime.process import FrameReader, encode_frame, read_available, write_all

if TYPE_CHECKING:
    from pinflow.settings import Settings

WORKER_DIED = "the executor's worker process (zygote) died"
STOPPED = "scheduler stopped"


class ExecutorError(PinflowError):
    """The executor cannot take the request (not started, no free slot, worker gone)."""


class TryChannels(Protocol):
    """Each try's own channel (``pinflow.executors.local_channel``; the executor itself needs
    no database, so that a Celery worker can run its tries with one)."""

    def open(self, request: TaskRequest) -> str: ...
    def close(self, key: TaskKey) -> None: ...
    def stop(self) -> None: ...


class LocalExecutor:
    """Runs tasks on this machine, at most ``parallelism`` at a time (see the module docs)."""

    def __init__(
        self,
        *,
        snapshot_cache_dir: Path,
        parallelism: int | None = None,
        stop_grace: float = 10.0,
        start_timeout: float = 60.0,
        run_as_user: str | None = None,
        channels: TryChannels | None = None,
        envs: EnvConfig | None = None,
    ) -> None:
        self.snapshot_cache_dir = Path(snapshot_cache_dir)
        # Where versions with requirements find their environments (ADR 0032); None: such
        # a version's tries fail, saying so.
        self.envs = envs
        # Each try's own channel (Variable.get, Connection.get, XComs); None: tasks have none.
        self.channels = channels
        self.run_as_user = run_as_user
        self.parallelism = max(1, parallelism or os.cpu_count() or 1)
        self.stop_grace = stop_grace
        self.start_timeout = start_timeout
        self._live: dict[TaskKey, TaskRequest] = {}
        self._ready: list[TaskResult] = []
        self._process: subprocess.Popen[bytes] | None = None
        self._requests_fd = -1
        self._events_fd = -1
        self._reader = FrameReader()
        self.zygote_pid: int | None = None
        self._stopping = False

    @classmethod
    def from_settings(cls, settings: Settings) -> LocalExecutor:
        return cls(
            snapshot_cache_dir=settings.snapshot_cache_dir,
            parallelism=settings.parallelism,
            stop_grace=settings.stop_grace,
            run_as_user=settings.run_tasks_as_user,
            envs=settings.env_config,
        )

    # -- Executor protocol -----------------------------------------------------------------

    def start(self) -> None:
        """Launch the zygote and wait until it has imported the runtime (bounded)."""
        if self._process is not None:
            return
        self._stopping = False
        if self.run_as_user is not None:
            check_task_user(self.run_as_user)
        private_dirs(self.snapshot_cache_dir)
        req_r, req_w = os.pipe()
        ev_r, ev_w = os.pipe()
        command = [
            sys.executable,
            "-m",
            "pinflow.runtime.zygote",
            f"--parent-pid={os.getpid()}",
            f"--cache-dir={self.snapshot_cache_dir}",
            f"--requests-fd={req_r}",
            f"--events-fd={ev_w}",
            f"--spares={self.parallelism}",  # a step that fills every slot forks nothing
        ]
        if self.run_as_user is not None:
            command.append(f"--run-as-user={self.run_as_user}")
        if self.envs is not None:
            command.append(f"--envs={self.envs.to_json()}")
        self._process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            command, pass_fds=(req_r, ev_w), stdin=subprocess.DEVNULL, env=_zygote_environment()
        )
        os.close(req_r)
        os.close(ev_w)
        os.set_blocking(ev_r, False)
        self._requests_fd, self._events_fd = req_w, ev_r
        self._reader = FrameReader()
        self._await_ready()

    def _await_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self._abandon()
                raise ExecutorError("the local executor's worker did not start in time")
            readable, _, _ = select.select([self._events_fd], [], [], remaining)
            if not readable:
                continue
            data, closed = read_available(self._events_fd)
            messages = self._reader.feed(data)
            ready = [m for m in messages if m.get("ev") == "ready"]
            if ready:
                self.zygote_pid = int(ready[0]["pid"])
                self._absorb([m for m in messages if m.get("ev") != "ready"])
                return
            if closed:
                self._abandon()
                raise ExecutorError("the local executor's worker exited while starting")

    def free_slots(self) -> int:
        return max(0, self.parallelism - len(self._live))

    def fileno(self) -> int:
        if self._events_fd < 0:
            raise ExecutorError("the local executor is not started")
        return self._events_fd

    def submit(self, request: TaskRequest) -> None:
        if self._process is None:
            raise ExecutorError("the local executor is not started")
        if request.key in self._live:
            raise ExecutorError(f"{request.label} is already running")
        if not self.free_slots():
            raise ExecutorError(f"no free slot (parallelism {self.parallelism})")
        if self.channels is not None and request.task_api is None:
            request = replace(request, task_api=self.channels.open(request))
        self._live[request.key] = request
        self._send({"op": "submit", "request": request.to_dict()})

    def poll(self, timeout: float = 0.0) -> list[TaskResult]:
        """Results ready now, or within ``timeout`` seconds (returns at the first ones)."""
        if not self._ready and self._events_fd >= 0:
            readable, _, _ = select.select([self._events_fd], [], [], max(0.0, timeout))
            if readable:
                self._read_events()
        ready, self._ready = self._ready, []
        self._close_channels(ready)
        return ready

    def live(self) -> list[TaskKey]:
        return list(self._live)

    def kill(self, key: TaskKey, reason: str) -> None:
        if key in self._live:
            message = {"op": "kill", "ti_id": key.ti_id, "try_number": key.try_number}
            self._send({**message, "reason": reason})

    def stop(self, *, graceful: bool = True) -> list[TaskResult]:
        """Stop every task (SIGTERM, then SIGKILL after ``stop_grace``) and the zygote.

        Returns the results not yet handed out by ``poll``; a task the zygote could not report
        on ends as a failure saying the scheduler stopped.
        """
        if self._process is None:
            return self.poll(0)
        self._stopping = True
        if graceful:
            self._send({"op": "stop", "grace": self.stop_grace})
            self._drain_until_exit(self.stop_grace + 5.0)
        self._abandon()
        for key in list(self._live):
            self._ready.append(TaskResult.failure(key, STOPPED, interrupted=True))
        self._live.clear()
        ready, self._ready = self._ready, []
        self._close_channels(ready)
        if self.channels is not None:
            self.channels.stop()
        return ready

    # -- internals -------------------------------------------------------------------------

    def _close_channels(self, results: list[TaskResult]) -> None:
        if self.channels is not None:
            for result in results:
                self.channels.close(result.key)

    def _send(self, message: dict[str, Any]) -> None:
        try:
            write_all(self._requests_fd, encode_frame(message))
        except (BrokenPipeError, OSError):
            self._on_worker_death()

    def _read_events(self) -> None:
        data, closed = read_available(self._events_fd)
        self._absorb(self._reader.feed(data))
        if closed:
            self._on_worker_death()

    def _absorb(self, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            if message.get("ev") != "result":
                continue
            result = TaskResult.from_dict(message["result"])
            if self._live.pop(result.key, None) is not None:
                self._ready.append(result)

    def _on_worker_death(self) -> None:
        """The zygote vanished (killed, OOM): its tasks died with it; start a fresh one."""
        for key in list(self._live):
            self._ready.append(TaskResult.failure(key, WORKER_DIED, interrupted=True))
        self._live.clear()
        self._abandon()
        if not self._stopping:
            self.start()

    def _drain_until_exit(self, budget: float) -> None:
        deadline = time.monotonic() + budget
        while self._live and (remaining := deadline - time.monotonic()) > 0:
            readable, _, _ = select.select([self._events_fd], [], [], remaining)
            if not readable:
                continue
            data, closed = read_available(self._events_fd)
            self._absorb(self._reader.feed(data))
            if closed:
                return

    def _abandon(self) -> None:
        process, self._process = self._process, None
        for fd in (self._requests_fd, self._events_fd):
            if fd >= 0:
                os.close(fd)
        self._requests_fd = self._events_fd = -1
        if process is not None:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)


def _zygote_environment() -> dict[str, str]:
    """The supervisor's environment without its ``PINFLOW_*`` settings (the database URL, the
    instance secret, the broker URL): the warm interpreter every task process is forked from
    never holds them, so no task can find them in its parent's memory or ``/proc``."""
    return {name: value for name, value in os.environ.items() if not name.startswith("PINFLOW_")}


def check_task_user(name: str) -> None:
    """Refuse to start when tasks cannot run as ``name``: no such user, or no right to switch."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise ExecutorError(
            f"PINFLOW_RUN_TASKS_AS_USER={name!r}: there is no such user on this host; "
            "create it (useradd --system) or unset the setting"
        ) from None
    if entry.pw_uid == 0:
        raise ExecutorError(
            f"PINFLOW_RUN_TASKS_AS_USER={name!r} is root; name an unprivileged user"
        )
    if os.geteuid() != 0:
        raise ExecutorError(
            f"PINFLOW_RUN_TASKS_AS_USER={name!r} needs the server to run as root (to switch "
            "each task process to that user); start it as root or unset the setting"
        )
