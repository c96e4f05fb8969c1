"""The scheduler's safety net: what keeps a try from being lost, run twice or run forever, and
a run from waiting for a report that will not come (see ``pinflow.scheduler.loop``).

- heartbeats of the live tries (a conflict means the try was cleared or recovered elsewhere:
  the executor kills it);
- the sweep: runs due by their schedule, a ``sweep_pass`` (the runs no report will move on,
  and the next slice of a full pass over every running run, paced by their number, each
  re-planned only if it needs a step: ``lifecycle.sweep_rules``, ADR 0043), the runs past their
  ``dagrun_timeout`` (also on a timer of their own, set to the next deadline), lost-try
  recovery (see ``pinflow.services.engine``) and the execution-timeout backstop;
- at start and every ``retirement_interval`` (at a sweep), the DAGs' retirement policies: what they
  say is due is deprecated or purged (``services.commands.retirement``, ADR 0031);
- at start and every ``statistics_interval`` (at a sweep), PostgreSQL's planner statistics of
  the busiest tables, analysed when they changed much since (``services.engine.statistics``,
  ADR 0046);
- before a cleared task instance starts again, its old try still running here is ended;
- the scheduler's own row in the fleet (``beat_scheduler`` on the heartbeat timer,
  ``scheduler_stopped`` on stop): what health and the UI show, and, later, how recovery will
  tell a scheduler on another host that is gone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError

from pinflow import __version__
from pinflow.errors import ConflictError, NotFoundError, PinflowError
from pinflow.executors.base import Executor
from pinflow.lifecycle import sweep_rules
from pinflow.lifecycle.sweep_rules import full_pass_slice
from pinflow.runtime.contract import TaskKey, TaskRequest, TaskResult
from pinflow.scheduler.cron import create_due_runs
from pinflow.services.commands import retirement
from pinflow.services.engine import (
    count_running_runs,
    fail_timed_out_runs,
    find_lost_tries,
    fleet,
    heartbeat,
    recover_lost_tries,
    scheduler_id,
    statistics,
    sweep_pass,
)
from pinflow.settings import Settings
from pinflow.store.db import Database

log = logging.getLogger(__name__)

# How long after its execution timeout a try is killed by the scheduler if its executor has
# not ended it (the executor's own enforcement is the primary one).
TIMEOUT_BACKSTOP_GRACE = 5.0
# How long a new try waits for a superseded try of the same task instance to be killed.
STALE_TRY_WAIT = 10.0
# Every how many of its own beats a scheduler forgets the fleet's rows not seen for a day.
PRUNE_EVERY = 100


@dataclass
class LoopStats:
    """How long the scheduler's loop works per turn (the wait for work excluded), published
    with its heartbeat so that ``/metrics`` on any API server can report it: a Prometheus
    summary (``count``/``sum``, cumulative since this scheduler started), the last turn and
    the slowest."""

    count: int = 0
    total: float = 0.0
    last: float = 0.0
    slowest: float = 0.0

    def observe(self, seconds: float) -> None:
        self.count += 1
        self.total += seconds
        self.last = seconds
        self.slowest = max(self.slowest, seconds)

    def as_info(self) -> dict[str, float | int]:
        return {"count": self.count, "sum": self.total, "last": self.last, "max": self.slowest}


class SafetyNet:
    """The safety net of one scheduler: its executor, its host and process (see the module
    docs). ``note_retry`` is called when what it did may have made a retry due."""

    def __init__(
        self,
        db: Database,
        executor: Executor,
        settings: Settings,
        *,
        hostname: str,
        pid: int,
        note_retry: Callable[[], None],
        note_deadline: Callable[[float | None], None] = lambda _in_seconds: None,
    ) -> None:
        self.db = db
        self.executor = executor
        self.settings = settings
        self.hostname = hostname
        self.pid = pid
        self._note_retry = note_retry
        self._note_deadline = note_deadline
        self._deadlines: dict[TaskKey, float] = {}
        self._pass_after = 0  # the full pass's place: the last run it re-planned (0: none)
        self._pass_slice = 1
        self._since_pass_began = sweep_rules.FULL_PASS_EVERY  # the first sweep begins one
        self._beats = 0
        self._retired_at: float | None = None
        self._analysed_at: float | None = None
        self.component_id = scheduler_id(hostname, pid)
        self.loop = LoopStats()

    def watch(self, request: TaskRequest) -> None:
        """Kill the try if it outlives its execution timeout and its executor did not end it."""
        if request.execution_timeout is not None:
            limit = request.execution_timeout + TIMEOUT_BACKSTOP_GRACE
            if request.requirements:  # its clock starts once its environment is built
                limit += self.settings.venv_build_timeout
            self._deadlines[request.key] = time.monotonic() + limit

    def forget(self, key: TaskKey) -> None:
        """The try ended: nothing to enforce any more."""
        self._deadlines.pop(key, None)

    def heartbeat(self) -> None:
        for key in self.executor.live():
            try:
                heartbeat(self.db, key.ti_id, try_number=key.try_number)
            except (ConflictError, NotFoundError) as exc:
                self.executor.kill(key, f"the task instance changed meanwhile: {exc}")

    def beat_scheduler(self) -> None:
        """This scheduler's row in the fleet: alive now, with its executor and live tries.

        What it records is for people (health, the UI): a failure to record it is logged and
        never stops the scheduler."""
        info = {
            "executor": type(self.executor).__name__,
            "live_tries": len(self.executor.live()),
            "version": __version__,
            "loop_seconds": self.loop.as_info(),
        }
        try:
            fleet.beat(
                self.db,
                self.component_id,
                kind=fleet.SCHEDULER,
                hostname=self.hostname,
                pid=self.pid,
                info=info,
            )
            if self._beats % PRUNE_EVERY == 0:
                fleet.prune(self.db)
        except SQLAlchemyError:
            log.warning("cannot record this scheduler's heartbeat", exc_info=True)
        self._beats += 1
        self.beat_fleet()

    def scheduler_stopped(self) -> None:
        """This scheduler stopped on purpose (a kill -9 leaves its row to age instead)."""
        try:
            fleet.stopped(self.db, self.component_id)
        except SQLAlchemyError:
            log.warning("cannot record that this scheduler stopped", exc_info=True)

    def sweep(self) -> None:
        create_due_runs(self.db)
        self.replan()
        self.time_out_runs()
        self.recover()
        now = time.monotonic()
        if self._retired_at is None or now - self._retired_at >= self.settings.retirement_interval:
            self.apply_retirement_policies()
        every = self.settings.statistics_interval
        if every > 0 and (self._analysed_at is None or now - self._analysed_at >= every):
            self.refresh_statistics()
        live = set(self.executor.live())
        for key, deadline in list(self._deadlines.items()):
            if key not in live:
                del self._deadlines[key]
            elif now >= deadline:
                del self._deadlines[key]
                self.executor.kill(key, "execution timeout (enforced by the scheduler)")
        self._note_retry()

    def replan(self) -> None:
        """The runs that no report will move on, every sweep; every running run once per full
        pass, a slice each sweep (ADR 0043). A report re-plans only what its task's end
        changed, so the full pass is what catches a busy run that something else left
        behind (a lost wake-up, a writer that did not plan). Its slices are sized when it
        begins, so that a pass takes ``FULL_PASS_EVERY`` sweeps while runs are few and a
        sweep never re-plans more than ``FULL_PASS_MOST`` runs however many run; and a pass
        begins at most once per ``FULL_PASS_EVERY`` sweeps, so that fewer runs than that (one
        run of 10,000 tasks, say) are not re-planned at every sweep (ADR 0046)."""
        beginning = self._pass_after == 0
        if beginning and self._since_pass_began < sweep_rules.FULL_PASS_EVERY:
            self._since_pass_began += 1
            sweep_pass(self.db, after=0, limit=0)  # the quiet runs only
            return
        if beginning:
            self._pass_slice = full_pass_slice(count_running_runs(self.db))
            self._since_pass_began = 0
        self._since_pass_began += 1
        done = sweep_pass(self.db, after=self._pass_after, limit=self._pass_slice)
        self._pass_after = done.sliced[-1] if done.more else 0

    def time_out_runs(self) -> None:
        """Fail the running runs past their ``dagrun_timeout``, kill their live tries here at
        once, and set the timer for the next run's deadline (ADR 0038)."""
        swept = fail_timed_out_runs(self.db)
        stopped = set(swept.stopped_tis)
        for key in self.executor.live():
            if key.ti_id in stopped:
                self.executor.kill(key, "the run timed out (dagrun_timeout)")
        for run_pk in swept.failed_runs:
            log.warning("run %s failed: dagrun_timeout", run_pk)
        due = swept.next_deadline
        self._note_deadline(None if due is None else (due - datetime.now(UTC)).total_seconds())

    def refresh_statistics(self) -> None:
        """Analyse the busiest tables where their statistics went stale; a failure is logged,
        never raised (the next check tries again)."""
        self._analysed_at = time.monotonic()
        try:
            analysed = statistics.refresh_statistics(self.db)
        except SQLAlchemyError:
            log.warning("cannot refresh the planner's statistics", exc_info=True)
            return
        if analysed:
            log.info("planner statistics refreshed: %s", ", ".join(analysed))

    def apply_retirement_policies(self) -> None:
        """Apply the retirement policies' due actions; a failure is logged, never raised (the
        next pass re-plans from what the database holds)."""
        self._retired_at = time.monotonic()
        try:
            for done in retirement.apply_due(self.db):
                log.info(
                    "retirement policy of DAG %r: %s v%s (%s)",
                    done.dag_id,
                    done.action.kind,
                    done.action.version,
                    done.action.reason,
                )
        except (PinflowError, SQLAlchemyError):
            log.warning("cannot apply the retirement policies", exc_info=True)

    def recover(self) -> None:
        """Fail (or retry, by their policy) the tries that no live process runs any more."""
        lost = find_lost_tries(
            self.db,
            hostname=self.hostname,
            own_pid=self.pid,
            owned=self.executor.live(),
            zombie_threshold=self.settings.zombie_threshold,
            queued_timeout=self._queued_timeout(),
            claimer_threshold=self.settings.scheduler_health_threshold,
        )
        bound = self.settings.max_interruptions
        for item in recover_lost_tries(self.db, lost, max_interruptions=bound):
            log.warning(
                "try %s of task instance %s lost: %s", item.try_number, item.ti_id, item.reason
            )
        if lost:
            self._note_retry()

    def _queued_timeout(self) -> float | None:
        """A remote executor's queued tries wait in its broker: see ``find_lost_tries``."""
        return self.settings.queued_timeout if getattr(self.executor, "remote", False) else None

    def beat_fleet(self) -> None:
        """What a remote executor saw of its broker and workers, recorded for health and the
        UI (like ``beat_scheduler``, a failure to record is logged, never raised)."""
        observe = getattr(self.executor, "fleet", None)
        if observe is None:
            return
        broker, workers = observe()
        try:
            if broker.checked_at is not None:
                fleet.broker_checked(
                    self.db, error=broker.error, hostname=self.hostname, now=broker.checked_at
                )
            for seen in workers:
                fleet.beat(
                    self.db,
                    fleet.worker_id(seen["name"]),
                    kind=fleet.WORKER,
                    hostname=seen["hostname"],
                    pid=seen["pid"],
                    queues=seen["queues"],
                    info={"concurrency": seen["concurrency"], "celery_name": seen["name"]},
                    now=seen["seen_at"],
                )
        except SQLAlchemyError:
            log.warning("cannot record the broker's and the workers' state", exc_info=True)

    def retire_stale_tries(self, ti_id: int, record: Callable[[TaskResult], None]) -> bool:
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
                record(result)
        return True
