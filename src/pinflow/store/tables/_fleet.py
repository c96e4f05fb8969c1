"""The fleet: the long-lived processes of an installation and when each was last seen.

A scheduler writes its own row at every heartbeat; a Celery worker's row is written by the
schedulers, which see it through the broker (workers hold no database credentials). Health
(``/api/v2/monitor/health``) and the UI read these rows: which schedulers and workers are
alive, which queues each worker takes, and whether the broker answered.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from pinflow.store.tables.base import ID_LEN, Base, UTCDateTime, utcnow


class Component(Base):
    """One scheduler, worker or broker as last seen (``kind``), keyed by a stable name."""

    __tablename__ = "component"
    __table_args__ = (Index("ix_component_kind_heartbeat", "kind", "heartbeat_at"),)

    id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    hostname: Mapped[str | None] = mapped_column(String(ID_LEN), nullable=True)
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    queues: Mapped[list[str]] = mapped_column(JSON, default=list)
    info: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
