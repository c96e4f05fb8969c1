"""Airflow's resources: pools, variables, connections (issue #4, ``/api/v2``).

Each belongs to one project (``project_id``) or, when that is NULL, to the whole instance
(ADR 0017). Names stay unique across the instance: a task names a pool, a variable or a
connection without a project, and one name must mean one thing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pinflow.store.tables.base import ID_LEN, Base, UTCDateTime, utcnow

POOL_NAME_LEN = 256  # Airflow's limit


class Pool(Base):
    """A named limit on concurrent task slots (Airflow's pool); ``slots = -1`` is unlimited.

    ``default_pool`` needs no row: it exists with Airflow's defaults until it is first written.
    """

    __tablename__ = "pool"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(POOL_NAME_LEN), unique=True)
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("project.id"), nullable=True, index=True
    )  # NULL: instance-wide
    slots: Mapped[int] = mapped_column(Integer, default=128)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    include_deferred: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Variable(Base):
    """A key/value setting (Airflow's variable). ``val`` is Fernet ciphertext, never plain text."""

    __tablename__ = "variable"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(ID_LEN), unique=True)
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("project.id"), nullable=True, index=True
    )  # NULL: instance-wide
    val: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Connection(Base):
    """How to reach an external system (Airflow's connection). ``password`` and ``extra`` are
    Fernet ciphertext; the password is write-only through the API."""

    __tablename__ = "connection"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    conn_id: Mapped[str] = mapped_column(String(ID_LEN), unique=True)
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("project.id"), nullable=True, index=True
    )  # NULL: instance-wide
    conn_type: Mapped[str] = mapped_column(String(500))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    host: Mapped[str | None] = mapped_column(String(500), nullable=True)
    conn_schema: Mapped[str | None] = mapped_column("schema", String(500), nullable=True)
    login: Mapped[str | None] = mapped_column(Text, nullable=True)
    password: Mapped[str | None] = mapped_column(Text, nullable=True)
    port: Mapped[int | None] = mapped_column(Integer, nullable=True)
    extra: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
