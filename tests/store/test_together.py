"""``Together``: writes made together, one statement on PostgreSQL (data-modifying ``WITH``
queries), one after the other on SQLite; each write's row count (ADR 0048)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, insert, select, update

from pinflow.store.db import Database
from pinflow.store.prepared import Prepared, Together

_META = MetaData()
_A = Table("together_a", _META, Column("id", Integer, primary_key=True), Column("v", String(20)))
_B = Table("together_b", _META, Column("id", Integer, primary_key=True), Column("n", Integer))
_B_DEFAULTED = Table(
    "together_c", _META, Column("id", Integer, primary_key=True), Column("n", Integer, default=7)
)

_SET_A = Prepared(update(_A).where(_A.c.id == bindparam("id")).values(v=bindparam("v")))
_ADD_B = Prepared(insert(_B).values(id=bindparam("b_id"), n=bindparam("n")))
WRITES = Together(_SET_A, _ADD_B)


@pytest.fixture
def tables(db: Database) -> Iterator[Database]:
    """Tables of the test's own, dropped after it (PostgreSQL's database outlives a test)."""
    _META.drop_all(db.engine)
    _META.create_all(db.engine)
    with db.engine.begin() as conn:
        conn.execute(insert(_A), [{"id": 1, "v": "old"}, {"id": 2, "v": "old"}])
    try:
        yield db
    finally:
        _META.drop_all(db.engine)


def test_each_writes_row_count_for_one_row(tables: Database) -> None:
    with tables.engine.begin() as conn:
        assert WRITES.execute(conn, [{"id": 1, "v": "new", "b_id": 10, "n": 1}]) == (1, 1)
        # A guarded write that matches nothing says so; the other write is still made.
        assert WRITES.execute(conn, [{"id": 99, "v": "new", "b_id": 11, "n": 2}]) == (0, 1)
    with tables.engine.connect() as conn:
        assert conn.execute(select(_A.c.v).order_by(_A.c.id)).scalars().all() == ["new", "old"]
        assert conn.execute(select(_B.c.id, _B.c.n).order_by(_B.c.id)).all() == [(10, 1), (11, 2)]


def test_several_rows_add_up(tables: Database) -> None:
    rows = [
        {"id": 1, "v": "x", "b_id": 20, "n": 1},
        {"id": 2, "v": "y", "b_id": 21, "n": 2},
        {"id": 3, "v": "z", "b_id": 22, "n": 3},  # no row 3 in A
    ]
    with tables.engine.begin() as conn:
        assert WRITES.execute(conn, rows) == (2, 3)
        assert WRITES.execute(conn, []) == (0, 0)
    with tables.engine.connect() as conn:
        assert conn.execute(select(_A.c.v).order_by(_A.c.id)).scalars().all() == ["x", "y"]
        assert conn.execute(select(_B.c.n).order_by(_B.c.id)).scalars().all() == [1, 2, 3]


def test_a_write_that_needs_a_python_default_is_refused_on_postgresql(tables: Database) -> None:
    defaulted = Together(_SET_A, Prepared(insert(_B_DEFAULTED).values(id=bindparam("c_id"))))
    with tables.engine.begin() as conn:
        if tables.dialect_ops.name == "postgresql":
            with pytest.raises(TypeError, match=r"give \['n'\]"):
                defaulted.execute(conn, [{"id": 1, "v": "new", "c_id": 1}])
        else:  # one statement after the other: SQLite computes the default as usual
            assert defaulted.execute(conn, [{"id": 1, "v": "new", "c_id": 1}]) == (1, 1)


def test_a_literal_in_a_write_is_kept(tables: Database) -> None:
    """Only column defaults are refused: a literal value in a write's ``WHERE`` is its own."""
    only_old = Prepared(update(_A).where(_A.c.v == "old").values(v=bindparam("v")))
    with tables.engine.begin() as conn:
        writes = Together(only_old, _ADD_B)
        assert writes.execute(conn, [{"v": "renamed", "b_id": 30, "n": 1}]) == (2, 1)
        assert writes.execute(conn, [{"v": "again", "b_id": 31, "n": 1}]) == (0, 1)
    with tables.engine.connect() as conn:
        values = conn.execute(select(_A.c.v).order_by(_A.c.id)).scalars().all()
        assert values == ["renamed", "renamed"]
