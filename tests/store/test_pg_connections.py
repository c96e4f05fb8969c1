"""Pooled PostgreSQL connections: checked only after sitting idle (ADR 0025), and a dead one
is replaced without the caller seeing an error."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from pinflow.store import db as db_module
from pinflow.store.db import Database


def _backend_pid(database: Database) -> int:
    with database.transaction() as s:
        pid: int = s.execute(text("SELECT pg_backend_pid()")).scalar_one()
    return pid


def _terminate(database: Database, pid: int) -> None:
    other = Database(database.url)
    try:
        with other.engine.begin() as conn:
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        other.dispose()


def test_a_connection_killed_while_idle_is_replaced(
    pg_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(db_module, "_PING_AFTER_IDLE_S", 0.0)  # every checkout counts as idle
    pid = _backend_pid(pg_db)
    _terminate(pg_db, pid)
    # The pool pings the dead connection, drops it and hands out a fresh one.
    assert _backend_pid(pg_db) != pid


def test_a_connection_used_just_now_is_not_pinged(
    pg_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    pings: list[object] = []
    real_ping = pg_db.engine.dialect.do_ping
    monkeypatch.setattr(pg_db.engine.dialect, "do_ping", lambda c: pings.append(c) or real_ping(c))
    monkeypatch.setattr(db_module, "_PING_AFTER_IDLE_S", 3600.0)
    first = _backend_pid(pg_db)
    assert _backend_pid(pg_db) == first
    assert pings == []  # no round trip spent on a connection known to work
    monkeypatch.setattr(db_module, "_PING_AFTER_IDLE_S", 0.0)
    assert _backend_pid(pg_db) == first
    assert len(pings) == 1
