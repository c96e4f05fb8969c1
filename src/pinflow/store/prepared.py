"""Prepared statements: Core statements compiled once, run on the DBAPI cursor.

The scheduler runs a handful of statements for every task it moves (read the task instance,
guard its state change, plan its neighbourhood, claim and start the next one). For such a
statement SQLAlchemy's per-execution work (parameter processing, execution context, result
object) costs ten to twenty times the database's own work on SQLite (measured: 36 µs against
2 µs for a primary-key read), and that difference was most of the scheduler's cost per task.

A ``Prepared`` statement keeps what SQLAlchemy compiled, per dialect, and executes it on the
connection's DBAPI cursor, inside the caller's transaction: the SQL is SQLAlchemy's (the same
statement, the same dialect), the bind values go through each type's own bind processor (a
datetime, a JSON value), and result values through each column's result processor. Only what
this needs is supported, and anything else is refused when the statement is compiled, not
silently mis-run: named ``bindparam`` values, literals, and ``expanding`` (``IN``) binds.

The rest of Pinflow uses SQLAlchemy's execution as usual; this is for the hot path only (see
ADR 0004).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, cast

from sqlalchemy import Connection, func, literal_column, select
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import UpdateBase

Processor = Callable[[Any], Any]
_EXPANDING = re.compile(r"\(?__\[POSTCOMPILE_(\w+)\]\)?")


class Cursor(Protocol):
    """The part of a DBAPI cursor a prepared statement hands back."""

    rowcount: int

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


@dataclass(frozen=True)
class _Form:
    """A statement as one dialect runs it."""

    sql: str
    positional: bool
    names: tuple[str, ...]  # bind names in placeholder order (positional) or all of them
    defaults: Mapping[str, Any]  # values of the binds the caller does not give (literals)
    processors: Mapping[str, Processor]
    expanding: frozenset[str]
    results: tuple[Processor | None, ...]
    paramstyle: str
    computed: frozenset[str] = frozenset()  # columns whose default Python computes per run


class Prepared:
    """One Core statement, compiled once per dialect, executed on the DBAPI cursor."""

    def __init__(self, stmt: ClauseElement) -> None:
        self.stmt = stmt
        self._forms: dict[str, _Form] = {}

    def execute(self, conn: Connection, params: Mapping[str, Any] | None = None) -> Cursor:
        """Run the statement with ``params`` (by bind name) in ``conn``'s transaction."""
        form = self._form(conn.dialect)
        sql, args = _bind(form, params or {})
        cursor: Any = conn.connection.cursor()
        with _translated(conn, sql, args):
            cursor.execute(sql, args)
        return _Results(cursor, form.results) if form.results else cast(Cursor, cursor)

    def executemany(self, conn: Connection, rows: Iterable[Mapping[str, Any]]) -> int:
        """Run the statement once per row of ``rows`` (no ``IN`` lists); returns how many rows
        the statement changed in all."""
        form = self._form(conn.dialect)
        if form.expanding:
            raise TypeError("executemany() of a statement with an IN list")
        args = [_bind(form, row)[1] for row in rows]
        if not args:
            return 0
        cursor = conn.connection.cursor()
        with _translated(conn, form.sql, args):
            cursor.executemany(form.sql, args)
        return int(cursor.rowcount)

    def _executemany_rows(self, conn: Connection, rows: Iterable[Mapping[str, Any]]) -> list[Any]:
        """Run the statement once per row of ``rows`` (no ``IN`` lists); the first row each
        execution returned (psycopg's ``executemany(returning=True)``: ``Together`` only)."""
        form = self._form(conn.dialect)
        if form.expanding:
            raise TypeError("executemany() of a statement with an IN list")
        args = [_bind(form, row)[1] for row in rows]
        if not args:
            return []
        cursor: Any = conn.connection.cursor()  # psycopg's: it takes ``returning``
        found = []
        with _translated(conn, form.sql, args):
            cursor.executemany(form.sql, args, returning=True)
            while True:
                found.append(cursor.fetchone())
                if not cursor.nextset():
                    break
        return found

    def _form(self, dialect: Dialect) -> _Form:
        form = self._forms.get(dialect.name)
        if form is None:
            form = self._forms[dialect.name] = _compile(self.stmt, dialect)
        return form


