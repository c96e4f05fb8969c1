"""Assets: the assets, who mentions them, their events, the events queued for the DAGs
scheduled on them (Airflow's asset_dag_run_queue) and the events each run consumed (ADR 0037)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import pinflow.store.tables.base

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_STAMP = pinflow.store.tables.base.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "asset",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("uri", sa.String(length=1500), nullable=False),
        sa.Column("name", sa.String(length=1500), nullable=False),
        sa.Column("group", sa.String(length=1500), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("created_at", _STAMP(), nullable=False),
        sa.Column("updated_at", _STAMP(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asset")),
        sa.UniqueConstraint("uri", name=op.f("uq_asset_uri")),
    )
    op.create_table(
        "asset_reference",
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.Column("dag_id", sa.String(length=250), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("task_id", sa.String(length=250), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"],
            ["asset.id"],
            name=op.f("fk_asset_reference_asset_id_asset"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["dag_id"],
            ["dag.dag_id"],
            name=op.f("fk_asset_reference_dag_id_dag"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "asset_id", "dag_id", "kind", "task_id", name=op.f("pk_asset_reference")
        ),
    )
    op.create_index("ix_asset_reference_dag", "asset_reference", ["dag_id"], unique=False)
    op.create_table(
        "asset_event",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.Column("extra", sa.JSON(), nullable=False),
        sa.Column("source_dag_id", sa.String(length=250), nullable=True),
        sa.Column("source_run_id", sa.String(length=250), nullable=True),
        sa.Column("source_task_id", sa.String(length=250), nullable=True),
        sa.Column("source_map_index", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=250), nullable=True),
        sa.Column("timestamp", _STAMP(), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"],
            ["asset.id"],
            name=op.f("fk_asset_event_asset_id_asset"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asset_event")),
    )
    op.create_index("ix_asset_event_asset", "asset_event", ["asset_id", "timestamp"])
    op.create_table(
        "asset_dag_run_queue",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("asset_id", sa.Integer(), nullable=False),
        sa.Column("target_dag_id", sa.String(length=250), nullable=False),
        sa.Column("created_at", _STAMP(), nullable=False),
        sa.ForeignKeyConstraint(
            ["asset_id"],
            ["asset.id"],
            name=op.f("fk_asset_dag_run_queue_asset_id_asset"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["asset_event.id"],
            name=op.f("fk_asset_dag_run_queue_event_id_asset_event"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["target_dag_id"],
            ["dag.dag_id"],
            name=op.f("fk_asset_dag_run_queue_target_dag_id_dag"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_asset_dag_run_queue")),
        sa.UniqueConstraint(
            "event_id", "target_dag_id", name=op.f("uq_asset_dag_run_queue_event_id")
        ),
    )
    op.create_index(
        "ix_asset_dag_run_queue_target", "asset_dag_run_queue", ["target_dag_id"], unique=False
    )
    op.create_table(
        "asset_triggered_run",
        sa.Column("run_pk", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["asset_event.id"],
            name=op.f("fk_asset_triggered_run_event_id_asset_event"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["run_pk"],
            ["dag_run.id"],
            name=op.f("fk_asset_triggered_run_run_pk_dag_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_pk", "event_id", name=op.f("pk_asset_triggered_run")),
    )


def downgrade() -> None:
    op.drop_table("asset_triggered_run")
    op.drop_index("ix_asset_dag_run_queue_target", table_name="asset_dag_run_queue")
    op.drop_table("asset_dag_run_queue")
    op.drop_index("ix_asset_event_asset", table_name="asset_event")
    op.drop_table("asset_event")
    op.drop_index("ix_asset_reference_dag", table_name="asset_reference")
    op.drop_table("asset_reference")
    op.drop_table("asset")
