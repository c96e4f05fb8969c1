"""The Celery executor: tries go to workers on any host through a broker (ADR 0014).

A remote executor (``remote = True``): the scheduler claims tries (``scheduled`` ->
``queued``, pools and limits counted in the database, so they hold across every worker and
scheduler) and hands each claim to ``enqueue``; the worker starts the try itself over the
execution API and reports its result there. So ``poll`` never has results, ``live`` is empty
(workers heartbeat their own tries), and a try cleared meanwhile is stopped by the 409 its
worker's next heartbeat gets, not by ``kill``.

Nothing here blocks the scheduler on the broker:

- ``enqueue`` puts the message in an outbox; a sender thread publishes it to the task's
  queue. While the broker is unreachable the outbox keeps the messages (their tries stay
  ``queued``), retries with backoff, and ``free_slots`` drops to 0 so nothing more is claimed;
- a watcher thread asks the workers (Celery's remote control, through the broker) which
  queues they consume and how many tries each runs at once; ``fleet`` hands the latest
  answer, and the broker's state, to the scheduler, which records them for health and the UI.

A scheduler that dies with messages unsent leaves their tries ``queued`` by it; another
scheduler sends them again once it sees that one dead (``services.engine`` recovery). A
message sent twice is harmless: a try starts once.
"""

from __future__ import annotations

import collections
import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pinflow.errors import PinflowError
from pinflow.runtime.contract import TaskKey, TaskRequest, TaskResult
from pinflow.services.engine import QUEUE_SCOPE, ClaimedTask, TryTokens, claims_of
from pinflow.spec.models import DEFAULT_QUEUE
from pinflow.worker.app import TASK_NAME, make_app

if TYPE_CHECKING:
    from celery import Celery

    from pinflow.settings import Settings

log = logging.getLogger(__name__)

# Claims per scheduler step; the outbox holds at most this many unsent messages before the
# scheduler stops claiming (a broker outage must not turn every scheduled try into a message).
BATCH = 256
_BACKOFF = (0.2, 0.5, 1.0, 2.0, 5.0)
INSPECT_TIMEOUT = 1.0


def _shown(message: dict[str, Any]) -> str:
    return f"{{'ti_id': {message['ti_id']}, 'try_number': {message['try_number']}}}"


class CeleryExecutorError(PinflowError):
    """The Celery executor cannot do what was asked."""


@dataclass(frozen=True)
class Outgoing:
    queue: str
    message: dict[str, Any] = field(repr=False)  # holds the queue token
    key: TaskKey


@dataclass
class BrokerState:
    status: str = "unknown"  # healthy | unreachable | unknown
    error: str | None = None
    checked_at: datetime | None = None


