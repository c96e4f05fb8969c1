"""Per-project pools, variables, connections and import errors (NULL: instance-wide)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from alembic.operations import BatchOperations

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_RESOURCES = ("pool", "variable", "connection")


def _add_project(batch_op: BatchOperations, table: str) -> None:
    batch_op.add_column(sa.Column("project_id", sa.Integer(), nullable=True))
    batch_op.create_foreign_key(
        op.f(f"fk_{table}_project_id_project"), "project", ["project_id"], ["id"]
    )
    batch_op.create_index(op.f(f"ix_{table}_project_id"), ["project_id"], unique=False)


def upgrade() -> None:
    for table in _RESOURCES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            _add_project(batch_op, table)
    with op.batch_alter_table("import_error", schema=None) as batch_op:
        _add_project(batch_op, "import_error")
        batch_op.drop_constraint(op.f("uq_import_error_filename"), type_="unique")
        batch_op.create_unique_constraint(
            op.f("uq_import_error_project_id"), ["project_id", "filename"]
        )


def downgrade() -> None:
    with op.batch_alter_table("import_error", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("uq_import_error_project_id"), type_="unique")
        batch_op.create_unique_constraint(op.f("uq_import_error_filename"), ["filename"])
    for table in ("import_error", *_RESOURCES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(op.f(f"ix_{table}_project_id"))
            batch_op.drop_constraint(op.f(f"fk_{table}_project_id_project"), type_="foreignkey")
            batch_op.drop_column("project_id")
