"""The warm interpreter of the local executor: one forked process per task.

Started once by ``LocalExecutor.start()`` as ``python -m pinflow.runtime.zygote``, it imports
the runtime and the SDK (and so pydantic) up front; every task process is an ``os.fork()`` of
it, so a task pays no interpreter start-up and no import of Pinflow. It never imports user
code itself: only the forked children do, and each exits after its one task.

To keep even the fork off the path from one task's end to the next one's start, the zygote
keeps *spares* (``--spares``; the executor asks for one per task slot, so that a step that
starts a task in every slot forks nothing): processes forked (and detached) ahead of time,
which walk the code path every task takes (so that the memory pages they will write are
copied before the task is known) and then wait for their request. A request goes to a spare;
spares are forked again when a task ends, while the scheduler records the result.

Pipes: requests in (``submit`` / ``kill`` / ``stop`` frames), events out (``ready``, then one
``result`` per submitted request). A success is reported as soon as its result frame is whole
(the task's code has finished); a failure only once its process is reaped and its process
group killed, so a retry can never overlap what is left of the failed try. Execution
timeouts are enforced here (SIGKILL to the child's process group), and a child that dies
without a result becomes a failed ``TaskResult``. The zygote dies with its parent
(``PR_SET_PDEATHSIG``), and its children die with it: no task outlives the scheduler that
started it.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import selectors
import signal
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, NamedTuple

from pinflow.runtime.contract import TaskKey, TaskRequest, TaskResult
from pinflow.runtime.env_task import ENV_READY, use_envs
from pinflow.runtime.envs import EnvConfig
from pinflow.runtime.process import (
    FrameReader,
    describe_status,
    encode_frame,
    kill_group,
    read_available,
    set_parent_death_signal,
    write_all,
)
from pinflow.runtime.task_process import prefault, run_tasks_as, spare_main
from pinflow.runtime.workdirs import sweep_workdirs

STOPPED = "scheduler stopped"
# Signals that end a task process from outside without it having failed on its own.
_INTERRUPTING_SIGNALS = frozenset({signal.SIGKILL.value, signal.SIGTERM.value})


class _Spare(NamedTuple):
    pid: int
    request_fd: int  # we write the request here
    result_fd: int  # and read the result here


@dataclass
class _Child:
    request: TaskRequest
    pid: int
    fd: int
    started: float
    deadline: float | None
    reader: FrameReader = field(default_factory=FrameReader)
    result: TaskResult | None = None
    reported: bool = False
    kill_reason: str | None = None


class Zygote:
    """The fork server's event loop (single-threaded, so forking from it is safe)."""

    def __init__(self, cache_dir: Path, requests_fd: int, events_fd: int, spares: int = 1) -> None:
        self.cache_dir = cache_dir
        self.spare_count = max(spares, 0)
        self.requests_fd = requests_fd
        self.events_fd = events_fd
        self.pid = os.getpid()
        self.children: dict[int, _Child] = {}  # by pid
        self.by_fd: dict[int, _Child] = {}
        self.spares: list[_Spare] = []  # the next request takes the first one
        self.reader = FrameReader()
        self.outbox = bytearray()
        self.stopping = False
        self.reported = False  # a result went out during this turn
        self.stop_deadline: float | None = None
        self.wake_r, self.wake_w = os.pipe()
        self.selector = selectors.DefaultSelector()

    # -- lifecycle -------------------------------------------------------------------------

    def serve(self) -> None:
        for fd in (self.wake_r, self.wake_w, self.events_fd, self.requests_fd):
            os.set_blocking(fd, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, lambda *_: self._stop(0.0))
        self.selector.register(self.requests_fd, selectors.EVENT_READ, "requests")
        self.selector.register(self.wake_r, selectors.EVENT_READ, "wake")
        sweep_workdirs()  # those of tries killed with an earlier zygote
        self._refill_spares()
        self._emit({"ev": "ready", "pid": self.pid})
        while not (self.stopping and not self.children):
            self._turn()
        self._drop_spares()
        self._flush_blocking()

    def _turn(self) -> None:
        for key, _ in self.selector.select(self._timeout()):
            if key.data == "requests":
                self._on_requests()
            elif key.data == "wake":
                read_available(self.wake_r)
            elif key.data == "events":
                self._flush()
            else:
                self._on_child_output(key.fd)
        self._reap()
        self._enforce_deadlines()
        # Spares are forked once a task has ended (or nothing runs), not while one just
        # started: their warm-up then overlaps the scheduler's bookkeeping, not the task itself.
        if self.reported or not self.children:
            self._refill_spares()
        self.reported = False

    def _timeout(self) -> float | None:
        deadlines = [c.deadline for c in self.children.values() if c.deadline is not None]
        if self.stop_deadline is not None:
            deadlines.append(self.stop_deadline)
        return max(0.0, min(deadlines) - time.monotonic()) if deadlines else None

    # -- requests --------------------------------------------------------------------------

    def _on_requests(self) -> None:
        data, closed = read_available(self.requests_fd)
        for message in self.reader.feed(data):
            self._handle(message)
        if closed:  # the executor is gone: nobody would record what the tasks do
            self.selector.unregister(self.requests_fd)
            self._stop(0.0)

    def _handle(self, message: dict[str, Any]) -> None:
        op = message.get("op")
        if op == "submit":
            self._start(TaskRequest.from_dict(message["request"]))
        elif op == "kill":
            key = TaskKey(int(message["ti_id"]), int(message["try_number"]))
            self._kill(key, str(message.get("reason") or "killed"))
        elif op == "stop":
            self._stop(float(message.get("grace", 0.0)))

    def _start(self, request: TaskRequest) -> None:
        if self.stopping:
            self._emit_result(TaskResult.failure(request.key, STOPPED, interrupted=True))
            return
        spare = self.spares.pop(0) if self.spares else self._new_spare()
        with contextlib.suppress(OSError):  # a spare that died meanwhile: its pipe says so
            write_all(spare.request_fd, encode_frame(request.to_dict()))
        os.close(spare.request_fd)
        os.set_blocking(spare.result_fd, False)
        now = time.monotonic()
        # A try with requirements starts its clock when its environment is up (ENV_READY).
        timeout = None if request.requirements else request.execution_timeout
        child = _Child(request, spare.pid, spare.result_fd, now, now + timeout if timeout else None)
        self.children[spare.pid] = child
        self.by_fd[spare.result_fd] = child
        self.selector.register(spare.result_fd, selectors.EVENT_READ, "child")

    def _new_spare(self) -> _Spare:
        request_r, request_w = os.pipe()
        result_r, result_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(request_w)
            os.close(result_r)
            self._close_in_child()
            spare_main(request_r, result_w, self.cache_dir, self.pid)
        os.close(request_r)
        os.close(result_w)
        with contextlib.suppress(OSError):  # the child does it too; whoever is first wins
            os.setpgid(pid, pid)
        return _Spare(pid, request_w, result_r)

    def _refill_spares(self) -> None:
        while len(self.spares) < self.spare_count and not self.stopping:
            self.spares.append(self._new_spare())

    def _drop_spare(self, spare: _Spare) -> None:
        self.spares.remove(spare)
        kill_group(spare.pid)
        os.close(spare.request_fd)
        os.close(spare.result_fd)

    def _drop_spares(self) -> None:
        for spare in list(self.spares):
            self._drop_spare(spare)

    def _close_in_child(self) -> None:
        # Never unregister here: the epoll instance is shared with the zygote after fork.
        signal.set_wakeup_fd(-1)
        fds = [self.selector.fileno(), self.requests_fd, self.events_fd, self.wake_r, self.wake_w]
        for spare in self.spares:
            fds += [spare.request_fd, spare.result_fd]
        for fd in [*fds, *self.by_fd]:
            with contextlib.suppress(OSError):
                os.close(fd)

    def _kill(self, key: TaskKey, reason: str) -> None:
        for child in self.children.values():
            if child.request.key == key:
                child.kill_reason = child.kill_reason or reason
                kill_group(child.pid)

    def _stop(self, grace: float) -> None:
        self.stopping = True
        self._drop_spares()
        sig = signal.SIGTERM if grace > 0 else signal.SIGKILL
        for child in self.children.values():
            child.kill_reason = child.kill_reason or STOPPED
            kill_group(child.pid, sig)
        self.stop_deadline = time.monotonic() + grace if grace > 0 else None

    # -- children --------------------------------------------------------------------------

    def _on_child_output(self, fd: int) -> None:
        child = self.by_fd[fd]
        data, closed = read_available(fd)
        self._absorb_output(child, data)
        if closed:  # finished (or closed its pipe); SIGCHLD reaps it
            self.selector.unregister(fd)

    def _absorb_output(self, child: _Child, data: bytes) -> None:
        messages = child.reader.feed(data) if data else []
        if messages and messages[0].get("ev") == ENV_READY:
            # Its environment's interpreter is up: the execution timeout counts from now (ADR 0032).
            timeout = child.request.execution_timeout
            child.deadline = time.monotonic() + timeout if timeout else None
            messages = messages[1:]
        if messages and child.result is None:
            child.result = TaskResult.from_dict(messages[0])
            if child.result.success and child.kill_reason is None:
                self._emit_result(child.result)  # its code is done: downstream may start
                child.reported = True

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            died = [spare for spare in self.spares if spare.pid == pid]
            if died:
                self._drop_spare(died[0])  # died before it had a task: fork another one later
            child = self.children.pop(pid, None)
            if child is not None:
                self._finish(child, status)

    def _finish(self, child: _Child, status: int) -> None:
        # The child is a zombie until reaped, so its process group id cannot have been reused:
        # this reaches any process the task left behind (``cmd &``), and only those.
        kill_group(child.pid)
        sweep_workdirs(child.pid)  # left behind if it was killed (SIGKILL runs no cleanup)
        self._absorb_output(child, read_available(child.fd)[0])
        if child.fd in self.selector.get_map():
            self.selector.unregister(child.fd)
        os.close(child.fd)
        del self.by_fd[child.fd]
        if not child.reported:
            self._emit_result(self._result_of(child, status))

    def _result_of(self, child: _Child, status: int) -> TaskResult:
        result = child.result
        stopped = child.kill_reason == STOPPED
        if result is not None:
            # A try that failed because we ended it failed for our reason, not the signal's.
            if child.kill_reason and not result.success:
                return replace(result, error=child.kill_reason, interrupted=stopped)
            return result
        how, code = describe_status(status)
        reason = child.kill_reason or f"the task process {how}"
        duration = time.monotonic() - child.started
        # Stopped with its executor, or killed by a signal nobody in Pinflow sent (an operator's
        # ``kill -9``, the OOM killer, a container stop): not the task's own failure.
        interrupted = stopped or (child.kill_reason is None and -code in _INTERRUPTING_SIGNALS)
        key = child.request.key
        return TaskResult.failure(
            key, reason, exit_code=code, duration=duration, pid=child.pid, interrupted=interrupted
        )

    def _enforce_deadlines(self) -> None:
        now = time.monotonic()
        for child in self.children.values():
            if child.deadline is not None and now >= child.deadline:
                timeout = child.request.execution_timeout
                child.kill_reason = child.kill_reason or f"execution timeout after {timeout:g}s"
                child.deadline = None
                kill_group(child.pid)
        if self.stop_deadline is not None and now >= self.stop_deadline:
            self.stop_deadline = None
            for child in self.children.values():
                kill_group(child.pid)

    # -- events out ------------------------------------------------------------------------

    def _emit_result(self, result: TaskResult) -> None:
        self.reported = True
        self._emit({"ev": "result", "result": result.to_dict()})

    def _emit(self, message: dict[str, Any]) -> None:
        self.outbox += encode_frame(message)
        self._flush()

    def _flush(self) -> None:
        """Write what the pipe takes now; the rest waits for the pipe to drain (never block:
        the executor may be busy writing requests to us at the same moment)."""
        try:
            while self.outbox:
                written = os.write(self.events_fd, self.outbox)
                del self.outbox[:written]
        except BlockingIOError:
            pass
        except BrokenPipeError:
            self.outbox.clear()
        registered = self.events_fd in self.selector.get_map()
        if self.outbox and not registered:
            self.selector.register(self.events_fd, selectors.EVENT_WRITE, "events")
        elif not self.outbox and registered:
            self.selector.unregister(self.events_fd)

    def _flush_blocking(self) -> None:
        os.set_blocking(self.events_fd, True)
        with contextlib.suppress(BrokenPipeError):
            while self.outbox:
                written = os.write(self.events_fd, self.outbox)
                del self.outbox[:written]


