"""What differs between SQLite and PostgreSQL, in one place: one small class per database.

Pinflow runs on SQLite (standalone: one file, one writer at a time) and PostgreSQL
(production: many writers, row locks). Almost everything is the same SQL on both; the few
operations that are not live here, side by side, behind one protocol (``DialectOps``), so that
no service asks which database it runs on (ADR 0011):

- what a claim may take (``claim_view``): PostgreSQL locks the DAG rows, then the pools, then
  counts what is live; SQLite, whose writer holds the whole database, reads what waits and
  what is live without locks;
- insert-or-ignore (``insert_or_ignore``) and upsert (``upsert``) in each dialect's own
  ``ON CONFLICT``;
- waking schedulers in other processes (``notify``): ``pg_notify``; SQLite has no channel;
- what the scheduler may rely on: one writer (``one_writer``), ``LISTEN`` (``listens``), a
  connection held open to keep the WAL (``keeps_wal_connection``);
- the planner's statistics of the busiest tables, refreshed when they changed much
  (``refresh_statistics``, ADR 0046): PostgreSQL's ``ANALYZE``; SQLite keeps none to refresh;
- the arithmetic of statistics (ADR 0024): the seconds between two timestamps
  (``seconds_between``) and continuous percentiles of grouped samples (``percentiles``):
  PostgreSQL's ``percentile_cont``; on SQLite, which has none, the same definition from
  ``ROW_NUMBER()``/``COUNT()`` windows.

``Database`` picks the object once (``db.dialect_ops``); code that has only a session or a
connection asks ``dialect_ops(bind)``, a dictionary lookup by the dialect's name.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Float,
    Integer,
    Select,
    Subquery,
    Table,
    bindparam,
    case,
    distinct,
    extract,
    func,
    or_,
    select,
    text,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Insert

from pinflow.lifecycle.states import LIVE_TASK_STATES, TaskState
from pinflow.store.prepared import Prepared
from pinflow.store.tables import Dag, TaskInstance

LockPools = Callable[[Collection[str]], dict[str, int]]
# An upsert's updates: from the proposed row (``excluded``) to the columns' new values.
Updates = Callable[[Any], Mapping[str, Any]]


@dataclass(frozen=True)
class ClaimView:
    """What a claim may take, read under the locks that keep it true until it commits."""

    dag_ids: list[str]  # the DAGs with scheduled task instances, in name order
    pool_slots: dict[str, int]  # the pools those use: their slots (their rows locked)
    live_per_run: dict[int, int]  # queued and running task instances, per run
    used_slots: dict[str, int]  # the pool slots those hold, per pool


class DialectOps(Protocol):
    """The operations that differ between the databases Pinflow runs on."""

    @property
    def name(self) -> str:
        """SQLAlchemy's name of the dialect (``sqlite``, ``postgresql``)."""

    @property
    def one_writer(self) -> bool:
        """Writers queue for the whole database: no row locks, so no lock order to keep, and
        one transaction may span what would otherwise take several (ADR 0009)."""

    @property
    def listens(self) -> bool:
        """A ``NOTIFY`` reaches schedulers in other processes (they ``LISTEN``)."""

    @property
    def keeps_wal_connection(self) -> bool:
        """An idle connection held open keeps the write-ahead log between transactions."""

    def claim_view(self, conn: Connection, run_pk: int | None, lock_pools: LockPools) -> ClaimView:
        """What waits to be claimed (of ``run_pk`` only, when given), with the locks taken;
        ``lock_pools`` locks the named pools and returns their slots."""

    def insert_or_ignore(
        self, table: Table, values: Mapping[str, Any], key: Sequence[str]
    ) -> Insert:
        """``INSERT … ON CONFLICT (key) DO NOTHING``: concurrent writers of one row both
        succeed."""

    def upsert(
        self, table: Table, values: Mapping[str, Any], key: Sequence[str], update: Updates
    ) -> Insert:
        """``INSERT … ON CONFLICT (key) DO UPDATE``: ``update`` maps the columns to set on an
        existing row to their new values, built from the row proposed (``excluded``)."""

    def notify(self, session: Session, channel: str) -> None:
        """Tell listeners of ``channel`` in other processes, once ``session`` commits."""

    def refresh_statistics(self, conn: Connection, tables: Sequence[str]) -> list[str]:
        """Gather the planner's statistics of those of ``tables`` that changed by more than
        autovacuum's analyse threshold since they were last gathered; returns them. At most
        one caller at a time does it (the others return ``[]`` at once)."""

    def seconds_between(self, start: Any, end: Any) -> ColumnElement[float]:
        """``end - start`` in seconds (a float; NULL when either is NULL)."""

    def percentiles(
        self, samples: Subquery, keys: Sequence[str], value: str, fractions: Sequence[float]
    ) -> Select[Any]:
        """Per group of ``samples`` (its ``keys`` columns): the keys, then the continuous
        percentile of its ``value`` column at each of ``fractions`` (PostgreSQL's
        ``percentile_cont``: linear interpolation between the closest ranks)."""


