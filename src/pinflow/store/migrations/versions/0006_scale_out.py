"""Scale-out: a task instance's queue and claiming scheduler; the fleet's components

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 22:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pinflow.store.tables

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("task_instance", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("queue", sa.String(length=250), nullable=False, server_default="default")
        )
        batch_op.add_column(sa.Column("queued_by", sa.String(length=250), nullable=True))
    op.create_table(
        "component",
        sa.Column("id", sa.String(length=250), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("hostname", sa.String(length=250), nullable=True),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("queues", sa.JSON(), nullable=False),
        sa.Column("info", sa.JSON(), nullable=False),
        sa.Column("started_at", pinflow.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", pinflow.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", pinflow.store.tables.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_component")),
    )
    op.create_index(
        "ix_component_kind_heartbeat", "component", ["kind", "heartbeat_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_component_kind_heartbeat", table_name="component")
    op.drop_table("component")
    with op.batch_alter_table("task_instance", schema=None) as batch_op:
        batch_op.drop_column("queued_by")
        batch_op.drop_column("queue")
