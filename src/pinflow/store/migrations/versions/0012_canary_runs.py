"""Canary runs linked to the runs they replay; task tries indexed by version

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pinflow.store.tables

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "canary_run",
        sa.Column("run_pk", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.String(length=36), nullable=False),
        sa.Column("source_run_pk", sa.Integer(), nullable=True),
        sa.Column("source_run_id", sa.String(length=250), nullable=False),
        sa.Column("source_state", sa.String(length=20), nullable=False),
        sa.Column("source_version_id", sa.String(length=36), nullable=True),
        sa.Column("target_version_id", sa.String(length=36), nullable=True),
        sa.Column("reused_task_ids", sa.JSON(), nullable=False),
        sa.Column("created_by", sa.String(length=250), nullable=True),
        sa.Column("created_at", pinflow.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_pk"],
            ["dag_run.id"],
            name=op.f("fk_canary_run_run_pk_dag_run"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["source_run_pk"],
            ["dag_run.id"],
            name=op.f("fk_canary_run_source_run_pk_dag_run"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["source_version_id"],
            ["workflow_definition.id"],
            name=op.f("fk_canary_run_source_version_id_workflow_definition"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["target_version_id"],
            ["workflow_definition.id"],
            name=op.f("fk_canary_run_target_version_id_workflow_definition"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("run_pk", name=op.f("pk_canary_run")),
    )
    with op.batch_alter_table("canary_run", schema=None) as batch_op:
        batch_op.create_index("ix_canary_run_batch", ["batch_id"], unique=False)
        batch_op.create_index("ix_canary_run_source_run", ["source_run_pk"], unique=False)
        batch_op.create_index(
            "ix_canary_run_target", ["target_version_id", "created_at"], unique=False
        )
    with op.batch_alter_table("task_instance_try", schema=None) as batch_op:
        batch_op.create_index("ix_task_instance_try_version", ["version_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("task_instance_try", schema=None) as batch_op:
        batch_op.drop_index("ix_task_instance_try_version")
    op.drop_table("canary_run")