# --- what a claim reads -------------------------------------------------------------------------

_TI = cast(Table, TaskInstance.__table__)
_SCHEDULED = TaskState.SCHEDULED.value
_LIVE_STATES = sorted(state.value for state in LIVE_TASK_STATES)

# What waits and the DAG rows' locks in one statement (one round trip): the DAGs with
# scheduled task instances, locked in name order, each with the pools those use (read in the
# statement's snapshot, as the separate read of what waits was before it).
_WAITING_POOLS = (
    select(func.array_agg(distinct(_TI.c.pool)))
    .where(_TI.c.dag_id == Dag.dag_id, _TI.c.state == _SCHEDULED)
    .correlate(Dag)
)
_WAITING_DAGS = select(_TI.c.dag_id).where(_TI.c.state == _SCHEDULED)


def _lock_waiting_dags(in_run: bool) -> Prepared:
    pools, dags = _WAITING_POOLS, _WAITING_DAGS
    if in_run:
        in_the_run = _TI.c.run_pk == bindparam("run_pk")
        pools, dags = pools.where(in_the_run), dags.where(in_the_run)
    return Prepared(
        select(Dag.dag_id, pools.scalar_subquery())
        .where(Dag.dag_id.in_(dags))
        .order_by(Dag.dag_id)
        .with_for_update(of=Dag)
    )


_LOCK_WAITING_DAGS = _lock_waiting_dags(in_run=False)
_LOCK_WAITING_DAGS_IN_RUN = _lock_waiting_dags(in_run=True)
_LIVE = (
    select(_TI.c.run_pk, _TI.c.pool, func.count(), func.sum(_TI.c.pool_slots))
    .where(_TI.c.state.in_(_LIVE_STATES))
    .group_by(_TI.c.run_pk, _TI.c.pool)
)
_LIVE_PREPARED = Prepared(_LIVE)
# What waits, as SQLite's claim reads it (the DAGs and the pools of scheduled task instances).
_WAITING_ROWS = select(_TI.c.dag_id, _TI.c.pool).where(_TI.c.state == _SCHEDULED).distinct()
_WAITING = Prepared(_WAITING_ROWS)
_WAITING_IN_RUN = Prepared(_WAITING_ROWS.where(_TI.c.run_pk == bindparam("run_pk")))


_NOTIFY = text("SELECT pg_notify(:channel, '')")
# The key of the advisory lock held while statistics are gathered: a constant of Pinflow's
# own (``b"pinflow!"`` read as a big-endian integer).
STATISTICS_LOCK_KEY: Final = 8100126790987511585
_STATISTICS_LOCK = text(f"SELECT pg_try_advisory_xact_lock({STATISTICS_LOCK_KEY})")
# The tables of ``names`` in this schema changed past autovacuum's analyse threshold (its
# defaults, 50 rows + 10% of the table) since their statistics were last gathered. A table
# never analysed has ``reltuples`` -1.
_STALE_TABLES = text(
    "SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid"
    " WHERE s.schemaname = current_schema() AND s.relname IN :names"
    " AND s.n_mod_since_analyze > 50 + 0.1 * greatest(c.reltuples, 0)"
    " ORDER BY s.relname"
).bindparams(bindparam("names", expanding=True))


