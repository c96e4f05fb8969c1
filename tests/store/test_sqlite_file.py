"""The SQLite file holds every secret the database does: it is created readable by its owner
only, and SQLite gives its WAL and shared-memory files the same mode."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from pinflow.store import migrate
from pinflow.store.db import Database

pytestmark = pytest.mark.sqlite_enough


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_sqlite_database_and_its_wal_are_0600(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask, which would give 0644
    try:
        db = Database(f"sqlite:///{tmp_path / 'pinflow.db'}")
        migrate.upgrade(db)
        with db.transaction() as s:
            s.connection().exec_driver_sql("SELECT 1")
        files = sorted(p.name for p in tmp_path.iterdir())
        modes = {p.name: _mode(p) for p in tmp_path.iterdir()}
        db.dispose()
    finally:
        os.umask(old)
    assert files == ["pinflow.db", "pinflow.db-shm", "pinflow.db-wal"]  # WAL: a connection is open
    assert set(modes.values()) == {0o600}, modes


def test_an_existing_database_file_is_left_as_it_is(tmp_path: Path) -> None:
    path = tmp_path / "kept.db"
    path.touch(mode=0o640)
    os.chmod(path, 0o640)
    Database(f"sqlite:///{path}").dispose()
    assert _mode(path) == 0o640
