"""A try's ``rendered_fields``: its templated fields as rendered when it ran (Airflow's RTIF)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("task_instance_try", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rendered_fields", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("task_instance_try", schema=None) as batch_op:
        batch_op.drop_column("rendered_fields")
