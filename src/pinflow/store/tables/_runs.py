"""A run and its rows: task instances and their tries, XComs, the staging directory, notes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from pinflow.store.tables.base import DIGEST_LEN, ID_LEN, UUID_LEN, Base, UTCDateTime, utcnow


class DagRun(Base):
    """A run, pinned to a version and to the exact snapshot it executes."""

    __tablename__ = "dag_run"
    __table_args__ = (
        UniqueConstraint("dag_id", "run_id"),
        Index("ix_dag_run_dag_state", "dag_id", "state"),
        Index("ix_dag_run_state", "state"),
        Index("ix_dag_run_version", "version_id"),
        Index("ix_dag_run_backfill", "backfill_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    dag_id: Mapped[str] = mapped_column(ForeignKey("dag.dag_id", ondelete="CASCADE"))
    run_id: Mapped[str] = mapped_column(String(ID_LEN))
    version_id: Mapped[str | None] = mapped_column(
        ForeignKey("workflow_definition.id", ondelete="SET NULL"), nullable=True
    )
    snapshot_digest: Mapped[str] = mapped_column(ForeignKey("snapshot.digest"))
    run_type: Mapped[str] = mapped_column(String(20), default="manual")
    state: Mapped[str] = mapped_column(String(20), default="queued")
    logical_date: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    data_interval_start: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    data_interval_end: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    run_after: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    conf: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    triggered_by: Mapped[str | None] = mapped_column(String(ID_LEN), nullable=True)
    clear_number: Mapped[int] = mapped_column(Integer, default=0)
    # The backfill that created (or re-ran) it: started within that backfill's limit.
    backfill_id: Mapped[int | None] = mapped_column(
        ForeignKey("backfill.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    start_date: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    end_date: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class TaskInstance(Base):
    """The current state of one task (or one mapped element) in one run."""

    __tablename__ = "task_instance"
    __table_args__ = (
        UniqueConstraint("run_pk", "task_id", "map_index"),
        Index("ix_task_instance_state", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_pk: Mapped[int] = mapped_column(ForeignKey("dag_run.id", ondelete="CASCADE"))
    dag_id: Mapped[str] = mapped_column(String(ID_LEN))
    task_id: Mapped[str] = mapped_column(String(ID_LEN))
    map_index: Mapped[int] = mapped_column(Integer, default=-1)
    state: Mapped[str] = mapped_column(String(20), default="none")
    try_number: Mapped[int] = mapped_column(Integer, default=0)
    max_tries: Mapped[int] = mapped_column(Integer, default=0)
    pool: Mapped[str] = mapped_column(String(ID_LEN), default="default_pool")
    pool_slots: Mapped[int] = mapped_column(Integer, default=1)
    # The Celery queue its tries go to (Airflow's operator ``queue=``), and the scheduler that
    # claimed the queued try (a ``component`` id), so a dead claimer's tries are requeued soon.
    queue: Mapped[str] = mapped_column(String(ID_LEN), default="default")
    queued_by: Mapped[str | None] = mapped_column(String(ID_LEN), nullable=True)
    next_try_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    start_date: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    end_date: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    hostname: Mapped[str | None] = mapped_column(String(ID_LEN), nullable=True)
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    snapshot_digest: Mapped[str | None] = mapped_column(String(DIGEST_LEN), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    # A sensor's wait (ADR 0036): when it first poked (its timeout counts from then), how many
    # pokes or checks it made, and the trigger a deferred one waits on. Reset by a clear.
    first_poke_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    sensor_pokes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    trigger: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


# The run's rows. A task's rows are found by the unique (run_pk, task_id, map_index): with no
# statistics, SQLite takes an index on (run_pk, state) for "this task in this state" and
# scans the run's waiting rows instead (measured), so there is deliberately none.
Index("ix_task_instance_run", TaskInstance.run_pk)
Index("ix_task_instance_dag_state", TaskInstance.dag_id, TaskInstance.state)
# The claim's page (``services.engine._claims``): the next scheduled rows in id order. Without
# it PostgreSQL walks the primary key past every finished row (1,000 runs of 10 tasks: 5,000
# rows filtered per claim, 2 ms) or, on stale statistics, loops over the running runs for each
# scheduled row (31 ms); with it, 0.3 ms (ADR 0045). The query names the state as a literal,
# so even a generic prepared plan can use the partial index.
Index(
    "ix_task_instance_scheduled",
    TaskInstance.id,
    postgresql_where=text("state = 'scheduled'"),
    sqlite_where=text("state = 'scheduled'"),
)


class TaskInstanceTry(Base):
    """One row per try of a task instance: the history kept when a task is retried or cleared."""

    __tablename__ = "task_instance_try"
    # By version: a version's statistics read its tries (ADR 0024; measured in bench/README).
    __table_args__ = (
        UniqueConstraint("ti_id", "try_number"),
        Index("ix_task_instance_try_version", "version_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ti_id: Mapped[int] = mapped_column(ForeignKey("task_instance.id", ondelete="CASCADE"))
    try_number: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20))
    snapshot_digest: Mapped[str] = mapped_column(String(DIGEST_LEN))
    version_id: Mapped[str | None] = mapped_column(String(UUID_LEN), nullable=True)
    start_date: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    end_date: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    hostname: Mapped[str | None] = mapped_column(String(ID_LEN), nullable=True)
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    log_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The infrastructure ended this try (its executor stopped, its supervisor died, its process
    # was killed from outside), and it was retried at once without spending a retry.
    interrupted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The try's templated fields as it rendered them (an Airflow task's "Rendered template").
    rendered_fields: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class TaskLogChunk(Base):
    """A piece of a try's log, as a remote worker sent it to the execution API: kept in the
    database, so that every API server serves the whole log, while the try runs and after its
    worker is gone. ``seq`` orders a try's pieces; a piece sent twice (a retried upload) is
    kept once. Removed with the task instance."""

    __tablename__ = "task_log_chunk"
    __table_args__ = (UniqueConstraint("ti_id", "try_number", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ti_id: Mapped[int] = mapped_column(ForeignKey("task_instance.id", ondelete="CASCADE"))
    try_number: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class XCom(Base):
    """A task's output. Small values live in ``value``; large ones in the artifact store:
    ``value`` is NULL and ``artifact_uri``/``artifact_sha256`` say where and what it is.
    ``size`` is bytes of JSON either way; ``value_length`` the length of a stored list (what
    ``expand`` needs without reading the artifact)."""

    __tablename__ = "xcom"
    __table_args__ = (UniqueConstraint("run_pk", "task_id", "map_index", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_pk: Mapped[int] = mapped_column(ForeignKey("dag_run.id", ondelete="CASCADE"))
    task_id: Mapped[str] = mapped_column(String(ID_LEN))
    map_index: Mapped[int] = mapped_column(Integer, default=-1)
    key: Mapped[str] = mapped_column(String(ID_LEN), default="return_value")
    value: Mapped[Any] = mapped_column(JSON, nullable=True)
    artifact_uri: Mapped[str | None] = mapped_column(Text, nullable=True)
    artifact_sha256: Mapped[str | None] = mapped_column(String(DIGEST_LEN), nullable=True)
    value_length: Mapped[int | None] = mapped_column(Integer, nullable=True)
    size: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class StagingDir(Base):
    """A run's scratch directory; its path is derived from the run, so a re-run re-attaches it."""

    __tablename__ = "staging_dir"

    run_pk: Mapped[int] = mapped_column(
        ForeignKey("dag_run.id", ondelete="CASCADE"), primary_key=True
    )
    path: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    attached_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class TaskInstanceNote(Base):
    """A person's note on a task instance (Airflow's task instance note); gone with the TI."""

    __tablename__ = "task_instance_note"

    ti_id: Mapped[int] = mapped_column(
        ForeignKey("task_instance.id", ondelete="CASCADE"), primary_key=True
    )
    note: Mapped[str] = mapped_column(Text)
    updated_by: Mapped[str | None] = mapped_column(String(ID_LEN), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