class Together:
    """Writes that go together, each made once per row of parameters, and how many rows each
    changed (ADR 0048).

    On PostgreSQL they are one statement: each write a data-modifying ``WITH`` query
    (``… RETURNING 1``) and the statement's one row the count of each. One round trip, as
    psycopg's pipeline mode gave (ADR 0042), without its cost: on a local server a pipeline of
    two writes took twice the client CPU and 1.5x the wall time of sending them one after the
    other (its extra ``Sync``, flushes and polls). The writes run on one snapshot and none sees
    another's rows, so they must be independent, as writes to different tables are. Elsewhere
    (SQLite, in process: no round trip to save) they run one after the other.

    The rows give every write's parameters by name: a name two writes share is one value.
    Every value is given: a column default computed in Python (``default=``, ``onupdate=``)
    is refused, since the combined statement would not compute it.
    """

    def __init__(self, *writes: Prepared) -> None:
        self.writes = writes
        self._checked: set[str] = set()
        ctes = [
            cast(UpdateBase, write.stmt).returning(literal_column("1")).cte(f"w{i}")
            for i, write in enumerate(writes)
        ]
        counts = [select(func.count()).select_from(cte).scalar_subquery() for cte in ctes]
        self._combined = Prepared(select(*counts))

    def execute(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> tuple[int, ...]:
        """Every write for each of ``rows``, in ``conn``'s transaction; the rows each changed."""
        if not rows:
            return tuple(0 for _ in self.writes)
        if conn.dialect.name != "postgresql":
            return tuple(write.executemany(conn, rows) for write in self.writes)
        self._check(conn.dialect)
        if len(rows) == 1:
            found = self._combined.execute(conn, rows[0]).fetchone()
            assert found is not None  # a SELECT of aggregates returns one row
            return tuple(int(count) for count in found)
        per_row = self._combined._executemany_rows(conn, rows)
        return tuple(sum(int(row[i]) for row in per_row) for i in range(len(self.writes)))

    def _check(self, dialect: Dialect) -> None:
        if dialect.name in self._checked:
            return
        for write in self.writes:
            computed = sorted(write._form(dialect).computed)
            if computed:
                raise TypeError(f"Together: give {computed} (their defaults would not be set)")
        self._checked.add(dialect.name)


@contextmanager
def _translated(conn: Connection, sql: str, args: Any) -> Iterator[None]:
    """The driver's errors as SQLAlchemy's (``IntegrityError``...), as ``execute`` raises."""
    dbapi_error = conn.dialect.loaded_dbapi.Error
    try:
        yield
    except dbapi_error as exc:
        raise DBAPIError.instance(sql, args, exc, dbapi_error) from exc


def _compile(stmt: ClauseElement, dialect: Dialect) -> _Form:
    # ``for_executemany``: no implicit RETURNING of a new row's key (nothing reads it).
    compiled = stmt.compile(dialect=dialect, for_executemany=True)
    assert isinstance(compiled, SQLCompiler)
    # Bind parameters by the name the SQL gives them (a literal's is made up: ``state_1``).
    binds = {name: bind for bind, name in compiled.bind_names.items()}
    names = tuple(compiled.positiontup or ()) if compiled.positional else tuple(binds)
    defaults = {name: bind.effective_value for name, bind in binds.items() if not bind.required}
    processors: dict[str, Processor] = {}
    for name, bind in binds.items():
        processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if processor is not None:
            processors[name] = processor
    expanding = frozenset(name for name, bind in binds.items() if bind.expanding)
    # Columns whose value SQLAlchemy computes in Python per execution (``onupdate=utcnow``):
    # computed here the same way, at bind time.
    for column in (*compiled.insert_prefetch, *compiled.update_prefetch):
        default = column.onupdate if column in compiled.update_prefetch else column.default
        if default is None or not (default.is_scalar or default.is_callable):
            raise TypeError(f"column {column.key!r}: only scalar or callable defaults")
        value = default.arg  # type: ignore[attr-defined]
        defaults[column.key] = _Computed(value) if default.is_callable else value
        if column.key not in processors:
            processor = column.type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                processors[column.key] = processor
        if not compiled.positional and column.key not in names:
            names = (*names, column.key)
    results: list[Processor | None] = []
    for column in getattr(stmt, "selected_columns", ()):
        results.append(column.type.dialect_impl(dialect).result_processor(dialect, None))
    if compiled.positional and dialect.paramstyle != "qmark":
        raise TypeError(f"paramstyle {dialect.paramstyle!r} is not supported")
    if not compiled.positional and dialect.paramstyle != "pyformat":
        raise TypeError(f"paramstyle {dialect.paramstyle!r} is not supported")
    return _Form(
        sql=compiled.string,
        positional=compiled.positional,
        names=names,
        defaults=defaults,
        processors=processors,
        expanding=expanding,
        results=tuple(results) if any(results) else (),
        paramstyle=dialect.paramstyle,
        computed=frozenset(
            column.key for column in (*compiled.insert_prefetch, *compiled.update_prefetch)
        ),
    )


@dataclass(frozen=True)
class _Computed:
    """A column default computed at each execution (SQLAlchemy passes it the context)."""

    fn: Callable[[Any], Any]


def _value(form: _Form, name: str, params: Mapping[str, Any]) -> Any:
    if name in params:
        return params[name]
    value = form.defaults[name]
    return value.fn(None) if isinstance(value, _Computed) else value


def _bind(form: _Form, params: Mapping[str, Any]) -> tuple[str, Any]:
    """The SQL (``IN`` lists written out) and its arguments, processed."""
    sql = form.sql
    if form.expanding:
        sql = _EXPANDING.sub(lambda m: _placeholders(form, m.group(1), params), sql)
    if form.positional:
        args: list[Any] = []
        for name in form.names:
            value = _value(form, name, params)
            processor = form.processors.get(name)
            if name in form.expanding:
                args.extend(processor(v) if processor else v for v in value)
            else:
                args.append(processor(value) if processor else value)
        return sql, args
    named: dict[str, Any] = {}
    for name in form.names:
        value = _value(form, name, params)
        processor = form.processors.get(name)
        if name in form.expanding:
            for i, item in enumerate(value):
                named[f"{name}_{i}"] = processor(item) if processor else item
        else:
            named[name] = processor(value) if processor else value
    return sql, named


def _placeholders(form: _Form, name: str, params: Mapping[str, Any]) -> str:
    count = len(_value(form, name, params))
    if count == 0:  # an empty IN list matches nothing, as SQLAlchemy renders it
        return "(SELECT NULL WHERE 1 != 1)"
    if form.positional:
        return "(" + ", ".join("?" * count) + ")"
    return "(" + ", ".join(f"%({name}_{i})s" for i in range(count)) + ")"


class _Results:
    """A cursor whose rows go through the selected columns' result processors."""

    def __init__(self, cursor: Any, processors: tuple[Processor | None, ...]) -> None:
        self._cursor = cursor
        self._processors = [(i, p) for i, p in enumerate(processors) if p is not None]
        self.rowcount: int = cursor.rowcount

    def _row(self, row: Sequence[Any]) -> tuple[Any, ...]:
        values = list(row)
        for i, processor in self._processors:
            values[i] = processor(values[i])
        return tuple(values)

    def fetchone(self) -> tuple[Any, ...] | None:
        row = self._cursor.fetchone()
        return None if row is None else self._row(row)

    def fetchall(self) -> list[tuple[Any, ...]]:
        return [self._row(row) for row in self._cursor.fetchall()]
