"""PostgreSQL ``LISTEN`` for run wake-ups from other processes (``services.wakeups``).

A scheduler in its own process (``pinflow scheduler``) learns of a run the API queued the
moment the API commits it, instead of at its next poll. The listening connection is a plain
psycopg connection in autocommit mode, outside SQLAlchemy's pool (it stays idle in ``LISTEN``
for the scheduler's life); its socket joins the scheduler loop's ``select``.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.engine import make_url

from pinflow.extras import POSTGRES, require
from pinflow.services.engine import CHANNEL

log = logging.getLogger(__name__)


class RunListener:
    """A ``LISTEN`` on the run wake-up channel; ``fileno()`` is readable when one arrived."""

    def __init__(self, url: str) -> None:
        # Imported here, not at the top: the base install (SQLite) has no psycopg.
        self._psycopg: Any = require(POSTGRES)
        parsed = make_url(url).set(drivername="postgresql")
        self._conn = self._psycopg.connect(
            parsed.render_as_string(hide_password=False), autocommit=True
        )
        self._conn.execute(f"LISTEN {CHANNEL}")

    def fileno(self) -> int:
        fileno: int = self._conn.fileno()
        return fileno

    def drain(self) -> bool:
        """Consume what arrived (without waiting); whether anything did."""
        try:
            return any(True for _ in self._conn.notifies(timeout=0))
        except self._psycopg.Error as exc:  # a lost connection: the poll still finds new runs
            log.warning("run wake-ups from other processes are off: %s", exc)
            return False

    def close(self) -> None:
        self._conn.close()


def listen(url: str) -> RunListener | None:
    """A listener on ``url``'s database, or ``None`` when it cannot be had (then the
    scheduler polls, as on SQLite)."""
    psycopg: Any = require(POSTGRES)
    try:
        return RunListener(url)
    except psycopg.Error as exc:
        log.warning("run wake-ups from other processes are off: %s", exc)
        return None
