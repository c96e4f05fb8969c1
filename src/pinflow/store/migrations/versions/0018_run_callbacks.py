"""Run-end callbacks (DAG-level ``on_success_callback``/``on_failure_callback``, ADR 0044)

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pinflow.store.tables

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "run_callback",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_pk", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=250), nullable=True),
        sa.Column("claimed_at", pinflow.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", pinflow.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("end_date", pinflow.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("log_path", sa.Text(), nullable=True),
        sa.Column("output", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["run_pk"],
            ["dag_run.id"],
            name=op.f("fk_run_callback_run_pk_dag_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_callback")),
    )
    with op.batch_alter_table("run_callback", schema=None) as batch_op:
        batch_op.create_index("ix_run_callback_run", ["run_pk"], unique=False)
        batch_op.create_index("ix_run_callback_state", ["state", "claimed_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("run_callback", schema=None) as batch_op:
        batch_op.drop_index("ix_run_callback_state")
        batch_op.drop_index("ix_run_callback_run")
    op.drop_table("run_callback")
