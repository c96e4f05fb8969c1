"""Assets (Airflow's ``Asset``), their events, who mentions them, and the events queued for
the DAGs scheduled on them (Airflow's ``asset_dag_run_queue``); docs/adr/0037."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pinflow.store.tables.base import ID_LEN, Base, UTCDateTime, utcnow

URI_LEN = 1500


class Asset(Base):
    """An asset, registered when a DAG's current version first mentions it (or a manual
    event names it). ``uri`` identifies it; ``name``, ``group`` and ``extra`` are those of the
    latest version that mentioned it."""

    __tablename__ = "asset"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    uri: Mapped[str] = mapped_column(String(URI_LEN), unique=True)
    name: Mapped[str] = mapped_column(String(URI_LEN))
    group: Mapped[str] = mapped_column(String(URI_LEN), default="asset")
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AssetReference(Base):
    """A DAG's current version mentions the asset: ``kind`` is ``schedule`` (the DAG is
    scheduled on it; ``task_id`` is ``""``), ``outlet`` or ``inlet`` (of ``task_id``).
    Rewritten whenever the DAG's current version changes."""

    __tablename__ = "asset_reference"
    __table_args__ = (Index("ix_asset_reference_dag", "dag_id"),)

    asset_id: Mapped[int] = mapped_column(
        ForeignKey("asset.id", ondelete="CASCADE"), primary_key=True
    )
    dag_id: Mapped[str] = mapped_column(
        ForeignKey("dag.dag_id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    task_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True, default="")


class AssetEvent(Base):
    """An update of an asset: by a task's success (its source), or a manual event (no
    source run; ``created_by`` the user)."""

    __tablename__ = "asset_event"
    __table_args__ = (Index("ix_asset_event_asset", "asset_id", "timestamp"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    asset_id: Mapped[int] = mapped_column(ForeignKey("asset.id", ondelete="CASCADE"))
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    source_dag_id: Mapped[str | None] = mapped_column(String(ID_LEN), nullable=True)
    source_run_id: Mapped[str | None] = mapped_column(String(ID_LEN), nullable=True)
    source_task_id: Mapped[str | None] = mapped_column(String(ID_LEN), nullable=True)
    source_map_index: Mapped[int] = mapped_column(Integer, default=-1)
    created_by: Mapped[str | None] = mapped_column(String(ID_LEN), nullable=True)
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AssetQueue(Base):
    """An event waiting to be consumed by a run of ``target_dag_id`` (scheduled on its
    asset): Airflow's ``asset_dag_run_queue``, one row per event and consuming DAG."""

    __tablename__ = "asset_dag_run_queue"
    __table_args__ = (
        UniqueConstraint("event_id", "target_dag_id"),
        Index("ix_asset_dag_run_queue_target", "target_dag_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("asset_event.id", ondelete="CASCADE"))
    asset_id: Mapped[int] = mapped_column(ForeignKey("asset.id", ondelete="CASCADE"))
    target_dag_id: Mapped[str] = mapped_column(ForeignKey("dag.dag_id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AssetTriggeredRun(Base):
    """The events an ``asset_triggered`` run consumed: its ``triggering_asset_events``."""

    __tablename__ = "asset_triggered_run"

    run_pk: Mapped[int] = mapped_column(
        ForeignKey("dag_run.id", ondelete="CASCADE"), primary_key=True
    )
    event_id: Mapped[int] = mapped_column(
        ForeignKey("asset_event.id", ondelete="CASCADE"), primary_key=True
    )
