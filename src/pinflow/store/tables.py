"""SQLAlchemy tables: the one schema, for SQLite and PostgreSQL alike.

Naming follows the seeds where they name things (``workflow_definition``,
``source_workflow_id``); Airflow's names elsewhere (``dag``, ``dag_run``, ``task_instance``).
Timestamps are timezone-aware UTC. Ids of versions are UUID strings (portable across both
databases and readable in URLs).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores aware datetimes; SQLite hands back naive ones, which are UTC by construction."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use UTC-aware datetimes")
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


UUID_LEN = 36
DIGEST_LEN = 64
ID_LEN = 250


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


class DagRun(Base):
    """A run, pinned to a version and to the exact snapshot it executes."""

    __tablename__ = "dag_run"
    __table_args__ = (
        UniqueConstraint("dag_id", "run_id"),
        Index("ix_dag_run_dag_state", "dag_id", "state"),
        Index("ix_dag_run_state", "state"),
        Index("ix_dag_run_version", "version_id"),
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
    next_try_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    queued_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    start_date: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    end_date: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    hostname: Mapped[str | None] = mapped_column(String(ID_LEN), nullable=True)
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    snapshot_digest: Mapped[str | None] = mapped_column(String(DIGEST_LEN), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


# The run's rows. A task's rows are found by the unique (run_pk, task_id, map_index): with no
# statistics, SQLite takes an index on (run_pk, state) for "this task in this state" and
# scans the run's waiting rows instead (measured), so there is deliberately none.
Index("ix_task_instance_run", TaskInstance.run_pk)
Index("ix_task_instance_dag_state", TaskInstance.dag_id, TaskInstance.state)


class TaskInstanceTry(Base):
    """One row per try of a task instance: the history kept when a task is retried or cleared."""

    __tablename__ = "task_instance_try"
    __table_args__ = (UniqueConstraint("ti_id", "try_number"),)

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


class AuditEvent(Base):
    """Who did what to which target, when, and with which details (append-only)."""

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_target", "target_type", "target_id", "at"),
        Index("ix_audit_event_at", "at"),
        Index("ix_audit_event_action", "action", "at"),
        Index("ix_audit_event_actor", "actor", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor: Mapped[str] = mapped_column(String(ID_LEN))
    action: Mapped[str] = mapped_column(String(100))
    target_type: Mapped[str] = mapped_column(String(50))
    target_id: Mapped[str] = mapped_column(String(ID_LEN))
    dag_id: Mapped[str | None] = mapped_column(String(ID_LEN), nullable=True, index=True)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)


# --- authentication and authorization (issue #4) ------------------------------------------------


class User(Base):
    """A person or a service account. ``password_hash`` is argon2; ``!`` means no password
    (a token-only account, e.g. for CI), which no password can match."""

    __tablename__ = "user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(ID_LEN), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_superuser: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ProjectRole(Base):
    """A user's one role in one project ("project authority"): viewer/operator/editor/admin."""

    __tablename__ = "project_role"
    __table_args__ = (UniqueConstraint("user_id", "project_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    project_id: Mapped[int] = mapped_column(
        ForeignKey("project.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ApiToken(Base):
    """A long-lived token (``pf_<prefix>_<secret>``). Only the sha256 of the secret is stored;
    the prefix finds the row and is safe to show."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(ID_LEN))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    token_hash: Mapped[str] = mapped_column(String(DIGEST_LEN))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class LoginAttempt(Base):
    """A failed login, per username and client: the login throttle counts these.

    Kept in the database (not in process memory) so that the limit holds across any number
    of API servers; rows older than the throttle window are pruned as new failures arrive.
    """

    __tablename__ = "login_attempt"
    __table_args__ = (Index("ix_login_attempt_who", "username", "client", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(ID_LEN))
    client: Mapped[str] = mapped_column(String(ID_LEN))
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# --- Airflow's instance-wide resources and task notes (issue #4, /api/v2) -----------------------

POOL_NAME_LEN = 256  # Airflow's limit


class Pool(Base):
    """A named limit on concurrent task slots (Airflow's pool); ``slots = -1`` is unlimited.

    ``default_pool`` needs no row: it exists with Airflow's defaults until it is first written.
    """

    __tablename__ = "pool"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(POOL_NAME_LEN), unique=True)
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


class TaskInstanceNote(Base):
    """A person's note on a task instance (Airflow's task instance note); gone with the TI."""

    __tablename__ = "task_instance_note"

    ti_id: Mapped[int] = mapped_column(
        ForeignKey("task_instance.id", ondelete="CASCADE"), primary_key=True
    )
    note: Mapped[str] = mapped_column(Text)
    updated_by: Mapped[str | None] = mapped_column(String(ID_LEN), nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class DagImportError(Base):
    """A DAG file that does not compile, as ``pinflow dev`` reported it (Airflow's import error).

    One row per ``filename`` (the path as the CLI shows it, e.g. ``dags/etl.py``); the next
    successful compile of that file deletes it.
    """

    __tablename__ = "import_error"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    filename: Mapped[str] = mapped_column(String(1024), unique=True)
    bundle_name: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    stack_trace: Mapped[str] = mapped_column(Text)
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    reported_by: Mapped[str | None] = mapped_column(String(ID_LEN), nullable=True)