class CeleryExecutor:
    """Sends claimed tries to Celery workers (see the module docs)."""

    remote = True

    def __init__(
        self,
        settings: Settings,
        *,
        app: Celery | None = None,
        tokens: TryTokens | None = None,
        inspect_interval: float = 5.0,
    ) -> None:
        self.settings = settings
        self.app = app or make_app(settings)
        self.tokens = tokens or TryTokens.from_settings(settings)
        self.api_url = settings.execution_api_url.rstrip("/")
        self.inspect_interval = inspect_interval
        # A queue token must outlive the wait in the broker; past queued_timeout the try is
        # sent again with a fresh one.
        self.queue_token_ttl = timedelta(seconds=settings.queued_timeout + 60)
        self._outbox: collections.deque[Outgoing] = collections.deque()
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._wake_r, self._wake_w = os.pipe()
        self.broker = BrokerState()
        self._workers: dict[str, dict[str, Any]] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> CeleryExecutor:
        return cls(settings)

    # -- Executor protocol -----------------------------------------------------------------

    def start(self) -> None:
        if self._threads:
            return
        self._stopping.clear()
        for name, target in (("sender", self._send_loop), ("watcher", self._watch_loop)):
            thread = threading.Thread(target=target, name=f"pinflow-celery-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def free_slots(self) -> int:
        with self._cond:
            return max(0, BATCH - len(self._outbox))

    def enqueue(self, task: ClaimedTask) -> None:
        """Send the claimed try to its queue (in the background, see the module docs)."""
        token = self.tokens.issue(claims_of(task), scope=QUEUE_SCOPE, ttl=self.queue_token_ttl)
        message = {
            "api_url": self.api_url,
            "ti_id": task.ti_id,
            "try_number": task.try_number,
            "token": token,
        }
        # The spec's "default" is whatever this installation calls its default queue.
        queue = self.settings.default_queue if task.queue == DEFAULT_QUEUE else task.queue
        outgoing = Outgoing(queue, message, TaskKey(task.ti_id, task.try_number))
        with self._cond:
            self._outbox.append(outgoing)
            self._cond.notify()

    def submit(self, request: TaskRequest) -> None:
        raise CeleryExecutorError(
            f"{request.label}: the Celery executor takes claimed tries (enqueue), not requests"
        )

    def poll(self, timeout: float = 0.0) -> list[TaskResult]:
        return []  # results reach the API, not the scheduler

    def fileno(self) -> int:
        return self._wake_r  # never readable: nothing comes back this way

    def live(self) -> list[TaskKey]:
        return []

    def kill(self, key: TaskKey, reason: str) -> None:
        """Nothing to do here: a cleared try's worker learns it at its next heartbeat."""

    def stop(self, *, graceful: bool = True) -> list[TaskResult]:
        """Stop the threads; unsent messages are left for recovery (their tries stay queued)."""
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=INSPECT_TIMEOUT + 5.0)
        self._threads.clear()
        with self._cond:
            if self._outbox:
                log.warning(
                    "%d tries not sent to the broker; recovery sends them", len(self._outbox)
                )
            self._outbox.clear()
        return []

    def close(self) -> None:
        self.stop()
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)

    # -- what the scheduler records --------------------------------------------------------

    def pending(self) -> int:
        """Messages not yet accepted by the broker."""
        with self._cond:
            return len(self._outbox)

    def fleet(self) -> tuple[BrokerState, list[dict[str, Any]]]:
        """The broker's state and the workers last seen (name, hostname, queues, concurrency,
        seen_at), for health and the UI."""
        with self._cond:
            state = BrokerState(self.broker.status, self.broker.error, self.broker.checked_at)
            return state, [dict(w) for w in self._workers.values()]

    # -- threads ---------------------------------------------------------------------------

    def _send_loop(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            with self._cond:
                while not self._outbox and not self._stopping.is_set():
                    self._cond.wait()
                if self._stopping.is_set():
                    return
                outgoing = self._outbox[0]
            try:
                self.app.send_task(
                    TASK_NAME,
                    kwargs=outgoing.message,
                    queue=outgoing.queue,
                    retry=False,
                    # The message's readable copy of its arguments (which Celery puts in a
                    # header, and its tools show): the try, never the token. Also spares
                    # Celery's repr of every message.
                    argsrepr="()",
                    kwargsrepr=_shown(outgoing.message),
                )
            except Exception as exc:
                failures += 1
                self._broker_down(exc)
                self._stopping.wait(_BACKOFF[min(failures - 1, len(_BACKOFF) - 1)])
                continue
            failures = 0
            with self._cond:
                if self._outbox and self._outbox[0] is outgoing:
                    self._outbox.popleft()
                if self.broker.status != "healthy":
                    self._broker_up()

    def _broker_down(self, exc: Exception) -> None:
        with self._cond:
            if self.broker.status != "unreachable":
                log.error("the Celery broker is unreachable: %s", _describe(exc))
            self.broker = BrokerState("unreachable", _describe(exc), datetime.now(UTC))

    def _broker_up(self) -> None:
        if self.broker.status == "unreachable":
            log.warning("the Celery broker is reachable again")
        self.broker = BrokerState("healthy", None, datetime.now(UTC))

    def _watch_loop(self) -> None:
        while not self._stopping.is_set():
            started = time.monotonic()
            try:
                seen = self._inspect()
            except Exception as exc:
                self._broker_down(exc)
            else:
                with self._cond:
                    self._broker_up()
                    self._workers.update(seen)
            pause = self.inspect_interval - (time.monotonic() - started)
            self._stopping.wait(max(0.1, pause))

    def _inspect(self) -> dict[str, dict[str, Any]]:
        """The workers that answered, as last seen. A worker that answered one question but
        not the other (replies arrive within ``INSPECT_TIMEOUT``, or are missed under load)
        keeps what it said before."""
        inspect = self.app.control.inspect(timeout=INSPECT_TIMEOUT)
        queues = inspect.active_queues() or {}
        stats = inspect.stats() or {}
        now = datetime.now(UTC)
        seen: dict[str, dict[str, Any]] = {}
        for name in set(queues) | set(stats):
            known = self._workers.get(name, {})
            pool = (stats.get(name) or {}).get("pool") or {}
            names = sorted(q["name"] for q in queues.get(name) or [] if "name" in q)
            seen[name] = {
                "name": name,
                "hostname": name.partition("@")[2] or name,
                "queues": names if name in queues else known.get("queues", []),
                "concurrency": pool.get("max-concurrency", known.get("concurrency")),
                "pid": (stats.get(name) or {}).get("pid", known.get("pid")),
                "seen_at": now,
            }
        return seen


_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")


def _describe(exc: Exception) -> str:
    """The error in one line, without a URL's password (kombu may include the broker's)."""
    text = f"{type(exc).__name__}: {exc}".splitlines()[0]
    return _PASSWORD.sub(r"\1***@", text)[:300]
