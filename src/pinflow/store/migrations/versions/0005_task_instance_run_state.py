"""Index task instances by (run, state): a report asks "is anything of this run unfinished?"

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 07:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_task_instance_run_state", "task_instance", ["run_pk", "state"])
    op.drop_index("ix_task_instance_run", table_name="task_instance")


def downgrade() -> None:
    op.create_index("ix_task_instance_run", "task_instance", ["run_pk"])
    op.drop_index("ix_task_instance_run_state", table_name="task_instance")
