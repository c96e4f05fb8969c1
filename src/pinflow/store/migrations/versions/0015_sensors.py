"""A sensor's wait on its task instance: ``first_poke_at``, ``sensor_pokes``, ``trigger``
(ADR 0036)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pinflow.store.tables

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("task_instance", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "first_poke_at", pinflow.store.tables.UTCDateTime(timezone=True), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column("sensor_pokes", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("trigger", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("task_instance", schema=None) as batch_op:
        batch_op.drop_column("trigger")
        batch_op.drop_column("sensor_pokes")
        batch_op.drop_column("first_poke_at")
