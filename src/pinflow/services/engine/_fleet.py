"""The fleet's rows: each scheduler, worker and broker says it is alive (``beat``).

A scheduler beats its own row on its heartbeat timer and marks it stopped when it stops; a
Celery executor beats the rows of the workers it sees through the broker (workers hold no
database credentials) and the broker's row after each check of it. Health and the UI read them
(``pinflow.services.reads``); ``prune`` drops the rows of what has not been seen for a day, so
the pids of schedulers long gone do not pile up.

A beat is one statement (an upsert), so schedulers beating at the same moment never conflict,
and a row seen again after a stop (a restart that got the same pid) starts afresh.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime, timedelta
from typing import Any, Final, cast

from sqlalchemy import Table, case, delete, update

from pinflow.services import common
from pinflow.store.db import Database
from pinflow.store.tables import Component

SCHEDULER: Final = "scheduler"
WORKER: Final = "worker"
BROKER: Final = "broker"
KINDS: Final = frozenset({SCHEDULER, WORKER, BROKER})
# The broker is one row, whichever scheduler checked it last.
BROKER_ID: Final = "broker"
# What has not been seen for this long is forgotten.
PRUNE_AFTER: Final = timedelta(days=1)

_COMPONENT = cast(Table, Component.__table__)


def scheduler_id(hostname: str, pid: int) -> str:
    """A scheduler's row: one per process (a restart is a new row, unless it reuses the pid)."""
    return f"{SCHEDULER}:{hostname}:{pid}"


def worker_id(name: str) -> str:
    """A Celery worker's row, by the name it answers to the broker with (``celery@host``)."""
    return f"{WORKER}:{name}"


def _refresh(excluded: Any) -> Mapping[str, Any]:
    """What a beat changes on an existing row; a row that had stopped starts again. The last
    heartbeat never moves back: two schedulers report the same worker, each as last seen."""
    c = _COMPONENT.c
    return {
        "kind": excluded.kind,
        "hostname": excluded.hostname,
        "pid": excluded.pid,
        "queues": excluded.queues,
        "info": excluded.info,
        "heartbeat_at": case(
            (excluded.heartbeat_at > c.heartbeat_at, excluded.heartbeat_at),
            else_=c.heartbeat_at,
        ),
        "started_at": case((c.stopped_at.is_(None), c.started_at), else_=excluded.started_at),
        "stopped_at": None,
    }


def beat(
    db: Database,
    component_id: str,
    *,
    kind: str,
    hostname: str | None,
    pid: int | None,
    queues: Collection[str] = (),
    info: Mapping[str, Any] | None = None,
    now: datetime | None = None,
) -> None:
    """Record that ``component_id`` is alive now, with what it reports (one upsert)."""
    if kind not in KINDS:
        raise ValueError(f"a component is one of {sorted(KINDS)}, not {kind!r}")
    stamp = now or common.now()
    values = {
        "id": component_id,
        "kind": kind,
        "hostname": hostname,
        "pid": pid,
        "queues": sorted(queues),
        "info": dict(info or {}),
        "started_at": stamp,
        "heartbeat_at": stamp,
        "stopped_at": None,
    }
    with db.transaction() as s:
        s.execute(db.dialect_ops.upsert(_COMPONENT, values, ["id"], _refresh))


def stopped(db: Database, component_id: str, *, now: datetime | None = None) -> bool:
    """Record that ``component_id`` stopped on purpose; whether its row was there."""
    stamp = now or common.now()
    with db.transaction() as s:
        result = s.execute(
            update(Component).where(Component.id == component_id).values(stopped_at=stamp)
        )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def prune(db: Database, older_than: timedelta = PRUNE_AFTER, *, now: datetime | None = None) -> int:
    """Forget what has not been seen for ``older_than``; returns how many rows went."""
    cutoff = (now or common.now()) - older_than
    with db.transaction() as s:
        result = s.execute(delete(Component).where(Component.heartbeat_at < cutoff))
    return int(result.rowcount)  # type: ignore[attr-defined]


def broker_checked(
    db: Database,
    *,
    error: str | None = None,
    hostname: str | None = None,
    now: datetime | None = None,
) -> None:
    """Record a check of the broker: it answered (``error`` is ``None``) or not, and why.

    The error is stored as given; the reads strip credentials from it before showing it.
    """
    info: dict[str, Any] = {"status": "healthy" if error is None else "unreachable"}
    if error is not None:
        info["error"] = error
    beat(db, BROKER_ID, kind=BROKER, hostname=hostname, pid=None, info=info, now=now)
