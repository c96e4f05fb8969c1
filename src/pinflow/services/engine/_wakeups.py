"""Telling schedulers a run may start, so that it starts now, not at their next poll.

A service that queues a run, or frees what a queued run waits for (a run of the DAG ended:
``max_active_runs``; the DAG was unpaused), calls ``run_queued(session)`` in its
transaction. Once the
transaction commits (never before, never after a rollback):

- every scheduler in this process that ``subscribe``\\d is called (``pinflow standalone``: the
  API and the scheduler share a process, so a trigger costs no poll interval at all);
- on PostgreSQL a ``NOTIFY`` on ``CHANNEL`` reaches schedulers in other processes, which
  ``LISTEN`` (``pinflow.scheduler.listen``); PostgreSQL delivers it only on commit.

A scheduler that misses a wake-up (SQLite, another process) still finds the run at its next
poll (``poll_interval``): this is a shortcut, never the only path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import event
from sqlalchemy.orm import Session

from pinflow.store.dialect import dialect_ops

CHANNEL = "pinflow_runs"
_listeners: list[Callable[[], None]] = []
_lock = threading.Lock()
_MARK = "pinflow_wakeup"


def subscribe(callback: Callable[[], None]) -> Callable[[], None]:
    """Call ``callback`` (from the committing thread) after each commit that queued a run;
    returns the function that unsubscribes it."""
    with _lock:
        _listeners.append(callback)

    def unsubscribe() -> None:
        with _lock:
            if callback in _listeners:
                _listeners.remove(callback)

    return unsubscribe


def run_queued(session: Session) -> None:
    """Note, in ``session``'s transaction, that it queues a run (once per transaction)."""
    if session.info.get(_MARK):
        return
    session.info[_MARK] = True
    dialect_ops(session).notify(session, CHANNEL)
    event.listen(session, "after_commit", _after_commit, once=True)
    event.listen(session, "after_rollback", _forget, once=True)


def _after_commit(session: Session) -> None:
    session.info.pop(_MARK, None)
    with _lock:
        listeners = list(_listeners)
    for callback in listeners:
        callback()


def _forget(session: Session) -> None:
    session.info.pop(_MARK, None)
