"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-22 03:52:26.410614
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pinflow.store.tables

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", pinflow.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=250), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("target_type", sa.String(length=50), nullable=False),
        sa.Column("target_id", sa.String(length=250), nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=True),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.create_index("ix_audit_event_action", ["action", "at"], unique=False)
        batch_op.create_index("ix_audit_event_actor", ["actor", "at"], unique=False)
        batch_op.create_index("ix_audit_event_at", ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_audit_event_dag_id"), ["dag_id"], unique=False)
        batch_op.create_index(
            "ix_audit_event_target", ["target_type", "target_id", "at"], unique=False
        )

    op.create_table(
        "project",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("created_at", pinflow.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_project")),
        sa.UniqueConstraint("name", name=op.f("uq_project_name")),
    )
    op.create_table(
        "snapshot",
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("bundle", sa.LargeBinary(), nullable=False),
        sa.Column("bundle_size", sa.Integer(), nullable=False),
        sa.Column("created_at", pinflow.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=250), nullable=True),
        sa.PrimaryKeyConstraint("digest", name=op.f("pk_snapshot")),
    )
    with op.batch_alter_table("snapshot", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_snapshot_dag_id"), ["dag_id"], unique=False)

    op.create_table(
        "dag",
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("current_version_id", sa.String(length=36), nullable=True),
        sa.Column("is_paused", sa.Boolean(), nullable=False),
        sa.Column("rerun_with_latest_version", sa.Boolean(), nullable=False),
        sa.Column(
            "deregistered_at", pinflow.store.tables.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("deregistered_by", sa.String(length=250), nullable=True),
        sa.Column(
            "next_dagrun_after", pinflow.store.tables.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("created_at", pinflow.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", pinflow.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"], ["project.id"], name=op.f("fk_dag_project_id_project")
        ),
        sa.PrimaryKeyConstraint("dag_id", name=op.f("pk_dag")),
    )
    with op.batch_alter_table("dag", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_dag_project_id"), ["project_id"], unique=False)

    op.create_table(
        "workflow_set",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=250), nullable=False),
        sa.Column("created_at", pinflow.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["project.id"],
            name=op.f("fk_workflow_set_project_id_project"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_set")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_workflow_set_project_id")),
    )
    op.create_table(
        "workflow_definition",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("source_workflow_id", sa.String(length=36), nullable=True),
        sa.Column("snapshot_digest", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=500), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("error_strategy", sa.String(length=20), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("workflow_set_id", sa.Integer(), nullable=True),
        sa.Column("is_dev", sa.Boolean(), nullable=False),
        sa.Column("deleted_at", pinflow.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deleted_by", sa.String(length=250), nullable=True),
        sa.Column("created_at", pinflow.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=250), nullable=True),
        sa.Column("updated_at", pinflow.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("published_at", pinflow.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("published_by", sa.String(length=250), nullable=True),
        sa.Column("deprecated_at", pinflow.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("deprecated_by", sa.String(length=250), nullable=True),
        sa.ForeignKeyConstraint(
            ["dag_id"],
            ["dag.dag_id"],
            name=op.f("fk_workflow_definition_dag_id_dag"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["project.id"], name=op.f("fk_workflow_definition_project_id_project")
        ),
        sa.ForeignKeyConstraint(
            ["snapshot_digest"],
            ["snapshot.digest"],
            name=op.f("fk_workflow_definition_snapshot_digest_snapshot"),
        ),
        sa.ForeignKeyConstraint(
            ["source_workflow_id"],
            ["workflow_definition.id"],
            name=op.f("fk_workflow_definition_source_workflow_id_workflow_definition"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workflow_set_id"],
            ["workflow_set.id"],
            name=op.f("fk_workflow_definition_workflow_set_id_workflow_set"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_definition")),
    )
    with op.batch_alter_table("workflow_definition", schema=None) as batch_op:
        batch_op.create_index(
            "ix_workflow_definition_dag_status", ["dag_id", "status"], unique=False
        )
        batch_op.create_index(
            "ix_workflow_definition_dag_version", ["dag_id", "version"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_workflow_definition_project_id"), ["project_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_workflow_definition_source_workflow_id"),
            ["source_workflow_id"],
            unique=False,
        )

    # dag <-> workflow_definition reference each other: add the back edge once both exist.
    with op.batch_alter_table("dag", schema=None) as batch_op:
        batch_op.create_foreign_key(
            batch_op.f("fk_dag_current_version_id_workflow_definition"),
            "workflow_definition",
            ["current_version_id"],
            ["id"],
            ondelete="SET NULL",
        )

    op.create_table(
        "dag_run",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("version_id", sa.String(length=36), nullable=True),
        sa.Column("snapshot_digest", sa.String(length=64), nullable=False),
        sa.Column("run_type", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("logical_date", pinflow.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column(
            "data_interval_start", pinflow.store.tables.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column(
            "data_interval_end", pinflow.store.tables.UTCDateTime(timezone=True), nullable=True
        ),
        sa.Column("run_after", pinflow.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("conf", sa.JSON(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("triggered_by", sa.String(length=250), nullable=True),
        sa.Column("clear_number", sa.Integer(), nullable=False),
        sa.Column("created_at", pinflow.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("start_date", pinflow.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("end_date", pinflow.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", pinflow.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["dag_id"], ["dag.dag_id"], name=op.f("fk_dag_run_dag_id_dag"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["snapshot_digest"],
            ["snapshot.digest"],
            name=op.f("fk_dag_run_snapshot_digest_snapshot"),
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["workflow_definition.id"],
            name=op.f("fk_dag_run_version_id_workflow_definition"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dag_run")),
        sa.UniqueConstraint("dag_id", "run_id", name=op.f("uq_dag_run_dag_id")),
    )
    with op.batch_alter_table("dag_run", schema=None) as batch_op:
        batch_op.create_index("ix_dag_run_dag_state", ["dag_id", "state"], unique=False)
        batch_op.create_index("ix_dag_run_state", ["state"], unique=False)
        batch_op.create_index("ix_dag_run_version", ["version_id"], unique=False)

    op.create_table(
        "staging_dir",
        sa.Column("run_pk", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("created_at", pinflow.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("attached_at", pinflow.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_pk"],
            ["dag_run.id"],
            name=op.f("fk_staging_dir_run_pk_dag_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_pk", name=op.f("pk_staging_dir")),
    )
    op.create_table(
        "task_instance",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_pk", sa.Integer(), nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("task_id", sa.String(length=250), nullable=False),
        sa.Column("map_index", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("try_number", sa.Integer(), nullable=False),
        sa.Column("max_tries", sa.Integer(), nullable=False),
        sa.Column("pool", sa.String(length=250), nullable=False),
        sa.Column("pool_slots", sa.Integer(), nullable=False),
        sa.Column("next_try_at", pinflow.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("queued_at", pinflow.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("start_date", pinflow.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("end_date", pinflow.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", pinflow.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("hostname", sa.String(length=250), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("snapshot_digest", sa.String(length=64), nullable=True),
        sa.Column("updated_at", pinflow.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_pk"],
            ["dag_run.id"],
            name=op.f("fk_task_instance_run_pk_dag_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_instance")),
        sa.UniqueConstraint("run_pk", "task_id", "map_index", name=op.f("uq_task_instance_run_pk")),
    )
    with op.batch_alter_table("task_instance", schema=None) as batch_op:
        batch_op.create_index("ix_task_instance_run", ["run_pk"], unique=False)
        batch_op.create_index("ix_task_instance_state", ["state"], unique=False)
        batch_op.create_index("ix_task_instance_dag_state", ["dag_id", "state"], unique=False)

    op.create_table(
        "xcom",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_pk", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.String(length=250), nullable=False),
        sa.Column("map_index", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=250), nullable=False),
        sa.Column("value", sa.JSON(), nullable=True),
        sa.Column("artifact_uri", sa.Text(), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_at", pinflow.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_pk"], ["dag_run.id"], name=op.f("fk_xcom_run_pk_dag_run"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_xcom")),
        sa.UniqueConstraint("run_pk", "task_id", "map_index", "key", name=op.f("uq_xcom_run_pk")),
    )
    op.create_table(
        "task_instance_try",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("ti_id", sa.Integer(), nullable=False),
        sa.Column("try_number", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("snapshot_digest", sa.String(length=64), nullable=False),
        sa.Column("version_id", sa.String(length=36), nullable=True),
        sa.Column("start_date", pinflow.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("end_date", pinflow.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("hostname", sa.String(length=250), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("log_path", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["ti_id"],
            ["task_instance.id"],
            name=op.f("fk_task_instance_try_ti_id_task_instance"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_instance_try")),
        sa.UniqueConstraint("ti_id", "try_number", name=op.f("uq_task_instance_try_ti_id")),
    )


def downgrade() -> None:
    with op.batch_alter_table("dag", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_dag_current_version_id_workflow_definition"), type_="foreignkey"
        )

    op.drop_table("task_instance_try")
    op.drop_table("xcom")
    with op.batch_alter_table("task_instance", schema=None) as batch_op:
        batch_op.drop_index("ix_task_instance_state")
        batch_op.drop_index("ix_task_instance_dag_state")
        batch_op.drop_index("ix_task_instance_run")

    op.drop_table("task_instance")
    op.drop_table("staging_dir")
    with op.batch_alter_table("dag_run", schema=None) as batch_op:
        batch_op.drop_index("ix_dag_run_version")
        batch_op.drop_index("ix_dag_run_state")
        batch_op.drop_index("ix_dag_run_dag_state")

    op.drop_table("dag_run")
    with op.batch_alter_table("workflow_definition", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workflow_definition_source_workflow_id"))
        batch_op.drop_index(batch_op.f("ix_workflow_definition_project_id"))
        batch_op.drop_index("ix_workflow_definition_dag_version")
        batch_op.drop_index("ix_workflow_definition_dag_status")

    op.drop_table("workflow_definition")
    op.drop_table("workflow_set")
    with op.batch_alter_table("dag", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dag_project_id"))

    op.drop_table("dag")
    with op.batch_alter_table("snapshot", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_snapshot_dag_id"))

    op.drop_table("snapshot")
    op.drop_table("project")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_event_target")
        batch_op.drop_index(batch_op.f("ix_audit_event_dag_id"))
        batch_op.drop_index("ix_audit_event_at")
        batch_op.drop_index("ix_audit_event_actor")
        batch_op.drop_index("ix_audit_event_action")

    op.drop_table("audit_event")
