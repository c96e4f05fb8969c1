"""Import errors reported by ``pinflow dev`` (Airflow's importErrors)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pinflow.store.tables

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "import_error",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("filename", sa.String(length=1024), nullable=False),
        sa.Column("bundle_name", sa.String(length=1024), nullable=True),
        sa.Column("stack_trace", sa.Text(), nullable=False),
        sa.Column("timestamp", pinflow.store.tables.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reported_by", sa.String(length=250), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_error")),
        sa.UniqueConstraint("filename", name=op.f("uq_import_error_filename")),
    )


def downgrade() -> None:
    op.drop_table("import_error")
