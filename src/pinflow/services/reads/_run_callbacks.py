"""A run's end callbacks (ADR 0044), as the API and the run's page show them: each with its
state and the tail of what it printed (kept with the row: the API need not run where the
scheduler that called it wrote its log)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from pinflow.services.reads._run_queries import run_row
from pinflow.store.db import Database
from pinflow.store.tables import RunCallback


@dataclass(frozen=True)
class RunCallbackView:
    id: int
    kind: str
    reason: str
    state: str
    attempts: int
    created_at: datetime
    end_date: datetime | None
    error: str | None
    output: str | None  # the tail of what it printed; ``None`` until it ended


def run_callbacks(db: Database, dag_id: str, run_id: str) -> list[RunCallbackView]:
    """The callbacks of the run, oldest first (a cleared run that ended again has more than
    one); ``NotFoundError`` when there is no such run."""
    with db.read() as s:
        run = run_row(s, dag_id, run_id)
        rows = s.scalars(
            select(RunCallback).where(RunCallback.run_pk == run.id).order_by(RunCallback.id)
        ).all()
        return [
            RunCallbackView(
                id=r.id,
                kind=r.kind,
                reason=r.reason,
                state=r.state,
                attempts=r.attempts,
                created_at=r.created_at,
                end_date=r.end_date,
                error=r.error,
                output=r.output,
            )
            for r in rows
        ]
