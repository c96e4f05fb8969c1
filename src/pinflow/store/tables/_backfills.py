"""Backfills (Airflow 3's ``backfill``): runs of a DAG over a range of past schedule intervals,
created at once and started within the backfill's own ``max_active_runs`` (ADR 0040)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from pinflow.store.tables.base import ID_LEN, Base, UTCDateTime, utcnow


class Backfill(Base):
    """One backfill: the range, how it treats dates that already have a run, and whether it
    is paused. ``completed_at`` is set when it is cancelled; a backfill whose runs have all
    finished is complete too (the reads say so, with the last run's end)."""

    __tablename__ = "backfill"
    __table_args__ = (Index("ix_backfill_dag", "dag_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = mapped_column(ForeignKey("dag.dag_id", ondelete="CASCADE"))
    version_id: Mapped[str | None] = mapped_column(
        ForeignKey("workflow_definition.id", ondelete="SET NULL"), nullable=True
    )
    from_date: Mapped[datetime] = mapped_column(UTCDateTime())
    to_date: Mapped[datetime] = mapped_column(UTCDateTime())
    run_backwards: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    dag_run_conf: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reprocess_behavior: Mapped[str] = mapped_column(String(20), default="none")
    max_active_runs: Mapped[int] = mapped_column(Integer, default=10)
    is_paused: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_by: Mapped[str | None] = mapped_column(String(ID_LEN), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


__all__ = ["Backfill"]
