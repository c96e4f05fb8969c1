"""The claim's page reads the scheduled task instances through the partial index
``ix_task_instance_scheduled`` (ADR 0045), and keeps the state a SQL literal so a generic
prepared plan can use it too."""

from __future__ import annotations

from sqlalchemy import inspect, text
from sqlalchemy.dialects import postgresql

from pinflow.services.engine import _claims
from pinflow.store.db import Database


def test_the_claims_page_names_the_scheduled_state_as_a_literal() -> None:
    sql = str(_claims._PAGE.compile(dialect=postgresql.dialect()))
    assert "task_instance.state = 'scheduled'" in sql


def test_the_migrations_create_the_partial_index_on_scheduled_rows(db: Database) -> None:
    indexes = {i["name"]: i for i in inspect(db.engine).get_indexes("task_instance")}
    index = indexes["ix_task_instance_scheduled"]
    assert index["column_names"] == ["id"]
    with db.engine.connect() as conn:
        if db.engine.dialect.name == "sqlite":
            ddl = conn.execute(
                text("SELECT sql FROM sqlite_master WHERE name = 'ix_task_instance_scheduled'")
            ).scalar_one()
        else:
            ddl = conn.execute(
                text(
                    "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_task_instance_scheduled'"
                )
            ).scalar_one()
    assert "scheduled" in ddl
    assert "WHERE" in ddl.upper()


def test_postgresqls_generic_plan_of_the_page_walks_the_partial_index(pg_db: Database) -> None:
    """The page as the scheduler sends it (parameters for the DAGs, pools and size), planned
    generically as a prepared statement is after five executions."""
    sql = str(_claims._PAGE.compile(dialect=postgresql.dialect()))
    for n, name in enumerate(
        ("__[POSTCOMPILE_dag_ids]", "__[POSTCOMPILE_pools]", "%(state_1)s", "%(size)s"), start=1
    ):
        assert name in sql, sql
        sql = sql.replace(name, f"${n}")
    with pg_db.engine.connect() as conn:
        conn.execute(text("SET plan_cache_mode = force_generic_plan"))
        conn.execute(text("SET enable_seqscan = off"))  # an empty table: make the index count
        conn.exec_driver_sql(f"PREPARE claim_page (text, text, text, int) AS {sql}")
        plan = "\n".join(
            row[0]
            for row in conn.exec_driver_sql(
                "EXPLAIN EXECUTE claim_page ('any_dag', 'default_pool', 'running', 2)"
            )
        )
    assert "ix_task_instance_scheduled" in plan, plan
