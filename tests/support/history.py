"""A run history with known durations, written straight into the store (one transaction):
what the per-version statistics are computed from, without running anything."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from pinflow.services.reads import VersionView
from pinflow.store.db import Database
from pinflow.store.tables import DagRun, TaskInstance, TaskInstanceTry

T0 = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Try:
    state: str  # "success" or "failed"
    seconds: float


@dataclass(frozen=True)
class PastRun:
    state: str  # "success", "failed", "running", "queued"
    seconds: float | None  # None: not finished
    tries: dict[str, Sequence[Try]] = field(default_factory=dict)  # per task, in order


def seed(db: Database, version: VersionView, runs: Sequence[PastRun], *, hour: int = 0) -> None:
    """``runs`` of ``version``, an hour apart from ``T0 + hour`` hours."""
    with db.transaction() as s:
        for i, past in enumerate(runs):
            start = T0 + timedelta(hours=hour + i)
            end = None if past.seconds is None else start + timedelta(seconds=past.seconds)
            run = DagRun(
                dag_id=version.dag_id,
                run_id=f"seeded_{version.version}_{hour + i}",
                version_id=version.id,
                snapshot_digest=version.snapshot_digest,
                state=past.state,
                start_date=start,
                end_date=end,
            )
            s.add(run)
            s.flush()
            for task_id, tries in past.tries.items():
                ti = TaskInstance(
                    run_pk=run.id,
                    dag_id=version.dag_id,
                    task_id=task_id,
                    state=tries[-1].state,
                    try_number=len(tries),
                )
                s.add(ti)
                s.flush()
                at = start
                for number, t in enumerate(tries, start=1):
                    s.add(
                        TaskInstanceTry(
                            ti_id=ti.id,
                            try_number=number,
                            state=t.state,
                            snapshot_digest=version.snapshot_digest,
                            version_id=version.id,
                            start_date=at,
                            end_date=at + timedelta(seconds=t.seconds),
                        )
                    )
                    at += timedelta(seconds=t.seconds)
