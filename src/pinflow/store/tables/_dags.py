"""What a DAG is made of: projects and sets, the DAG, its snapshots and versions, and the
DAG files that do not compile.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from pinflow.store.tables.base import DIGEST_LEN, ID_LEN, UUID_LEN, Base, UTCDateTime, utcnow


class Project(Base):
    __tablename__ = "project"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(ID_LEN), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WorkflowSet(Base):
    __tablename__ = "workflow_set"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(ID_LEN))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Dag(Base):
    """A named family of versions. ``current_version_id`` is what new runs and re-binds use."""

    __tablename__ = "dag"

    dag_id: Mapped[str] = mapped_column(String(ID_LEN), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    current_version_id: Mapped[str | None] = mapped_column(
        ForeignKey("workflow_definition.id", ondelete="SET NULL", use_alter=True),
        nullable=True,
    )
    is_paused: Mapped[bool] = mapped_column(Boolean, default=False)
    rerun_with_latest_version: Mapped[bool] = mapped_column(Boolean, default=True)
    deregistered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    deregistered_by: Mapped[str | None] = mapped_column(String(ID_LEN), nullable=True)
    next_dagrun_after: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Snapshot(Base):
    """Immutable, content-addressed copy of a spec and its code bundle."""

    __tablename__ = "snapshot"

    digest: Mapped[str] = mapped_column(String(DIGEST_LEN), primary_key=True)
    dag_id: Mapped[str] = mapped_column(String(ID_LEN), index=True)
    spec: Mapped[dict[str, Any]] = mapped_column(JSON)
    bundle: Mapped[bytes] = mapped_column(LargeBinary)
    bundle_size: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(ID_LEN), nullable=True)


class WorkflowDefinition(Base):
    """One version of a DAG (the seed's ``workflow_definition``).

    Name, description and error strategy are copies of the current snapshot's spec, kept as
    columns so lists and confirmations do not parse JSON.
    """

    __tablename__ = "workflow_definition"
    __table_args__ = (
        Index("ix_workflow_definition_dag_status", "dag_id", "status"),
        Index("ix_workflow_definition_dag_version", "dag_id", "version"),
    )

    id: Mapped[str] = mapped_column(String(UUID_LEN), primary_key=True)
    dag_id: Mapped[str] = mapped_column(ForeignKey("dag.dag_id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(20), default="draft")
    source_workflow_id: Mapped[str | None] = mapped_column(
        ForeignKey("workflow_definition.id", ondelete="SET NULL"), nullable=True, index=True
    )
    snapshot_digest: Mapped[str] = mapped_column(ForeignKey("snapshot.digest"))
    name: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    error_strategy: Mapped[str] = mapped_column(String(20), default="continue")
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    workflow_set_id: Mapped[int | None] = mapped_column(
        ForeignKey("workflow_set.id", ondelete="SET NULL"), nullable=True
    )
    is_dev: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    deleted_by: Mapped[str | None] = mapped_column(String(ID_LEN), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    created_by: Mapped[str | None] = mapped_column(String(ID_LEN), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    published_by: Mapped[str | None] = mapped_column(String(ID_LEN), nullable=True)
    deprecated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    deprecated_by: Mapped[str | None] = mapped_column(String(ID_LEN), nullable=True)


class DagImportError(Base):
    """A DAG file that does not compile, as ``pinflow dev`` reported it (Airflow's import error).

    One row per ``filename`` of a project (the path as the CLI shows it, e.g. ``dags/etl.py``);
    the next successful compile of that file deletes it. Seen only by the project's members
    (``project_id`` NULL: reported before errors had a project, seen by superusers only).
    """

    __tablename__ = "import_error"
    __table_args__ = (UniqueConstraint("project_id", "filename"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("project.id"), nullable=True, index=True
    )
    filename: Mapped[str] = mapped_column(String(1024))
    bundle_name: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    stack_trace: Mapped[str] = mapped_column(Text)
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reported_by: Mapped[str | None] = mapped_column(String(ID_LEN), nullable=True)


class RetirementPolicy(Base):
    """A DAG's retirement policy (ADR 0031): what the scheduler deprecates and purges by itself.

    One row per DAG, set through the API, CLI or UI; no row (or every rule off) means nothing
    is retired automatically. ``in_force_since`` is when ``deprecate_previous_on_publish`` was
    last switched on: publishes before it are not acted on.
    """

    __tablename__ = "retirement_policy"

    dag_id: Mapped[str] = mapped_column(
        ForeignKey("dag.dag_id", ondelete="CASCADE"), primary_key=True
    )
    keep_active: Mapped[int | None] = mapped_column(Integer, nullable=True)
    deprecate_previous_on_publish: Mapped[bool] = mapped_column(Boolean, default=False)
    purge_deprecated_after_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    in_force_since: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(ID_LEN), nullable=True)
