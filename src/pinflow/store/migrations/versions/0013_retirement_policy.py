"""A DAG's retirement policy: keep N active, deprecate the previous on publish, purge drained

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from pinflow.store.tables.base import UTCDateTime

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "retirement_policy",
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("keep_active", sa.Integer(), nullable=True),
        sa.Column("deprecate_previous_on_publish", sa.Boolean(), nullable=False),
        sa.Column("purge_deprecated_after_seconds", sa.Integer(), nullable=True),
        sa.Column("in_force_since", UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(length=250), nullable=True),
        sa.ForeignKeyConstraint(
            ["dag_id"],
            ["dag.dag_id"],
            name=op.f("fk_retirement_policy_dag_id_dag"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("dag_id", name=op.f("pk_retirement_policy")),
    )


def downgrade() -> None:
    op.drop_table("retirement_policy")
