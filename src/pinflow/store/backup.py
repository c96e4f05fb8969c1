"""Back up and restore the metadata database (``pinflow db backup`` / ``pinflow db restore``).

SQLite is copied with its online backup API, page by page under SQLite's own locking: safe
while the server runs, and the copy is a consistent database (a plain file copy of a WAL
database is not). PostgreSQL is dumped by the tools made for it, ``pg_dump -Fc`` and
``pg_restore --clean``: they must be on ``PATH`` and of the server's major version or newer.
The password reaches them through ``PGPASSWORD``, never their command line (``ps`` shows it).

A restore puts back the schema of the backup. One made by a newer Pinflow (a revision this
code does not know) is refused; an older one is restored and then needs ``pinflow db migrate``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.engine import URL, make_url

from pinflow.errors import ConflictError, InvalidInputError, NotFoundError, PinflowError
from pinflow.store import migrate
from pinflow.store.db import Database

_COPY_LINE = re.compile(r"^COPY \S*alembic_version \(version_num\) FROM stdin;$")


class ToolMissingError(PinflowError):
    """``pg_dump`` or ``pg_restore`` is not on ``PATH``."""


@dataclass(frozen=True)
class BackupInfo:
    """What a backup holds: its file and the schema revision it was taken at."""

    path: Path
    revision: str | None


@dataclass(frozen=True)
class RestorePlan:
    """What a restore will do: ``needs_migrate`` when the backup's schema is older than head."""

    revision: str | None
    head: str | None

    @property
    def needs_migrate(self) -> bool:
        return self.revision != self.head


def backup(db: Database, target: Path) -> BackupInfo:
    """Write a consistent copy of ``db`` to ``target`` (created 0600: it holds every secret)."""
    if target.exists():
        raise ConflictError(f"{target} exists; give a new file name (a backup never overwrites).")
    if not target.parent.is_dir():
        raise NotFoundError(f"The directory {target.parent} does not exist; create it first.")
    os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        if db.is_sqlite:  # read from the copy: no write lock is ever asked of a live server
            _sqlite_copy(_sqlite_path(db), target)
            revision = _sqlite_revision(target)
        else:
            revision = migrate.current_revision(db)
            _run(["pg_dump", "--format=custom", "--no-owner", f"--file={target}"], db)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return BackupInfo(target, revision)


def plan_restore(db: Database, source: Path) -> RestorePlan:
    """Read the backup's schema revision and check this code can use it; nothing is changed."""
    if not source.is_file():
        raise NotFoundError(f"No backup file at {source}.")
    revision = _sqlite_revision(source) if db.is_sqlite else _dump_revision(db, source)
    head = migrate.head_revision()
    if revision is not None and not _known(revision):
        raise InvalidInputError(
            f"The backup is at schema revision {revision}, which this Pinflow does not know "
            f"(its newest is {head}): restore it with the Pinflow version that made it."
        )
    return RestorePlan(revision, head)


def is_empty(db: Database) -> bool:
    """No schema yet: a restore overwrites nothing."""
    return migrate.current_revision(db) is None


def restore(db: Database, source: Path) -> RestorePlan:
    """Replace ``db``'s content with the backup's. Stop the servers first: they would keep
    working on what they had read."""
    plan = plan_restore(db, source)
    db.dispose()  # no pooled connection keeps a lock or a view of the old content
    if db.is_sqlite:
        _sqlite_copy(source, _sqlite_path(db))
    else:
        _run(
            ["pg_restore", "--clean", "--if-exists", "--no-owner", "--single-transaction"],
            db,
            f"--dbname={make_url(db.url).database}",
            str(source),
        )
    return plan


# --- SQLite ------------------------------------------------------------------------------------


def _sqlite_path(db: Database) -> Path:
    name = make_url(db.url).database
    if not name or name == ":memory:" or name.startswith("file:"):
        raise InvalidInputError(
            "Only a SQLite database in a file (sqlite:///path) can be backed up."
        )
    return Path(name)


def _sqlite_copy(source: Path, target: Path) -> None:
    src = sqlite3.connect(source, timeout=30)
    try:
        dst = sqlite3.connect(target, timeout=30)
        try:
            src.backup(dst)
        finally:
            dst.close()
    except sqlite3.DatabaseError as exc:
        raise InvalidInputError(f"{source} is not a SQLite database ({exc}).") from None
    finally:
        src.close()


def _sqlite_revision(path: Path) -> str | None:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.DatabaseError as exc:
        if "no such table" in str(exc):
            return None
        raise InvalidInputError(f"{path} is not a SQLite backup of Pinflow ({exc}).") from None
    finally:
        conn.close()
    return None if row is None else str(row[0])


# --- PostgreSQL --------------------------------------------------------------------------------


def _dump_revision(db: Database, path: Path) -> str | None:
    """The ``alembic_version`` row of a ``pg_dump -Fc`` archive, read by ``pg_restore``."""
    sql = _run(
        ["pg_restore", "--data-only", "--table=alembic_version", "--file=-"],
        None,
        str(path),
        what="read the backup",
    )
    lines = sql.splitlines()
    for number, line in enumerate(lines):
        if _COPY_LINE.match(line) and number + 1 < len(lines) and lines[number + 1] != "\\.":
            return lines[number + 1].strip()
    return None


def _libpq_env(url: URL) -> dict[str, str]:
    """The connection as libpq variables, so that no password is on a command line."""
    env = dict(os.environ)
    for name, value in (
        ("PGHOST", url.host),
        ("PGPORT", url.port),
        ("PGUSER", url.username),
        ("PGPASSWORD", url.password),
        ("PGDATABASE", url.database),
    ):
        if value is not None:
            env[name] = str(value)
    return env


def _run(argv: list[str], db: Database | None, *args: str, what: str = "back up or restore") -> str:
    tool = argv[0]
    if shutil.which(tool) is None:
        raise ToolMissingError(
            f"{tool} is not on PATH: install the PostgreSQL client tools of your server's major "
            f"version or newer (Debian/Ubuntu: apt-get install postgresql-client), or run "
            f"{tool} yourself (see docs/operations.md)."
        )
    env = _libpq_env(make_url(db.url)) if db is not None else dict(os.environ)
    done = subprocess.run(  # noqa: S603 (fixed tool, arguments are ours)
        [*argv, *args], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        detail = done.stderr.strip() or f"exit code {done.returncode}"
        raise PinflowError(f"{tool} could not {what}: {detail}")
    return done.stdout


def _known(revision: str) -> bool:
    scripts = ScriptDirectory.from_config(migrate.alembic_config())
    with contextlib.suppress(CommandError):
        return scripts.get_revision(revision) is not None
    return False
