"""One try on a worker: start it, fetch its snapshot, run it, stream its log, report it.

``run_message`` is what a broker message becomes (the Celery task calls it). The try runs in
a task process of the local executor's own making (``task_runner``: each worker process has
its zygote, which keeps a task process forked and warmed ahead of the try; the zygote
enforces the ``execution_timeout`` and reports how the process ended), so a DAG behaves the
same on both executors, down to the process (``docs/runtime-contract.md``). Meanwhile the
worker process:

- uploads what the log file grew by, every ``log_interval`` (the UI shows it live, and it
  stays readable on the API's side after this host is gone);
- heartbeats every ``heartbeat_interval``; a 409 means the try was cleared, recovered or
  superseded: the task is killed and nothing is reported.

The snapshot is fetched by digest over the execution API, its digest recomputed from the
spec and bundle before anything is extracted (a wrong one is refused, never run), and cached
by digest (``task_process.ensure_bundle``: safe for many processes at once).
"""

from __future__ import annotations

import codecs
import contextlib
import logging
import os
import select
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from pinflow.executors.local import LocalExecutor
from pinflow.runtime import staging
from pinflow.runtime.channel import ChannelRefusal, TaskChannel, discard_folder
from pinflow.runtime.contract import TaskRequest, TaskResult
from pinflow.runtime.envs import EnvConfig
from pinflow.runtime.paths import log_path, staging_path
from pinflow.runtime.private import private_dirs
from pinflow.runtime.task_process import ensure_bundle
from pinflow.spec.canonical import document_digest
from pinflow.worker.client import (
    ApiUnavailable,
    ExecutionApiError,
    ExecutionClient,
    TokenRefused,
    TryFenced,
    XComTarget,
)

log = logging.getLogger(__name__)

MAX_LOG_CHUNK = 512 * 1024  # bytes per upload (the API takes up to 1 MiB of characters)


LogTail = tuple[str, int]  # the end of a try's log, and its piece number


class SnapshotMismatchError(ExecutionApiError):
    """The snapshot served does not hash to the digest the try is pinned to."""


@dataclass(frozen=True)
class WorkerContext:
    """What every try on this worker shares: its name and its own local folders."""

    hostname: str
    home: Path
    heartbeat_interval: float = 5.0
    log_interval: float = 0.5
    run_as_user: str | None = None  # PINFLOW_RUN_TASKS_AS_USER
    envs: EnvConfig | None = None  # the environment cache of versions with requirements

    @property
    def cache_dir(self) -> Path:
        return self.home / "snapshots"

    @property
    def logs_dir(self) -> Path:
        return self.home / "logs"

    @property
    def staging_dir(self) -> Path:
        return self.home / "staging"


@dataclass(frozen=True)
class Message:
    """A broker message: one try, where to reach the execution API, the queue token."""

    api_url: str
    ti_id: int
    try_number: int
    token: str

    @classmethod
    def of(cls, data: dict[str, Any]) -> Message:
        return cls(str(data["api_url"]), int(data["ti_id"]), int(data["try_number"]), data["token"])

    def __repr__(self) -> str:  # never the token
        return f"Message(ti_id={self.ti_id}, try_number={self.try_number}, api={self.api_url!r})"


def run_message(
    data: dict[str, Any], context: WorkerContext, *, transport: httpx.BaseTransport | None = None
) -> str:
    """Run the try a broker message names; returns what happened, in words (for the log).

    Never raises for the try's own failures: those are reported. ``transport``: how to reach
    the API (tests pass the app's own). A message whose try cannot
    start (started already by a duplicate delivery, cleared, or its token refused) is
    dropped, which is how duplicates in the broker are harmless.
    """
    message = Message.of(data)
    client = ExecutionClient(message.api_url, message.ti_id, message.token, transport=transport)
    try:
        try:
            request = client.start(context.hostname, os.getpid())
        except (TryFenced, TokenRefused) as exc:
            return f"try {message.try_number} of task instance {message.ti_id} not started: {exc}"
        request = localize(request, context)
        result: TaskResult | None
        try:
            fetch_snapshot(client, context.cache_dir, request.snapshot_digest)
        except ExecutionApiError as exc:
            result = TaskResult.failure(request.key, f"cannot fetch the snapshot: {exc}")
            log_tail = None
        else:
            result, log_tail = supervise(request, client, context)
        if result is None:
            return f"{request.label} stopped: no longer the live try"
        try:
            text, seq = log_tail if log_tail else (None, None)
            state = client.finish(result, log=text, log_seq=seq)
        except TryFenced as exc:
            return f"{request.label}: result refused ({exc})"
        return f"{request.label}: {state}"
    finally:
        client.close()


