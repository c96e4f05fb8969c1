"""Shared fixtures: a migrated database per test, on SQLite and (when configured) PostgreSQL.

``PINFLOW_TEST_DATABASE_URL`` names a PostgreSQL database that the tests may wipe; when it is
set, every test that uses ``db`` runs once per backend. In CI it must be set: a missing
PostgreSQL fails the run instead of silently testing less.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from pinflow.store import migrate
from pinflow.store.db import Database
from pinflow.store.tables import Base

PG_URL = os.environ.get("PINFLOW_TEST_DATABASE_URL")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

if IN_CI and not PG_URL:
    raise pytest.UsageError(
        "CI=true but PINFLOW_TEST_DATABASE_URL is not set: the store tests must also run on "
        "PostgreSQL in CI (scripts/test.sh creates the database and sets it)."
    )

BACKENDS = ["sqlite", "postgresql"] if PG_URL else ["sqlite"]


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate once; each test copies the file (much faster than migrating per test)."""
    path = tmp_path_factory.mktemp("template") / "pinflow.db"
    db = Database(f"sqlite:///{path}")
    migrate.upgrade(db)
    db.dispose()
    return path


@pytest.fixture(scope="session")
def pg_migrated() -> str:
    assert PG_URL is not None
    db = Database(PG_URL)
    with db.engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    migrate.upgrade(db)
    db.dispose()
    return PG_URL


def _truncate_pg(db: Database) -> None:
    names = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
    with db.engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "pinflow.db"
        shutil.copyfile(template, path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("pg_migrated")
    cleaner = Database(url)
    _truncate_pg(cleaner)
    cleaner.dispose()
    return url


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def pg_db(request: pytest.FixtureRequest) -> Iterator[Database]:
    """A clean PostgreSQL database, for tests that only make sense there (row-lock races)."""
    if not PG_URL:
        pytest.skip("PostgreSQL not configured: set PINFLOW_TEST_DATABASE_URL to run this test")
    url: str = request.getfixturevalue("pg_migrated")
    database = Database(url)
    _truncate_pg(database)
    yield database
    database.dispose()