def _live(conn: Connection) -> tuple[dict[int, int], dict[str, int]]:
    """The queued and running task instances per run, and the pool slots they hold per pool."""
    per_run: dict[int, int] = {}
    per_pool: dict[str, int] = {}
    for run_pk, pool, count, slots in _LIVE_PREPARED.execute(conn).fetchall():
        per_run[run_pk] = per_run.get(run_pk, 0) + int(count)
        per_pool[pool] = per_pool.get(pool, 0) + int(slots or 0)
    return per_run, per_pool


# --- the dialects -------------------------------------------------------------------------------


class SQLiteOps:
    """SQLite: one writer holds the whole database (``BEGIN IMMEDIATE``), so nothing is
    locked row by row and what a change reads cannot move under it."""

    name: Final = "sqlite"
    one_writer: Final = True
    listens: Final = False
    # With one connection per transaction, closing the last one checkpoints and deletes the
    # WAL: milliseconds on every transaction.
    keeps_wal_connection: Final = True

    def claim_view(self, conn: Connection, run_pk: int | None, lock_pools: LockPools) -> ClaimView:
        # The writer holds the database: what waits and what is live cannot change meanwhile.
        # What waits is read as the DAGs and pools it uses, not a row per run: with 1,000 runs
        # waiting, a row per run cost 1.2 ms a claim (ADR 0046).
        if run_pk is None:
            waiting = _WAITING.execute(conn).fetchall()
        else:
            waiting = _WAITING_IN_RUN.execute(conn, {"run_pk": run_pk}).fetchall()
        if not waiting:
            return ClaimView([], {}, {}, {})
        dag_ids = sorted({dag_id for dag_id, _ in waiting})
        pool_slots = lock_pools({pool for _, pool in waiting})
        return ClaimView(dag_ids, pool_slots, *_live(conn))

    def insert_or_ignore(
        self, table: Table, values: Mapping[str, Any], key: Sequence[str]
    ) -> Insert:
        return sqlite.insert(table).values(**values).on_conflict_do_nothing(index_elements=key)

    def upsert(
        self, table: Table, values: Mapping[str, Any], key: Sequence[str], update: Updates
    ) -> Insert:
        stmt = sqlite.insert(table).values(**values)
        return stmt.on_conflict_do_update(index_elements=key, set_=update(stmt.excluded))

    def notify(self, session: Session, channel: str) -> None:
        """No channel to other processes: their next poll finds the run."""

    def refresh_statistics(self, conn: Connection, tables: Sequence[str]) -> list[str]:
        # Without ``sqlite_stat1`` (nothing here runs ANALYZE) SQLite plans by its own rules,
        # which do not go stale as the tables grow.
        return []

    def seconds_between(self, start: Any, end: Any) -> ColumnElement[float]:
        return (func.julianday(end) - func.julianday(start)) * 86400.0

    def percentiles(
        self, samples: Subquery, keys: Sequence[str], value: str, fractions: Sequence[float]
    ) -> Select[Any]:
        # SQLite has no percentile_cont: rank each sample in its group, then weigh the two
        # ranks around (n - 1) * p (0-based) by their distance to it; the same definition.
        groups = [samples.c[k] for k in keys]
        v = samples.c[value]
        ranked = select(
            *groups,
            v.label("v"),
            (func.row_number().over(partition_by=groups, order_by=v) - 1).label("r"),
            func.count().over(partition_by=groups).label("n"),
        ).subquery("ranked")
        columns, needed = [], []
        for p in fractions:
            at = (ranked.c.n - 1) * p
            low = sql_cast(at, Integer)  # truncates: at >= 0
            weight = at - low
            needed += [ranked.c.r == low, ranked.c.r == low + 1]
            columns.append(
                func.sum(
                    case(
                        (ranked.c.r == low, ranked.c.v * (1 - weight)),
                        (ranked.c.r == low + 1, ranked.c.v * weight),
                        else_=0.0,
                    )
                )
            )
        keyed = [ranked.c[k] for k in keys]
        # Only the ranks around each fraction reach the aggregate (a few rows per group).
        return select(*keyed, *columns).where(or_(*needed)).group_by(*keyed)


