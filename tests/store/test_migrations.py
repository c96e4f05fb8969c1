"""The one Alembic tree produces exactly the schema the models describe, on every backend."""

from __future__ import annotations

from datetime import UTC, datetime

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from pinflow.store import migrate
from pinflow.store.db import Database
from pinflow.store.tables import Base


def test_migrated_schema_equals_models(db: Database) -> None:
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, Base.metadata)
    assert diff == [], f"migrations and models disagree: {diff}"


def test_at_head_and_upgrade_is_idempotent(db: Database) -> None:
    assert migrate.current_revision(db) == migrate.head_revision()
    migrate.upgrade(db)
    assert migrate.current_revision(db) == migrate.head_revision()


def test_downgrade_to_base_and_back(db: Database) -> None:
    migrate.downgrade(db, "base")
    tables = set(inspect(db.engine).get_table_names()) - {"alembic_version"}
    assert tables == set()
    migrate.upgrade(db)
    assert set(Base.metadata.tables) <= set(inspect(db.engine).get_table_names())


def test_source_workflow_fk_sets_null_on_delete(db: Database) -> None:
    """Seed 001: fk_wf_source ... ON DELETE SET NULL, checked on the real schema."""
    fks = inspect(db.engine).get_foreign_keys("workflow_definition")
    source = [fk for fk in fks if fk["constrained_columns"] == ["source_workflow_id"]]
    assert len(source) == 1
    assert source[0]["referred_table"] == "workflow_definition"
    assert (source[0].get("options") or {}).get("ondelete", "").upper() == "SET NULL"


def test_user_uids_are_backfilled_distinct(db: Database) -> None:
    """Migration 0011 gives every existing user an immutable id of their own."""
    migrate.downgrade(db, "0011-1")
    insert = text(
        'INSERT INTO "user" (username, password_hash, is_superuser, is_active, created_at, '
        "token_generation) VALUES (:name, '!', false, true, :at, 0)"
    )
    with db.engine.begin() as conn:
        for name in ("ada", "bob"):
            conn.execute(insert, {"name": name, "at": datetime.now(UTC)})
    migrate.upgrade(db)
    with db.engine.connect() as conn:
        uids = [row[0] for row in conn.execute(text('SELECT uid FROM "user"'))]
    assert len(uids) == 2
    assert len(set(uids)) == 2
    assert all(len(uid) == 36 for uid in uids)
