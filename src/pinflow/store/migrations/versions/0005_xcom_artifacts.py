"""Large XComs in the artifact store: the artifact's sha256, and a stored list's length

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("xcom", schema=None) as batch_op:
        batch_op.add_column(sa.Column("artifact_sha256", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("value_length", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("xcom", schema=None) as batch_op:
        batch_op.drop_column("value_length")
        batch_op.drop_column("artifact_sha256")
