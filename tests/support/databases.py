"""Resetting a test database: shared by the fixtures and by tests that need several fresh
worlds in one test (the authorization matrices)."""

from __future__ import annotations

from sqlalchemy import text

from pinflow.store.db import Database
from pinflow.store.tables import Base

# Children before parents, so that no row is deleted before the rows that refer to it.
_CHILDREN_FIRST = [table.name for table in reversed(Base.metadata.sorted_tables)]
_EMPTY_PG = "; ".join(f'DELETE FROM "{name}"' for name in _CHILDREN_FIRST)
_RESTART_SEQUENCES = (
    "SELECT setval(c.oid::regclass, 1, false) FROM pg_class c "
    "WHERE c.relkind = 'S' AND c.relnamespace = 'public'::regnamespace"
)


def truncate_pg(db: Database) -> None:
    """Every table emptied and every sequence restarted at 1, as ``TRUNCATE … RESTART
    IDENTITY`` would, but with ``DELETE``: on the tests' few rows it takes ~3 ms where
    ``TRUNCATE`` of 30 tables takes ~70 ms, and a thousand tests run on PostgreSQL."""
    with db.engine.begin() as conn:
        conn.execute(text(_EMPTY_PG))
        conn.execute(text(_RESTART_SEQUENCES))