class PostgresOps:
    """PostgreSQL: many writers; rows are locked (``SELECT … FOR UPDATE``) in ADR 0002's
    order, so that two changes never wait for each other's locks."""

    name: Final = "postgresql"
    one_writer: Final = False
    listens: Final = True
    keeps_wal_connection: Final = False

    def claim_view(self, conn: Connection, run_pk: int | None, lock_pools: LockPools) -> ClaimView:
        # The DAG rows first (max_active_tasks and max_active_tis_per_dag are counted against
        # them), then the pools; what is live is read under those locks, so no other claimer
        # can add to it now (the claim counts a limited task's instances later, still under
        # them). What waits is read by the statement that locks the DAGs (one round trip);
        # when nothing waits, nothing else is read.
        if run_pk is None:
            rows = _LOCK_WAITING_DAGS.execute(conn).fetchall()
        else:
            rows = _LOCK_WAITING_DAGS_IN_RUN.execute(conn, {"run_pk": run_pk}).fetchall()
        dag_ids = [dag_id for dag_id, _ in rows]
        if not dag_ids:
            return ClaimView([], {}, {}, {})
        pool_slots = lock_pools({pool for _, pools in rows for pool in pools or ()})
        return ClaimView(dag_ids, pool_slots, *_live(conn))

    def insert_or_ignore(
        self, table: Table, values: Mapping[str, Any], key: Sequence[str]
    ) -> Insert:
        return postgresql.insert(table).values(**values).on_conflict_do_nothing(index_elements=key)

    def upsert(
        self, table: Table, values: Mapping[str, Any], key: Sequence[str], update: Updates
    ) -> Insert:
        stmt = postgresql.insert(table).values(**values)
        return stmt.on_conflict_do_update(index_elements=key, set_=update(stmt.excluded))

    def notify(self, session: Session, channel: str) -> None:
        # Delivered on commit only, never after a rollback.
        session.execute(_NOTIFY, {"channel": channel})

    def refresh_statistics(self, conn: Connection, tables: Sequence[str]) -> list[str]:
        # A transaction-scoped advisory lock: one scheduler at a time, the others skip.
        if not conn.execute(_STATISTICS_LOCK).scalar():
            return []
        stale = [name for (name,) in conn.execute(_STALE_TABLES, {"names": list(tables)})]
        quote = conn.dialect.identifier_preparer.quote
        for name in stale:
            conn.execute(text(f"ANALYZE {quote(name)}"))
        return stale

    def seconds_between(self, start: Any, end: Any) -> ColumnElement[float]:
        return sql_cast(extract("epoch", end - start), Float)

    def percentiles(
        self, samples: Subquery, keys: Sequence[str], value: str, fractions: Sequence[float]
    ) -> Select[Any]:
        groups = [samples.c[k] for k in keys]
        v = samples.c[value]
        columns = [func.percentile_cont(p).within_group(v) for p in fractions]
        return select(*groups, *columns).group_by(*groups)


SQLITE: Final = SQLiteOps()
POSTGRES: Final = PostgresOps()
_BY_NAME: Final[dict[str, DialectOps]] = {SQLITE.name: SQLITE, POSTGRES.name: POSTGRES}


def dialect_ops(bind: Session | Connection | Engine | str) -> DialectOps:
    """The operations of the database behind ``bind`` (or of the dialect of that name)."""
    if isinstance(bind, Connection | Engine):  # the hot path passes its connection
        name = bind.dialect.name
    elif isinstance(bind, Session):
        name = bind.get_bind().dialect.name
    else:
        name = bind
    ops = _BY_NAME.get(name)
    if ops is None:
        raise ValueError(f"Pinflow runs on SQLite and PostgreSQL, not on {name!r}.")
    return ops


class PreparedInsertOrIgnore:
    """``DialectOps.insert_or_ignore`` of ``columns`` (all bound by name), built and compiled
    once per dialect: for the paths that run it per try, where compiling the statement costs
    more than running it."""

    def __init__(self, table: Table, columns: Sequence[str], key: Sequence[str]) -> None:
        self.table, self.columns, self.key = table, tuple(columns), list(key)
        self._by_dialect: dict[str, Prepared] = {}

    def execute(self, conn: Connection, params: Mapping[str, Any]) -> None:
        ops = dialect_ops(conn)
        prepared = self._by_dialect.get(ops.name)
        if prepared is None:
            values: dict[str, Any] = {c: bindparam(c) for c in self.columns}
            prepared = Prepared(ops.insert_or_ignore(self.table, values, self.key))
            self._by_dialect[ops.name] = prepared
        prepared.execute(conn, params)
