"""The scheduler loop: turns executor results and timers into service calls.

Hot path, with no poll interval on it: a try's result arrives on the executor's pipe, wakes
the loop's ``select``, and is reported with ``finish_task`` (which schedules the downstream
tasks in the same transaction); the loop then claims what became ready, starts it and submits
it before it waits again. Timers only drive the safety net:

- every ``poll_interval``: start newly triggered runs (``wake()`` does it at once in-process);
- every ``heartbeat_interval``: heartbeat the live tries (a conflict means the try was cleared
  or recovered elsewhere: the executor kills it);
- every ``sweep_interval``: a ``schedule_pass`` of the runs no report will move on (no task
  instance scheduled, queued or running; every ``FULL_PASS_EVERY`` sweeps, of every running
  run), lost-try recovery (see ``pinflow.services.engine``) and the execution-timeout
  backstop; and when the earliest retry delay expires, the due retries are released so they
  start on time.

At rest it costs (almost) nothing: when events reach this scheduler (the API shares its
process, or PostgreSQL's ``LISTEN``) and nothing runs or waits to run, the sweep and the poll
slow to ``idle_interval``, and a timer wakes the loop when the next scheduled run is due
(``next_schedule_at``). Anything that makes work (a trigger, a clear, an unpause, a new current
version) wakes it at once and brings back the one-second rhythm. A scheduler that no event
reaches (its own process on SQLite) keeps polling.

On SQLite a step's results and the claim of the slots they freed are one transaction
(``report_and_claim``): a commit is the largest cost of a step there.

On start, tries left behind by a previous crash are recovered. ``stop()`` ends the live tries
and records each as failed with "scheduler stopped": the retry policy applies to them as to
any failure (Airflow does the same when its scheduler shuts down), so a task with retries left
runs again under the next scheduler.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pinflow.errors import ConflictError, InvalidInputError, NotFoundError, PinflowError
from pinflow.executors.base import Executor
from pinflow.lifecycle.states import TaskState
from pinflow.runtime.contract import TaskKey, TaskResult
from pinflow.scheduler.cron import create_due_runs
from pinflow.scheduler.listen import RunListener, listen
from pinflow.scheduler.requests import RequestBuilder
from pinflow.services.engine import (
    NO_XCOM,
    ClaimedTask,
    StartedTask,
    TaskReport,
    claim_and_start,
    find_lost_tries,
    finish_task,
    has_unfinished_runs,
    has_xcom,
    heartbeat,
    next_retry_at,
    next_schedule_at,
    recover_lost_tries,
    release_due_retries,
    report_and_claim,
    reported_xcom,
    schedule_pass,
    start_new_runs,
    start_task,
    wakeups,
)
from pinflow.settings import Settings
from pinflow.store.db import Database

log = logging.getLogger(__name__)

# How long after its execution timeout a try is killed by the scheduler if its executor has
# not ended it (the executor's own enforcement is the primary one).
TIMEOUT_BACKSTOP_GRACE = 5.0
# How long a new try waits for a superseded try of the same task instance to be killed.
STALE_TRY_WAIT = 10.0
# Every how many sweeps the safety net re-plans every running run, not only the quiet ones.
FULL_PASS_EVERY = 30


@dataclass
class _Timers:
    poll: float = 0.0
    heartbeat: float = 0.0
    sweep: float = 0.0
    retry: float | None = None


class Scheduler:
    """One scheduler loop driving one executor (see the module docs). Not thread-safe, except
    ``wake()``, which any thread may call."""

    def __init__(
        self,
        db: Database,
        executor: Executor,
        settings: Settings,
        *,
        hostname: str | None = None,
        in_process_api: bool = False,
    ) -> None:
        """``in_process_api``: the API serves from this process (``pinflow standalone``), so
        its commits wake this scheduler directly and polling is only a safety net."""
        self.db = db
        self.executor = executor
        self.settings = settings
        self.hostname = hostname or socket.gethostname()
        self.pid = os.getpid()
        self.requests = RequestBuilder(db, settings)
        self._timers = _Timers()
        self._deadlines: dict[TaskKey, float] = {}
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._started = False
        self._keeper: Any = None
        self._sweeps = 0
        self._listener: RunListener | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._in_process_api = in_process_api
        self._rhythm = settings.sweep_interval  # the sweep's period: longer while idle

    # -- public --------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the executor, recover what a previous crash left behind, start queued runs."""
        if self._started:
            return
        self.executor.start()
        self._started = True
        # Runs queued in this process wake the loop at once; on PostgreSQL, those queued by
        # other processes too (``services.wakeups``).
        if self._unsubscribe is None:
            self._unsubscribe = wakeups.subscribe(self.wake)
        if not self.db.is_sqlite and self._listener is None:
            self._listener = listen(self.db.url)
        if self.db.is_sqlite and self._keeper is None:
            # With one connection per transaction (the store's SQLite pool), closing the last
            # connection checkpoints and deletes the WAL: milliseconds on every transaction. An
            # idle connection held open keeps the WAL, and SQLite checkpoints it by size.
            self._keeper = self.db.engine.raw_connection()
        self._recover()
        schedule_pass(self.db)
        self._timers = _Timers()
        # What exists now (modules, the engine, caches) lives as long as the process: keep it
        # out of full collections, which otherwise pause the hot path for tens of ms.
        gc.collect()
        gc.freeze()

    def wake(self) -> None:
        """Look for new runs now (e.g. right after a trigger in the same process)."""
        with contextlib.suppress(OSError):  # full: already woken; closed: nothing to wake
            os.write(self._wake_w, b"!")

    def next_sweep_in(self) -> float:
        """Seconds until the next safety sweep: the busy rhythm, or longer at rest."""
        return max(0.0, self._timers.sweep - time.monotonic())

    def drain(self, timeout: float) -> bool:
        """Run until no run is queued (on an unpaused DAG) or running and no try is live.

        Returns ``True`` when idle, ``False`` when ``timeout`` seconds passed first.
        """
        self.start()
        deadline = time.monotonic() + timeout
        self._timers.poll = 0.0
        while True:
            self.step(max(0.0, deadline - time.monotonic()))
            if not self.executor.live() and not has_unfinished_runs(self.db):
                return True
            if time.monotonic() >= deadline:
                return False

    def run_forever(self, stop_event: threading.Event) -> None:
        """Loop until ``stop_event`` is set (call ``wake()`` after setting it), then stop."""
        self.start()
        try:
            while not stop_event.is_set():
                self.step(self.settings.sweep_interval)
        finally:
            self.stop()

    def stop(self, *, graceful: bool = True) -> None:
        """End the live tries (recorded as failed: "scheduler stopped") and the executor."""
        if not self._started:
            return
        self._started = False
        for result in self.executor.stop(graceful=graceful):
            self._record(result)
        self.requests.flush()

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.stop()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        gc.unfreeze()
        if self._keeper is not None:
            self._keeper.close()
            self._keeper = None
        for fd in (self._wake_r, self._wake_w):
            os.close(fd)

    # -- the loop --------------------------------------------------------------------------

    def step(self, max_wait: float) -> bool:
        """Wait for a result, a wake-up or a timer (at most ``max_wait`` s), then act on it.

        Returns whether anything happened (a result recorded or a try submitted).
        """
        woken = self._wait(max_wait)
        results = self.executor.poll(0)
        # First the results (recovery must never see a try that ended here but is not
        # recorded yet), with the slots they freed filled in the same transaction.
        submitted = self._report_and_dispatch(results)
        if self._timers_due(woken):  # they may have made tasks ready
            submitted += self._dispatch()
        self.requests.flush(force=not self.executor.live())
        return bool(results or submitted)

    def _timers_due(self, woken: bool) -> bool:
        """Run the timers that are due; returns whether any ran."""
        now = time.monotonic()
        ran = False
        if woken:  # something happened elsewhere: back to the busy rhythm
            self._rhythm = self.settings.sweep_interval
            self._timers.sweep = min(self._timers.sweep, now + self._rhythm)
        if woken or now >= self._timers.poll:
            ran = self._start_new_runs()
            # When every queued run wakes the loop, the poll is only a safety net.
            poll = self._rhythm if self._woken_by_events() else self.settings.poll_interval
            self._timers.poll = now + poll
        if self._timers.retry is not None and now >= self._timers.retry:
            self._timers.retry = None
            release_due_retries(self.db)
            ran = True
        if now >= self._timers.sweep:
            self._sweep()
            self._timers.sweep = self._next_sweep(now)
            ran = True
        if now >= self._timers.heartbeat:
            self._heartbeat()
            self._timers.heartbeat = now + self.settings.heartbeat_interval
        return ran

    def _woken_by_events(self) -> bool:
        return self._in_process_api or self._listener is not None

    def _next_sweep(self, now: float) -> float:
        """The busy rhythm while anything runs or waits; at rest, ``idle_interval`` or the
        next scheduled run, whichever comes first (see the module docs)."""
        busy = now + self.settings.sweep_interval
        if not self._woken_by_events() or self.executor.live() or has_unfinished_runs(self.db):
            self._rhythm = self.settings.sweep_interval
            return busy
        self._rhythm = self.settings.idle_interval
        at = now + self._rhythm
        due = next_schedule_at(self.db)
        if due is not None:
            at = min(at, now + (due - datetime.now(UTC)).total_seconds())
        self._timers.poll = max(self._timers.poll, at)
        return max(at, busy)

    def _wait(self, max_wait: float) -> bool:
        now = time.monotonic()
        due = [self._timers.poll, self._timers.sweep]
        if self.executor.live():
            due.append(self._timers.heartbeat)
        if self._timers.retry is not None:
            due.append(self._timers.retry)
        timeout = max(0.0, min(max_wait, min(due) - now))
        fds = [self._wake_r, self.executor.fileno()]
        if self._listener is not None:
            fds.append(self._listener.fileno())
        readable, _, _ = select.select(fds, [], [], timeout)
        notified = self._listener is not None and self._listener.fileno() in readable
        if notified and self._listener is not None:
            notified = self._listener.drain()
        if self._wake_r not in readable:
            return notified
        while True:
            try:
                if not os.read(self._wake_r, 512):
                    return True
            except BlockingIOError:
                return True

    def _start_new_runs(self) -> bool:
        return start_new_runs(self.db) > 0

    # -- results -------------------------------------------------------------------------------

    def _report_and_dispatch(self, results: list[TaskResult]) -> int:
        """Record the results and fill the slots they freed: one call, one transaction on
        SQLite (``report_and_claim``); then submit what started."""
        for result in results:
            self._deadlines.pop(result.key, None)
        outcome = report_and_claim(
            self.db,
            [_report(result, self.settings.xcom_db_limit) for result in results],
            limit=self.executor.free_slots(),
            hostname=self.hostname,
            pid=self.pid,
            hold={key.ti_id for key in self.executor.live()},
        )
        for key, state in outcome.states.items():
            if isinstance(state, PinflowError):
                log.info("result of try %s ignored: %s", key, state)
            elif state == TaskState.UP_FOR_RETRY:
                self._note_retry()
        submitted = sum(self._submit(task, started) for task, started in outcome.started)
        submitted += sum(self._launch(task) for task in outcome.held)
        if outcome.started or outcome.held:
            submitted += self._dispatch()  # more may wait than the freed slots took
        return submitted

    def _record(self, result: TaskResult) -> None:
        self._deadlines.pop(result.key, None)
        keep = result.success and not result.skipped and has_xcom(result)
        try:
            state = self._finish(result, xcom=reported_xcom(result) if keep else NO_XCOM)
        except (ConflictError, NotFoundError) as exc:
            log.info("result of try %s ignored: %s", result.key, exc)
            return
        if state == TaskState.UP_FOR_RETRY:
            self._note_retry()

    def _finish(self, result: TaskResult, *, xcom: object) -> TaskState:
        """One result on its own (the executor stopped, a request could not be built)."""
        try:
            return finish_task(
                self.db,
                result.ti_id,
                try_number=result.try_number,
                success=result.success,
                error=result.error,
                xcom=xcom,
                skipped=result.skipped,
                xcom_db_limit=self.settings.xcom_db_limit,
            )
        except InvalidInputError as exc:  # the value cannot be stored: the try fails
            return finish_task(
                self.db,
                result.ti_id,
                try_number=result.try_number,
                success=False,
                error=str(exc),
            )

    def _note_retry(self) -> None:
        due = next_retry_at(self.db)
        if due is None:
            return
        at = time.monotonic() + max(0.0, (due - datetime.now(UTC)).total_seconds())
        self._timers.retry = at if self._timers.retry is None else min(self._timers.retry, at)

    # -- dispatch ------------------------------------------------------------------------------

    def _dispatch(self) -> int:
        """Claim and start what the free slots take (one transaction per batch), then submit.

        A claimed task instance with a try of its still live here (it was cleared meanwhile)
        takes the slow path: the old try is ended first, then the new one is started.
        """
        submitted = 0
        while (free := self.executor.free_slots()) > 0:
            live = {key.ti_id for key in self.executor.live()}
            started, held = claim_and_start(
                self.db, limit=free, hostname=self.hostname, pid=self.pid, hold=live
            )
            for task, try_ in started:
                submitted += self._submit(task, try_)
            for task in held:
                submitted += self._launch(task)
            if len(started) + len(held) < free:
                break
        return submitted

    def _launch(self, task: ClaimedTask) -> int:
        if not self._retire_stale_tries(task.ti_id):
            return 0  # still queued: recovery hands it back to ``scheduled`` later
        try:
            started = start_task(
                self.db,
                task.ti_id,
                try_number=task.try_number,
                hostname=self.hostname,
                pid=self.pid,
            )
        except (ConflictError, NotFoundError) as exc:
            log.info("claimed task %s not started: %s", task.ti_id, exc)
            return 0
        return self._submit(task, started)

    def _submit(self, task: ClaimedTask, started: StartedTask) -> int:
        try:
            request = self.requests.build(task, started)
        except (PinflowError, OSError) as exc:
            key = TaskKey(task.ti_id, started.try_number)
            self._record(TaskResult.failure(key, f"cannot dispatch the task: {exc}"))
            return 0
        self.executor.submit(request)
        if request.execution_timeout is not None:
            limit = request.execution_timeout + TIMEOUT_BACKSTOP_GRACE
            self._deadlines[request.key] = time.monotonic() + limit
        self.requests.record(task, request)
        return 1

    def _retire_stale_tries(self, ti_id: int) -> bool:
        """A task instance cleared while its try still runs here is about to start again: end
        the old try first (and wait for it, bounded), so two never run at the same time."""
        stale = [key for key in self.executor.live() if key.ti_id == ti_id]
        if not stale:
            return True
        for key in stale:
            self.executor.kill(key, "superseded by a new try of the task instance")
        deadline = time.monotonic() + STALE_TRY_WAIT
        while any(key in stale for key in self.executor.live()):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                log.error("tries %s did not end in time; the new try waits", stale)
                return False
            for result in self.executor.poll(remaining):
                self._record(result)
        return True

    # -- safety net ----------------------------------------------------------------------------

    def _heartbeat(self) -> None:
        for key in self.executor.live():
            try:
                heartbeat(self.db, key.ti_id, try_number=key.try_number)
            except (ConflictError, NotFoundError) as exc:
                self.executor.kill(key, f"the task instance changed meanwhile: {exc}")

    def _sweep(self) -> None:
        self.requests.flush()
        create_due_runs(self.db)
        # Runs that no report will move on, every sweep; every run now and then (a full pass
        # re-plans a run, which costs its size: not every second for a 10,000-task run).
        self._sweeps += 1
        schedule_pass(self.db, quiet_only=self._sweeps % FULL_PASS_EVERY != 0)
        self._recover()
        now = time.monotonic()
        live = set(self.executor.live())
        for key, deadline in list(self._deadlines.items()):
            if key not in live:
                del self._deadlines[key]
            elif now >= deadline:
                del self._deadlines[key]
                self.executor.kill(key, "execution timeout (enforced by the scheduler)")
        self._note_retry()

    def _recover(self) -> None:
        lost = find_lost_tries(
            self.db,
            hostname=self.hostname,
            own_pid=self.pid,
            owned=self.executor.live(),
            zombie_threshold=self.settings.zombie_threshold,
        )
        for item in recover_lost_tries(self.db, lost):
            log.warning(
                "try %s of task instance %s lost: %s", item.try_number, item.ti_id, item.reason
            )
        if lost:
            self._note_retry()


def _report(result: TaskResult, xcom_db_limit: int) -> TaskReport:
    keep = result.success and not result.skipped and has_xcom(result)
    return TaskReport(
        result.ti_id,
        result.try_number,
        result.success,
        result.error,
        reported_xcom(result) if keep else NO_XCOM,
        result.skipped,
        xcom_db_limit,
    )
