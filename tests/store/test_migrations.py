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


def test_0009_keeps_existing_resources_instance_wide(db: Database) -> None:
    """Pools, variables and import errors written before 0009 stay, instance-wide (no project),
    and an import error's filename is then unique per project, not across the instance."""
    migrate.downgrade(db, "0008")
    with db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO pool (name, slots, include_deferred, created_at, updated_at)"
                " VALUES ('old', 3, false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO variable (key, val, created_at, updated_at)"
                " VALUES ('old_key', 'ciphertext', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO import_error (filename, stack_trace, timestamp)"
                " VALUES ('dags/a.py', 'boom', CURRENT_TIMESTAMP)"
            )
        )
    migrate.upgrade(db)
    with db.engine.begin() as conn:
        assert conn.execute(text("SELECT name, slots, project_id FROM pool")).all() == [
            ("old", 3, None)
        ]
        assert conn.execute(text("SELECT key, project_id FROM variable")).all() == [
            ("old_key", None)
        ]
        conn.execute(
            text("INSERT INTO project (name, created_at) VALUES ('alpha', CURRENT_TIMESTAMP)")
        )
        pid = conn.execute(text("SELECT id FROM project WHERE name = 'alpha'")).scalar_one()
        conn.execute(
            text(
                "INSERT INTO import_error (project_id, filename, stack_trace, timestamp)"
                " VALUES (:pid, 'dags/a.py', 'boom', CURRENT_TIMESTAMP)"
            ),
            {"pid": pid},
        )
        rows = conn.execute(text("SELECT project_id FROM import_error ORDER BY id")).all()
    assert rows == [(None,), (pid,)]
