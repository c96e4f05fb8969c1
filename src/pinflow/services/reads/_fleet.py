"""The fleet as health and the UI show it: each scheduler, worker and the broker, and whether
each is alive.

A component is ``healthy`` while its last heartbeat is younger than the threshold
(``Settings.scheduler_health_threshold``), ``unhealthy`` after that, ``stopped`` once it said
it stopped. The broker's row holds the last check of it: its ``status`` is that check's
(``healthy`` or ``unreachable``) while the check is recent, ``unknown`` once nobody has checked
for longer than the threshold (no scheduler with a Celery executor is alive).

What is read here is shown by a public endpoint (``/api/v2/monitor/health``, like Airflow's):
every string a component reported has the credentials of any URL in it masked
(``amqp://user:secret@host`` → ``amqp://***@host``), so a broker error quoting its URL never
shows a password.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from sqlalchemy import select

from pinflow.store.db import Database
from pinflow.store.tables import Component

HEALTHY: Final = "healthy"
UNHEALTHY: Final = "unhealthy"
STOPPED: Final = "stopped"
UNKNOWN: Final = "unknown"

# ``scheme://anything-up-to-@`` without a slash or space in between: a URL's user info.
_USER_INFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]+@")


def redact(value: Any) -> Any:
    """``value`` with the credentials of every URL in its strings masked (at any depth)."""
    if isinstance(value, str):
        return _USER_INFO.sub(r"\g<scheme>***@", value)
    if isinstance(value, dict):
        return {str(k): redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


@dataclass(frozen=True)
class ComponentView:
    id: str
    kind: str
    hostname: str | None
    pid: int | None
    queues: tuple[str, ...]
    info: dict[str, Any]
    started_at: datetime
    heartbeat_at: datetime
    stopped_at: datetime | None
    status: str  # healthy, unhealthy, stopped; the broker's: healthy, unreachable, unknown
    age: float  # seconds since the last heartbeat


@dataclass(frozen=True)
class FleetView:
    checked_at: datetime
    threshold: float
    schedulers: tuple[ComponentView, ...]
    workers: tuple[ComponentView, ...]
    broker: ComponentView | None

    @property
    def latest_scheduler_heartbeat(self) -> datetime | None:
        return max((c.heartbeat_at for c in self.schedulers), default=None)

    @property
    def scheduler_status(self) -> str | None:
        """Airflow's: ``healthy`` when one scheduler is; ``None`` when none was ever seen."""
        if not self.schedulers:
            return None
        return HEALTHY if any(c.status == HEALTHY for c in self.schedulers) else UNHEALTHY


def _status(row: Component, age: float, threshold: float) -> str:
    fresh = age <= threshold
    if row.kind == "broker":
        return str((row.info or {}).get("status", UNKNOWN)) if fresh else UNKNOWN
    if row.stopped_at is not None:
        return STOPPED
    return HEALTHY if fresh else UNHEALTHY


def _view(row: Component, now: datetime, threshold: float) -> ComponentView:
    age = max((now - row.heartbeat_at).total_seconds(), 0.0)
    return ComponentView(
        id=row.id,
        kind=row.kind,
        hostname=row.hostname,
        pid=row.pid,
        queues=tuple(str(q) for q in row.queues or ()),
        info=redact(dict(row.info or {})),
        started_at=row.started_at,
        heartbeat_at=row.heartbeat_at,
        stopped_at=row.stopped_at,
        status=_status(row, age, threshold),
        age=age,
    )


def fleet(db: Database, *, threshold: float, now: datetime | None = None) -> FleetView:
    """Every component on record, with its status at ``now`` by ``threshold`` seconds; the
    most recently seen first within each kind."""
    stamp = now or datetime.now(UTC)
    with db.read() as s:
        rows = s.scalars(
            select(Component).order_by(Component.heartbeat_at.desc(), Component.id)
        ).all()
    views = [_view(row, stamp, threshold) for row in rows]
    brokers = [v for v in views if v.kind == "broker"]
    return FleetView(
        checked_at=stamp,
        threshold=threshold,
        schedulers=tuple(v for v in views if v.kind == "scheduler"),
        workers=tuple(v for v in views if v.kind == "worker"),
        broker=brokers[0] if brokers else None,
    )
