"""Engine and transaction handling for SQLite and PostgreSQL.

Every state change runs in exactly one transaction opened by ``Database.transaction()``.
On SQLite a write transaction starts with ``BEGIN IMMEDIATE`` so that two writers queue on the
database lock instead of failing half-way with "database is locked" on lock upgrade; WAL mode
lets readers proceed meanwhile. On PostgreSQL rows are locked with ``SELECT … FOR UPDATE``.
What else differs between the two is ``pinflow.store.dialect``'s, picked here once
(``Database.dialect_ops``).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from pinflow.extras import POSTGRES, require
from pinflow.runtime.private import private_dirs
from pinflow.store.dialect import DialectOps, dialect_ops

_READONLY = "pinflow_readonly"
# A pooled PostgreSQL connection idle longer than this is pinged before it is handed out.
_PING_AFTER_IDLE_S = 1.0


def normalize_url(url: str) -> str:
    """Accept the URLs people paste (``postgresql://``) and use the psycopg 3 driver."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def _private_file(path: Path) -> None:
    """Create the SQLite file readable by its owner only (0600) before SQLite does (with the
    umask's 0644): it holds every secret the database does. SQLite gives its WAL and shared
    memory files the same mode. An existing file is left as it is."""
    private_dirs(path.parent)
    with contextlib.suppress(FileExistsError, FileNotFoundError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event decide how transactions start (see module doc).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        readonly = conn.get_execution_options().get(_READONLY, False)
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")


def _ping_when_idle(engine: Engine) -> None:
    """Check a pooled connection before use only when it sat idle in the pool, not on every
    checkout as ``pool_pre_ping`` does: that ping is a round trip per transaction, a tenth of
    the scheduler's statements on PostgreSQL (ADR 0026). A connection checked in less than
    ``_PING_AFTER_IDLE_S`` ago was working then; one that broke since fails its transaction,
    as it would between a ping and the first statement anyway. A failed ping raises
    ``DisconnectionError``: the pool drops the connection and hands out a fresh one."""

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["pinflow_checked_in"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("pinflow_checked_in")
        if since is None or time.monotonic() - since < _PING_AFTER_IDLE_S:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError(str(exc)) from exc


class Database:
    """Owns the engine and hands out sessions, one transaction each."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = normalize_url(url)
        parsed = make_url(self.url)
        self.is_sqlite = parsed.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"echo": echo, "future": True}
        if self.is_sqlite:
            # Pooled connections: reconnecting per transaction costs ~0.4 ms and closing the
            # last connection checkpoints the WAL. Each connection is used by one thread at a
            # time (the pool guarantees it), so sharing across threads is safe.
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 30}
            if parsed.database in (None, "", ":memory:"):
                kwargs["poolclass"] = NullPool
            elif not parsed.database.startswith("file:"):
                _private_file(Path(parsed.database))
        elif parsed.get_driver_name() == "psycopg":
            require(POSTGRES)  # one clear line, not SQLAlchemy's traceback from its dialect
        self.engine: Engine = create_engine(self.url, **kwargs)
        self.dialect_ops: DialectOps = dialect_ops(self.engine)
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        else:
            _ping_when_idle(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(
            self.engine.execution_options(**{_READONLY: True}), expire_on_commit=False
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write transaction: commits on success, rolls back on any exception."""
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only unit of work (no write lock on SQLite)."""
        with self._read_sessions() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
