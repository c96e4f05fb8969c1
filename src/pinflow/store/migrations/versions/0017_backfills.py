"""Backfills (Airflow 3's ``backfill`` table) and ``dag_run.backfill_id`` (ADR 0040)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pinflow.store.tables

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "backfill",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("version_id", sa.String(length=36), nullable=True),
        sa.Column("from_date", pinflow.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("to_date", pinflow.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("run_backwards", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("dag_run_conf", sa.JSON(), nullable=False),
        sa.Column("reprocess_behavior", sa.String(length=20), nullable=False),
        sa.Column("max_active_runs", sa.Integer(), nullable=False),
        sa.Column("is_paused", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_by", sa.String(length=250), nullable=True),
        sa.Column("created_at", pinflow.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", pinflow.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", pinflow.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["dag_id"], ["dag.dag_id"], name=op.f("fk_backfill_dag_id_dag"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["workflow_definition.id"],
            name=op.f("fk_backfill_version_id_workflow_definition"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_backfill")),
    )
    with op.batch_alter_table("backfill", schema=None) as batch_op:
        batch_op.create_index("ix_backfill_dag", ["dag_id", "id"], unique=False)
    with op.batch_alter_table("dag_run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("backfill_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_dag_run_backfill_id_backfill"),
            "backfill",
            ["backfill_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_index("ix_dag_run_backfill", ["backfill_id", "state"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("dag_run", schema=None) as batch_op:
        batch_op.drop_index("ix_dag_run_backfill")
        batch_op.drop_constraint(batch_op.f("fk_dag_run_backfill_id_backfill"), type_="foreignkey")
        batch_op.drop_column("backfill_id")
    with op.batch_alter_table("backfill", schema=None) as batch_op:
        batch_op.drop_index("ix_backfill_dag")
    op.drop_table("backfill")
