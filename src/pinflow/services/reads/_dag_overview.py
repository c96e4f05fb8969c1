"""The DAGs page's per-DAG health: each DAG's latest runs, newest first, in one query.

``ROW_NUMBER() OVER (PARTITION BY dag_id ORDER BY id DESC)`` keeps the query one round trip
for a page of DAGs whatever their number of runs (SQLite has window functions since 3.25).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from pinflow.store.db import Database
from pinflow.store.tables import DagRun

RECENT_RUNS = 14


@dataclass(frozen=True)
class RunStripItem:
    """One run as the health strip shows it."""

    run_id: str
    state: str
    run_after: datetime
    start_date: datetime | None
    end_date: datetime | None


def recent_runs(
    db: Database, dag_ids: Collection[str], *, per_dag: int = RECENT_RUNS
) -> dict[str, list[RunStripItem]]:
    """The latest ``per_dag`` runs of each DAG of ``dag_ids``, newest first (DAGs without runs
    are absent)."""
    if not dag_ids:
        return {}
    rank = func.row_number().over(partition_by=DagRun.dag_id, order_by=DagRun.id.desc())
    ranked = (
        select(
            DagRun.dag_id,
            DagRun.run_id,
            DagRun.state,
            DagRun.run_after,
            DagRun.start_date,
            DagRun.end_date,
            rank.label("rank"),
        )
        .where(DagRun.dag_id.in_(list(dag_ids)))
        .subquery()
    )
    stmt = (
        select(*[c for c in ranked.c if c.name != "rank"])
        .where(ranked.c.rank <= per_dag)
        .order_by(ranked.c.dag_id, ranked.c.rank)
    )
    out: dict[str, list[RunStripItem]] = {}
    with db.read() as s:
        for dag_id, *fields in s.execute(stmt):
            out.setdefault(dag_id, []).append(RunStripItem(*fields))
    return out