def localize(request: TaskRequest, context: WorkerContext) -> TaskRequest:
    """The request with this worker's own folders for the log and the run's staging dir (the
    API's paths are the API host's)."""
    key = (request.dag_id, request.run_id)
    return replace(
        request,
        staging_dir=str(staging_path(context.staging_dir, *key)),
        log_path=str(
            log_path(
                context.logs_dir,
                *key,
                request.task_id,
                map_index=request.map_index,
                try_number=request.try_number,
            )
        ),
    )


def fetch_snapshot(client: ExecutionClient, cache_dir: Path, digest: str) -> Path:
    """The snapshot's code in the cache, fetched and checked against ``digest`` when absent."""

    def fetch() -> bytes:
        spec, bundle = client.snapshot(digest)
        actual = document_digest(spec, bundle)
        if actual != digest:
            raise SnapshotMismatchError(f"snapshot {digest} was served with digest {actual}")
        return bundle

    return ensure_bundle(cache_dir, digest, None, fetch=fetch)


def supervise(
    request: TaskRequest, client: ExecutionClient, context: WorkerContext
) -> tuple[TaskResult | None, LogTail | None]:
    """Run the try in a detached child and watch it; its result, or ``None`` when it was
    stopped because it is no longer the live try (then nothing may be reported), and the end
    of its log not uploaded yet (it goes with the result: one call less per try).

    A run staging dir that cannot be brought from the shared store (the task does not run) or
    saved back to it (whatever the task did) fails the try, with the store's own message:
    reported like any failure, so its retries apply; never an exception that would leave a
    started try unreported until its heartbeat's age gives it up."""
    outcome: tuple[TaskResult | None, LogTail | None] | None = None
    try:
        with staging.attached(request):
            outcome = _supervise(request, client, context)
    except staging.StagingError as exc:
        if outcome is not None and outcome[0] is None:
            return outcome  # stopped as no longer the live try: nothing to report
        return TaskResult.failure(request.key, exc.message), outcome[1] if outcome else None
    return outcome


_RUNNERS: dict[tuple[int, Path], LocalExecutor] = {}


def task_runner(context: WorkerContext) -> LocalExecutor:
    """This process's warm task runner: the local executor's own (a zygote with a spare task
    process forked ahead), started on first use (a pool process starts it as it starts).
    One per process, one try at a time: a Celery pool process runs one message at once."""
    key = (os.getpid(), context.cache_dir)
    runner = _RUNNERS.get(key)
    if runner is None:
        runner = LocalExecutor(
            snapshot_cache_dir=context.cache_dir,
            parallelism=1,
            run_as_user=context.run_as_user,
            envs=context.envs,
        )
        runner.start()
        _RUNNERS[key] = runner
    return runner


def stop_task_runners() -> None:
    """Stop this process's task runners and remove its tries' socket folder (a pool process
    that shuts down; tests)."""
    for key in [key for key in _RUNNERS if key[0] == os.getpid()]:
        _RUNNERS.pop(key).stop(graceful=False)
    discard_folder()


def _supervise(
    request: TaskRequest, client: ExecutionClient, context: WorkerContext
) -> tuple[TaskResult | None, LogTail | None]:
    private_dirs(Path(request.log_path).parent)
    runner = task_runner(context)
    own = XComTarget(request.dag_id, request.run_id, request.task_id, request.map_index)
    channel = TaskChannel(_ApiBackend(client, own), str(client.ti_id), user=context.run_as_user)
    try:
        runner.submit(replace(request, task_api=str(channel.path)))
        return _watch(request, client, context, runner, channel)
    finally:
        channel.close()