def _warm_up() -> None:
    """Import what task code commonly needs, once, so that forked tasks start warm."""
    import json  # noqa: F401
    import subprocess  # noqa: F401
    import traceback  # noqa: F401
    import urllib.request  # noqa: F401
    import zipfile  # noqa: F401

    import pinflow.sdk  # noqa: F401

    set_parent_death_signal(signal.SIGKILL)  # loads libc once, for every child
    # Walk a task's path once here too: what it fills on first use (the regular expressions
    # the SDK's checks compile, pydantic's validators, the import system's caches) is then
    # filled once for every child, instead of once in each (a third of a spare's warm-up).
    with contextlib.suppress(Exception):
        prefault()
    # Everything imported so far lives as long as the zygote: move it out of the collector's
    # reach, so that a collection in a task process does not touch (and so copy) every page
    # the zygote shares with it (copy-on-write).
    gc.collect()
    gc.freeze()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="pinflow.runtime.zygote")
    parser.add_argument("--parent-pid", type=int, required=True)
    parser.add_argument("--cache-dir", type=Path, required=True)
    parser.add_argument("--requests-fd", type=int, required=True)
    parser.add_argument("--events-fd", type=int, required=True)
    parser.add_argument("--spares", type=int, default=1, help="task processes forked ahead")
    parser.add_argument("--run-as-user", default=None, help="the user task processes run as")
    parser.add_argument("--envs", default=None, help="the environment cache (EnvConfig JSON)")
    args = parser.parse_args(argv)
    set_parent_death_signal(signal.SIGKILL)
    if os.getppid() != args.parent_pid:
        raise SystemExit(70)  # the executor died before the death signal was armed
    # Ctrl-C reaches the whole foreground process group; the executor decides how we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _warm_up()
    if args.run_as_user is not None:
        run_tasks_as(args.run_as_user)
    use_envs(EnvConfig.from_json(args.envs) if args.envs else None)
    Zygote(args.cache_dir, args.requests_fd, args.events_fd, args.spares).serve()


if __name__ == "__main__":
    main()
