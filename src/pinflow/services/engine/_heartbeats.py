"""Heartbeats: a running try says that it is alive.

A heartbeat takes the task instance's row lock only (heartbeats are frequent; the run is not
touched). One for a try that no longer runs (cleared, or superseded by a later try:
``pinflow.lifecycle.try_rules.position_while_running``) is refused with ``ConflictError``,
which tells the worker to stop that try.
"""

from __future__ import annotations

from datetime import datetime

from pinflow.lifecycle.try_rules import position_while_running
from pinflow.services import common
from pinflow.services.engine._try_rows import expect, guarded, guarded_stmt, lock_ti
from pinflow.store.db import Database

_HEARTBEAT = guarded_stmt("heartbeat_at")


def heartbeat(db: Database, ti_id: int, *, try_number: int, now: datetime | None = None) -> None:
    """Record that try ``try_number`` is alive. A conflict tells the worker to stop the try."""
    stamp = now or common.now()
    with db.transaction() as s:  # the task instance's row lock only: heartbeats are frequent
        ti = lock_ti(s, ti_id)
        running = position_while_running(try_number)
        expect(ti, running, f"heartbeat try {try_number} of")
        guarded(s, ti, running, stmt=_HEARTBEAT, values={"v_heartbeat_at": stamp})
