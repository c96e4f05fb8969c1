"""A partial index on ``task_instance(id) WHERE state = 'scheduled'``: the claim's page
(``services.engine._claims``) walks only the scheduled rows in claim order (ADR 0045)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 23:15:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_SCHEDULED = sa.text("state = 'scheduled'")


def upgrade() -> None:
    op.create_index(
        "ix_task_instance_scheduled",
        "task_instance",
        ["id"],
        postgresql_where=_SCHEDULED,
        sqlite_where=_SCHEDULED,
    )


def downgrade() -> None:
    op.drop_index("ix_task_instance_scheduled", table_name="task_instance")
