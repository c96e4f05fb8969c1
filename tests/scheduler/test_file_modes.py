"""Everything the server writes under $PINFLOW_HOME is its user's only: files 0600, folders
0700, whatever the umask (issue #14, point 2; issue #19, point 4)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from pinflow.cli.standalone import PASSWORD_FILE, ensure_admin
from pinflow.runtime.private import open_private, private_dirs
from pinflow.services.commands._resources import KEY_FILE, load_or_create_key
from pinflow.settings import SECRET_FILE, load_or_create_secret
from pinflow.store.db import Database
from pinflow.store.migrate import upgrade


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def open_umask() -> Iterator[None]:
    """The most permissive umask: a mode that holds under it holds under any."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_the_home_and_its_secrets_are_private_when_pinflow_creates_them(tmp_path: Path) -> None:
    home = tmp_path / "new" / "home"
    load_or_create_secret(home)
    load_or_create_key(home)
    assert mode(tmp_path / "new") == 0o700
    assert mode(home) == 0o700
    assert mode(home / SECRET_FILE) == 0o600
    assert mode(home / KEY_FILE) == 0o600


def test_the_sqlite_database_and_its_folder_are_private(tmp_path: Path) -> None:
    path = tmp_path / "home" / "pinflow.db"
    db = Database(f"sqlite:///{path}")
    try:
        upgrade(db)
    finally:
        db.dispose()
    assert mode(path.parent) == 0o700
    assert mode(path) == 0o600


def test_the_standalone_admin_password_file_is_private(tmp_path: Path) -> None:
    home = private_dirs(tmp_path / "home")
    db = Database(f"sqlite:///{home / 'pinflow.db'}")
    try:
        upgrade(db)
        assert ensure_admin(db, home) is not None
    finally:
        db.dispose()
    assert mode(home / PASSWORD_FILE) == 0o600


def test_private_dirs_and_files_ignore_the_umask_and_leave_existing_folders(
    tmp_path: Path,
) -> None:
    existing = tmp_path / "operator"
    existing.mkdir(mode=0o755)
    nested = private_dirs(existing / "logs" / "dag" / "run")
    assert [mode(p) for p in (existing, existing / "logs", nested.parent, nested)] == [
        0o755,
        0o700,
        0o700,
        0o700,
    ]
    fd = open_private(nested / "attempt=1.log", os.O_WRONLY | os.O_APPEND)
    os.close(fd)
    assert mode(nested / "attempt=1.log") == 0o600
