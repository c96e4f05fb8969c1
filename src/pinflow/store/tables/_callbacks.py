"""Run-end callbacks waiting to be called, being called, or called (ADR 0044)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pinflow.store.tables.base import ID_LEN, Base, UTCDateTime, utcnow


class RunCallback(Base):
    """One end of one run whose DAG has callbacks for it: written in the transaction that
    ends the run (``pending``), claimed by one scheduler (``running``, ``claimed_by``), then
    ``success`` or ``failed``. A claim older than the callback timeout is taken again (its
    scheduler died); ``attempts`` counts the claims."""

    __tablename__ = "run_callback"
    __table_args__ = (
        Index("ix_run_callback_state", "state", "claimed_at"),
        Index("ix_run_callback_run", "run_pk"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_pk: Mapped[int] = mapped_column(ForeignKey("dag_run.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))  # on_success | on_failure
    reason: Mapped[str] = mapped_column(String(40))  # success | task_failure | timed_out
    state: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(ID_LEN), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    end_date: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    log_path: Mapped[str | None] = mapped_column(Text, nullable=True)  # on the scheduler's host
    output: Mapped[str | None] = mapped_column(Text, nullable=True)  # its log's tail, at its end


__all__ = ["RunCallback"]
