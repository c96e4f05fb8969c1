"""Canary runs: which run a canary run replays, on which versions, and what it reused (ADR 0030)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from pinflow.store.tables.base import ID_LEN, UUID_LEN, Base, UTCDateTime, utcnow


class CanaryRun(Base):
    """A run started by a canary action (``run_pk``), linked to the run it replays.

    The source run's id and state are copied at the start: the comparison shows what the
    canary was measured against, even after the source run is cleared or deleted (its link
    then becomes NULL). ``batch_id`` groups the runs of one action; ``reused_task_ids`` are the
    tasks marked ``success`` from the source run's results instead of running."""

    __tablename__ = "canary_run"
    __table_args__ = (
        Index("ix_canary_run_target", "target_version_id", "created_at"),
        Index("ix_canary_run_source_run", "source_run_pk"),
        Index("ix_canary_run_batch", "batch_id"),
    )

    run_pk: Mapped[int] = mapped_column(
        ForeignKey("dag_run.id", ondelete="CASCADE"), primary_key=True
    )
    batch_id: Mapped[str] = mapped_column(String(UUID_LEN))
    source_run_pk: Mapped[int | None] = mapped_column(
        ForeignKey("dag_run.id", ondelete="SET NULL"), nullable=True
    )
    source_run_id: Mapped[str] = mapped_column(String(ID_LEN))
    source_state: Mapped[str] = mapped_column(String(20))
    source_version_id: Mapped[str | None] = mapped_column(
        ForeignKey("workflow_definition.id", ondelete="SET NULL"), nullable=True
    )
    target_version_id: Mapped[str | None] = mapped_column(
        ForeignKey("workflow_definition.id", ondelete="SET NULL"), nullable=True
    )
    reused_task_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_by: Mapped[str | None] = mapped_column(String(ID_LEN), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
