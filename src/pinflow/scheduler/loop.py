"""The scheduler loop: turns executor results and timers into service calls.

Hot path, with no poll interval on it: a try's result arrives on the executor's pipe, wakes
the loop's ``select``, and is reported with ``finish_task`` (which schedules the downstream
tasks in the same transaction); the loop then claims what became ready, starts it and submits
it before it waits again. Timers (``pinflow.scheduler.timers``) only drive the safety net
(``pinflow.scheduler.safety``):

- every ``poll_interval``: start newly triggered runs (``wake()`` does it at once in-process);
- every ``heartbeat_interval``: heartbeat the live tries (a conflict means the try was cleared
  or recovered elsewhere: the executor kills it);
- every ``sweep_interval``: a ``sweep_pass`` of the runs no report will move on (no task
  instance scheduled, queued or running) and of the next slice of a full pass over every
  running run, each advanced only if it needs a step (ADR 0043), lost-try recovery (see
  ``pinflow.services.engine``) and the execution-timeout backstop; and when the earliest
  retry delay expires, the due retries are released so they start on time; and when the
  earliest ``dagrun_timeout`` of a running run expires, the runs past theirs are failed
  (ADR 0038).

A run that ends with callbacks to call (a DAG's ``on_success_callback``/
``on_failure_callback``) wakes the schedulers as its end frees a ``max_active_runs`` slot; on
that wake-up (and at each sweep) the callbacks are claimed and each is called in a process of
its own (``pinflow.scheduler.callbacks``, ADR 0044), whose end the loop's ``select`` sees.

At rest it costs (almost) nothing: when events reach this scheduler (the API shares its
process, or PostgreSQL's ``LISTEN``) and nothing runs or waits to run, the sweep and the poll
slow to ``idle_interval``, and a timer wakes the loop when the next scheduled run is due
(``next_schedule_at``). Anything that makes work (a trigger, a clear, an unpause, a new current
version) wakes it at once and brings back the one-second rhythm. A scheduler that no event
reaches (its own process on SQLite) keeps polling.

On SQLite a step's results and the claim of the slots they freed are one transaction
(``report_and_claim``): a commit is the largest cost of a step there.

With a remote executor (Celery, ``executor.remote``) the loop only claims: each claimed try
(``queued``) is handed to ``executor.enqueue``, and its worker starts it and reports it over
the execution API, whose commit wakes this loop (``LISTEN``) to claim what became ready.

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
from datetime import UTC, datetime
from typing import Any

from pinflow.errors import ConflictError, NotFoundError, PinflowError
from pinflow.executors.base import Executor, RemoteExecutor, is_remote
from pinflow.lifecycle.states import TIMED_WAIT_STATES
from pinflow.runtime.contract import TaskKey, TaskResult
from pinflow.scheduler.callbacks import RunCallbackRunner
from pinflow.scheduler.listen import RunListener, listen
from pinflow.scheduler.requests import RequestBuilder
from pinflow.scheduler.safety import SafetyNet
from pinflow.scheduler.timers import Timers
from pinflow.services.engine import (
    ClaimedTask,
    StartedTask,
    claim_and_start,
    claim_scheduled,
    create_asset_runs,
    has_unfinished_runs,
    next_retry_at,
    next_schedule_at,
    record_result,
    release_due_retries,
    report_and_claim,
    report_of,
    schedule_pass,
    start_new_runs,
    start_task,
    wakeups,
)
from pinflow.settings import Settings
from pinflow.store.db import Database

log = logging.getLogger(__name__)


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
        self._timers = Timers.of(settings)
        self._safety = SafetyNet(
            db,
            executor,
            settings,
            hostname=self.hostname,
            pid=self.pid,
            note_retry=self._note_retry,
            note_deadline=self._note_deadline,
        )
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._started = False
        self._keeper: Any = None
        self._listener: RunListener | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._in_process_api = in_process_api
        self._remote = executor if is_remote(executor) else None
        self._callbacks = RunCallbackRunner(
            db, settings, self.requests.bundles, claimer=self._safety.component_id
        )

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
        if self.db.dialect_ops.listens and self._listener is None:
            self._listener = listen(self.db.url)
        if self.db.dialect_ops.keeps_wal_connection and self._keeper is None:
            # With one connection per transaction (the store's SQLite pool), closing the last
            # connection checkpoints and deletes the WAL: milliseconds on every transaction. An
            # idle connection held open keeps the WAL, and SQLite checkpoints it by size.
            self._keeper = self.db.engine.raw_connection()
        self._safety.beat_scheduler()
        self._safety.recover()
        self._safety.apply_retirement_policies()
        schedule_pass(self.db)
        self._callbacks.pump()  # what a previous scheduler left uncalled
        self._timers.reset()
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
        return self._timers.sweep_in(time.monotonic())

    def drain(self, timeout: float) -> bool:
        """Run until no run is queued (on an unpaused DAG) or running, no try is live and no
        asset event makes a run.

        Returns ``True`` when idle, ``False`` when ``timeout`` seconds passed first.
        """
        self.start()
        deadline = time.monotonic() + timeout
        self._timers.poll = 0.0
        while True:
            self.step(max(0.0, deadline - time.monotonic()))
            # events a last result queued may still make runs (their wake-up is pending)
            idle = not self.executor.live() and not has_unfinished_runs(self.db)
            if idle and not create_asset_runs(self.db) and self._callbacks_done():
                return True
            if time.monotonic() >= deadline:
                return False

    def _callbacks_done(self) -> bool:
        """No run-end callback is being called here or waits to be (``drain``)."""
        if self._callbacks.busy():
            return False
        if self._callbacks.pending():
            self._callbacks.pump()
            return False
        return True

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
        self._callbacks.stop()
        self._safety.scheduler_stopped()

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
        started = time.perf_counter()
        try:
            return self._act(woken)
        finally:
            self._safety.loop.observe(time.perf_counter() - started)

    def _act(self, woken: bool) -> bool:
        """One turn of the loop after its wait: what ``step`` times."""
        if self._callbacks.busy():
            self._callbacks.reap()
        if self._remote is not None:  # no results come back here: claim and send
            self._timers_due(woken)
            return self._dispatch_remote(self._remote) > 0
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
        timers, ran = self._timers, False
        if woken:  # something happened elsewhere: back to the busy rhythm
            timers.woken(now)
        if woken or timers.poll_due(now):
            ran = self._start_new_runs()
            timers.polled(now, events=self._woken_by_events())
        if woken:  # a run that ended may have callbacks to call (ADR 0044)
            self._callbacks.pump()
        if timers.retry_due(now):
            release_due_retries(self.db)
            self._note_retry()  # the next wait due: a deferred sensor checked again, say
            ran = True
        if timers.deadline_due(now):
            self._safety.time_out_runs()
            ran = True
        if timers.sweep_due(now):
            self._sweep()
            self._swept(now)
            ran = True
        if timers.heartbeat_due(now):
            self._safety.heartbeat()
            self._safety.beat_scheduler()
            timers.heartbeat_sent(now)
        return ran

    def _woken_by_events(self) -> bool:
        return self._in_process_api or self._listener is not None

    def _sweep(self) -> None:
        self.requests.flush()
        self._safety.sweep()
        self._callbacks.pump()

    def _swept(self, now: float) -> None:
        """Set the next sweep: at rest only when events reach this scheduler and nothing runs
        or waits to run (see the module docs)."""
        resting = (
            self._woken_by_events()
            and not self.executor.live()
            and not has_unfinished_runs(self.db)
        )
        due = next_schedule_at(self.db) if resting else None
        schedule_in = None if due is None else (due - datetime.now(UTC)).total_seconds()
        self._timers.swept(now, resting=resting, schedule_in=schedule_in)

    def _wait(self, max_wait: float) -> bool:
        timeout = self._timers.wait(time.monotonic(), max_wait)
        fds = [self._wake_r, self.executor.fileno(), *self._callbacks.fds()]
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
        # An asset event wakes the schedulers like a trigger does (ADR 0037): its runs are
        # created here, then started with the others.
        created = create_asset_runs(self.db)
        return start_new_runs(self.db) + created > 0

    # -- results -------------------------------------------------------------------------------

    def _report_and_dispatch(self, results: list[TaskResult]) -> int:
        """Record the results and fill the slots they freed: one call, one transaction on
        SQLite (``report_and_claim``); then submit what started."""
        for result in results:
            self._safety.forget(result.key)
        limit, interruptions = self.settings.xcom_db_limit, self.settings.max_interruptions
        free = self.executor.free_slots()
        outcome = report_and_claim(
            self.db,
            [report_of(result, limit, interruptions) for result in results],
            limit=free,
            hostname=self.hostname,
            pid=self.pid,
            hold={key.ti_id for key in self.executor.live()},
        )
        for key, state in outcome.states.items():
            if isinstance(state, PinflowError):
                log.info("result of try %s ignored: %s", key, state)
            elif state in TIMED_WAIT_STATES:
                self._note_retry()
        submitted = sum(self._submit(task, started) for task, started in outcome.started)
        submitted += sum(self._launch(task) for task in outcome.held)
        if free > 0 and len(outcome.started) + len(outcome.held) >= free:
            # More may wait than the free slots took; a claim that took fewer than it could
            # found all there was (a second one would only read that nothing waits).
            submitted += self._dispatch()
        return submitted

    def _record(self, result: TaskResult) -> None:
        self._safety.forget(result.key)
        try:
            state = record_result(
                self.db,
                result,
                xcom_db_limit=self.settings.xcom_db_limit,
                max_interruptions=self.settings.max_interruptions,
            )
        except (ConflictError, NotFoundError) as exc:
            log.info("result of try %s ignored: %s", result.key, exc)
            return
        if state in TIMED_WAIT_STATES:
            self._note_retry()

    def _note_retry(self) -> None:
        due = next_retry_at(self.db)
        if due is not None:
            self._timers.note_retry(time.monotonic(), (due - datetime.now(UTC)).total_seconds())

    def _note_deadline(self, in_seconds: float | None) -> None:
        self._timers.note_deadline(time.monotonic(), in_seconds)

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

    def _dispatch_remote(self, remote: RemoteExecutor) -> int:
        """Claim what the free slots take and hand each claim to the remote executor."""
        enqueue = remote.enqueue
        submitted = 0
        while (free := remote.free_slots()) > 0:
            claimed = claim_scheduled(self.db, limit=free, claimer=self._safety.component_id)
            for task in claimed:
                enqueue(task)
            submitted += len(claimed)
            if len(claimed) < free:
                break
        return submitted

    def _launch(self, task: ClaimedTask) -> int:
        if not self._safety.retire_stale_tries(task.ti_id, self._record):
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
        self._safety.watch(request)
        self.requests.record(task, request)
        return 1
