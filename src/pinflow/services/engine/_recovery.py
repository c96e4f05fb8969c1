"""Finding tries whose process is gone, and ending them so the retry policy can act.

A try is *lost* when nothing will ever report it:

- ``running`` with no heartbeat for ``zombie_threshold`` seconds (its worker hung or vanished:
  the only signal available for a try on another machine);
- ``running`` on this host under a supervising process that no longer exists (a scheduler
  killed with ``kill -9``: its task processes died with it, see the local executor), or under
  this very process while its executor does not run it (a restart that reused the pid);
- ``queued`` for ``zombie_threshold`` seconds: claimed by a scheduler that died before it
  could start the try. With a remote executor (Celery) a queued try waits in the broker for
  a free worker, which is no loss: it counts as lost only when the scheduler that claimed it
  (``queued_by``) is dead — its ``component`` heartbeat older than ``claimer_threshold``, or
  never seen — and ``zombie_threshold`` passed, or after ``queued_timeout`` whoever claimed
  it (Airflow's ``task_queued_timeout``: the message may be lost). Sent again, it may reach a
  worker twice; its start is fenced, so it runs once.

A lost running try is reported as *interrupted* (through ``finish_task``): its process or
worker is gone through no fault of its own, so it is retried at once without spending one of
the task's retries, up to ``max_interruptions`` in a row (then the retry policy applies, as for
any failure). A lost queued try never started, so it goes back to ``scheduled`` without using
up a try. Every write is guarded: a try that reported meanwhile is left alone.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select, update

from pinflow.errors import ConflictError, NotFoundError
from pinflow.lifecycle.states import TaskState
from pinflow.services.common import now as utcnow
from pinflow.services.engine._reports import MAX_INTERRUPTIONS, finish_task
from pinflow.services.engine._scheduling import execute_guarded
from pinflow.store.db import Database
from pinflow.store.tables import Component, TaskInstance

TaskKeyLike = tuple[int, int]  # (ti_id, try_number)


@dataclass(frozen=True)
class LostTry:
    ti_id: int
    try_number: int
    state: TaskState  # what it was: running or queued
    reason: str


def pid_alive(pid: int) -> bool:
    """Whether a process exists (a zombie waiting to be reaped counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError, IndexError):
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    return True


def find_lost_tries(
    db: Database,
    *,
    hostname: str,
    own_pid: int,
    owned: Collection[TaskKeyLike],
    zombie_threshold: float,
    now: datetime | None = None,
    alive: Callable[[int], bool] = pid_alive,
    queued_timeout: float | None = None,
    claimer_threshold: float | None = None,
) -> list[LostTry]:
    """Lost tries (see the module docs); ``owned`` are the tries this process's executor runs.

    ``queued_timeout`` (with ``claimer_threshold``): the remote executor's rule for queued
    tries; without it a queued try is lost after ``zombie_threshold``."""
    stamp = now or utcnow()
    cutoff = stamp - timedelta(seconds=zombie_threshold)
    owned_keys = set(owned)
    queued_lost = _queued_rule(
        db, stamp, cutoff, zombie_threshold, queued_timeout, claimer_threshold
    )
    with db.read() as s:
        rows = s.execute(
            select(
                TaskInstance.id,
                TaskInstance.try_number,
                TaskInstance.state,
                TaskInstance.hostname,
                TaskInstance.pid,
                TaskInstance.heartbeat_at,
                TaskInstance.queued_at,
                TaskInstance.queued_by,
            ).where(TaskInstance.state.in_((TaskState.RUNNING.value, TaskState.QUEUED.value)))
        ).all()
    lost: list[LostTry] = []
    for ti_id, try_number, state, host, pid, beat, queued_at, queued_by in rows:
        if state == TaskState.QUEUED.value:
            reason = queued_lost(queued_at, queued_by)
            if reason is not None:
                lost.append(LostTry(ti_id, try_number + 1, TaskState.QUEUED, reason))
            continue
        why = _why_running_is_lost(
            (ti_id, try_number), host, pid, beat, hostname, own_pid, owned_keys, cutoff, alive
        )
        if why is not None:
            lost.append(LostTry(ti_id, try_number, TaskState.RUNNING, why))
    return lost


def _queued_rule(  # noqa: PLR0917 - the rule's inputs, resolved once per sweep
    db: Database,
    stamp: datetime,
    cutoff: datetime,
    zombie_threshold: float,
    queued_timeout: float | None,
    claimer_threshold: float | None,
) -> Callable[[datetime | None, str | None], str | None]:
    """Why a queued try (``queued_at``, ``queued_by``) is lost, or ``None`` (module docs)."""
    not_started = f"claimed but not started within {zombie_threshold:g}s"
    if queued_timeout is None:
        return lambda queued_at, _by: (
            not_started if queued_at is None or queued_at < cutoff else None
        )
    timeout_cutoff = stamp - timedelta(seconds=queued_timeout)
    seen_since = stamp - timedelta(seconds=claimer_threshold or zombie_threshold)
    with db.read() as s:
        alive = set(
            s.scalars(
                select(Component.id).where(
                    Component.kind == "scheduler",
                    Component.heartbeat_at >= seen_since,
                    Component.stopped_at.is_(None),
                )
            )
        )

    def why(queued_at: datetime | None, queued_by: str | None) -> str | None:
        if queued_at is None or queued_at < timeout_cutoff:
            return f"not started by a worker within {queued_timeout:g}s (queued_timeout)"
        if queued_by not in alive and queued_at < cutoff:
            return f"its claiming scheduler ({queued_by or 'unknown'}) is gone"
        return None

    return why


def _why_running_is_lost(  # noqa: PLR0917 - one row's facts, unpacked
    key: TaskKeyLike,
    host: str | None,
    pid: int | None,
    beat: datetime | None,
    hostname: str,
    own_pid: int,
    owned: set[TaskKeyLike],
    cutoff: datetime,
    alive: Callable[[int], bool],
) -> str | None:
    if host == hostname and pid is not None:
        if pid == own_pid:
            if key not in owned:
                return f"not running in this scheduler (pid {pid} on {host}) any more"
            return None
        if not alive(pid):
            return f"its supervising process (pid {pid} on {host}) is gone"
    if key in owned:
        return None
    if beat is None or beat < cutoff:
        return f"no heartbeat since {beat.isoformat() if beat else 'the start'}"
    return None


def recover_lost_tries(
    db: Database, lost: Collection[LostTry], *, max_interruptions: int = MAX_INTERRUPTIONS
) -> list[LostTry]:
    """End each lost try (see the module docs); returns those that were still lost."""
    recovered: list[LostTry] = []
    for item in lost:
        if item.state == TaskState.QUEUED:
            if _requeue(db, item):
                recovered.append(item)
            continue
        with contextlib.suppress(ConflictError, NotFoundError):
            finish_task(
                db,
                item.ti_id,
                try_number=item.try_number,
                success=False,
                error=f"task lost: {item.reason}",
                interrupted=True,
                max_interruptions=max_interruptions,
            )
            recovered.append(item)
    return recovered


def _requeue(db: Database, item: LostTry) -> bool:
    with db.transaction() as s:
        return bool(
            execute_guarded(
                s,
                update(TaskInstance)
                .where(TaskInstance.id == item.ti_id)
                .where(TaskInstance.state == TaskState.QUEUED.value)
                .where(TaskInstance.try_number == item.try_number - 1)
                .values(state=TaskState.SCHEDULED.value, queued_at=None, updated_at=utcnow()),
            )
        )