def _watch(
    request: TaskRequest,
    client: ExecutionClient,
    context: WorkerContext,
    runner: LocalExecutor,
    channel: TaskChannel,
) -> tuple[TaskResult | None, LogTail | None]:
    """Until the task process has ended: its channel answered, its log shipped, heartbeats."""
    shipper = LogShipper(Path(request.log_path), client)
    next_beat = time.monotonic() + context.heartbeat_interval
    fenced = False
    while True:
        wait = max(0.0, min(next_beat, shipper.next_at) - time.monotonic())
        readable, _, _ = select.select([runner.fileno(), *channel.fds()], [], [], wait)
        results = runner.poll(0) if runner.fileno() in readable else []
        if results:
            result = results[0]
            break
        channel.serve(readable)
        now = time.monotonic()
        shipper.maybe_ship(now, context.log_interval)
        if now >= next_beat:
            next_beat = now + context.heartbeat_interval
            fenced = _heartbeat(client, runner, request) or fenced
    if fenced:
        shipper.ship(final=True)
        return None, None
    return result, shipper.tail()


def _heartbeat(client: ExecutionClient, runner: LocalExecutor, request: TaskRequest) -> bool:
    """Whether the try was fenced: then it is killed (its result, when it comes, is dropped)."""
    try:
        client.heartbeat()
    except TryFenced as exc:
        runner.kill(request.key, f"no longer the live try: {exc}")
        return True
    except (ApiUnavailable, TokenRefused) as exc:  # the API decides by the heartbeat's age
        log.warning("heartbeat of task instance %s failed: %s", client.ti_id, exc)
    return False


class LogShipper:
    """Uploads what a log file grew by since the last upload (whole UTF-8 characters), each
    piece numbered (``seq``) so that the API keeps a piece sent twice only once."""

    def __init__(self, path: Path, client: ExecutionClient) -> None:
        self.path = path
        self.client = client
        self.offset = 0
        self.seq = 0
        self.next_at = time.monotonic() + 0.5  # a short try's log goes with its result
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def maybe_ship(self, now: float, interval: float) -> None:
        if now >= self.next_at:
            self.next_at = now + interval
            self.ship()

    def ship(self, *, final: bool = False) -> None:
        for chunk in self._chunks(final):
            if not self._upload(chunk):
                return

    def tail(self) -> LogTail | None:
        """Upload all but the last of what is left; that last piece and its number, to send
        with the result."""
        chunks = list(self._chunks(final=True))
        if not chunks:
            return None
        for chunk in chunks[:-1]:
            self._upload(chunk)
        return chunks[-1], self._take_seq()

    def _upload(self, chunk: str) -> bool:
        seq = self._take_seq()
        try:
            self.client.upload_log(chunk, seq)
        except ExecutionApiError as exc:  # the log is a convenience; the try goes on
            log.warning("log upload of task instance %s failed: %s", self.client.ti_id, exc)
            return False
        return True

    def _take_seq(self) -> int:
        self.seq += 1
        return self.seq - 1

    def _chunks(self, final: bool) -> Iterator[str]:
        with contextlib.suppress(FileNotFoundError), open(self.path, "rb") as handle:
            handle.seek(self.offset)
            while data := handle.read(MAX_LOG_CHUNK):
                self.offset += len(data)
                text = self._decoder.decode(data, final=False)
                if text:
                    yield text
        if final:
            rest = self._decoder.decode(b"", final=True)
            if rest:
                yield rest


def default_hostname() -> str:
    return socket.gethostname()


class _ApiBackend:
    """The channel's answers for a try on a worker: execution API calls with its token."""

    def __init__(self, client: ExecutionClient, own: XComTarget) -> None:
        self.client, self.own = client, own

    def variable(self, key: str) -> str:
        with _refusals():
            return self.client.variable(key)

    def connection(self, conn_id: str) -> Any:
        with _refusals():
            return self.client.connection(conn_id)

    def push_xcom(self, key: str, value: Any) -> None:
        with _refusals():
            self.client.push_xcom(self.own, key, value)

    def pull_xcom(self, task_id: str, map_index: int, key: str) -> Any:
        with _refusals():
            return self.client.pull_xcom(self.own, task_id, map_index, key)

    def rendered_fields(self, fields: dict[str, Any]) -> None:
        with _refusals():
            self.client.put_rendered_fields(fields)


@contextlib.contextmanager
def _refusals() -> Iterator[None]:
    try:
        yield
    except ExecutionApiError as exc:
        raise ChannelRefusal(exc.details.get("status"), exc.message) from None
