"""The planner's statistics of the tables the hot path reads, kept fresh (ADR 0046).

The claim's page joins the scheduled task instances to their runs. With statistics gathered
before a burst of runs arrived (or never: a new database, autovacuum off or behind), PostgreSQL
plans that join for a table of a few rows: a nested loop over every running run for each
scheduled task instance. Measured with 1,000 runs of a chain of 10: 62 ms a page instead of
0.1 ms, and the scheduler's whole throughput with it. Autovacuum analyses a table once it
changed past its threshold, but only at its next round (``autovacuum_naptime``, a minute by
default), and not at all where it is off.

So the scheduler checks, at its sweeps and every ``statistics_interval`` seconds, whether
``task_instance`` or ``dag_run`` changed past autovacuum's own threshold since they were last
analysed, and analyses those that did. The check is one read of ``pg_stat_user_tables``; an
``ANALYZE`` samples at most 30,000 rows of a table (``default_statistics_target``), so it costs
milliseconds to a fraction of a second, and it is made again only once the table changed by a
tenth since. On SQLite there is nothing to refresh (``DialectOps.refresh_statistics``).
"""

from __future__ import annotations

from typing import Final

from pinflow.store.db import Database
from pinflow.store.tables import DagRun, TaskInstance

HOT_TABLES: Final = (str(TaskInstance.__tablename__), str(DagRun.__tablename__))


def refresh_statistics(db: Database) -> list[str]:
    """Analyse those of ``HOT_TABLES`` whose statistics are stale; returns their names."""
    with db.transaction() as s:
        return db.dialect_ops.refresh_statistics(s.connection(), HOT_TABLES)
