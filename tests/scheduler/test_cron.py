"""Cron schedules: due data intervals (pure), and the scheduled runs they create."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from pinflow.scheduler.cron import DataInterval, create_due_runs, due_intervals, next_due
from pinflow.services.commands._dags import set_paused
from pinflow.services.commands._push import PushMode, register_snapshot
from pinflow.services.commands._versions import deprecate
from pinflow.spec.models import TriggerSpec
from pinflow.store.db import Database
from pinflow.store.tables import DagRun
from pinflow.testing import make_spec

NOW = datetime(2026, 1, 10, 5, 30, tzinfo=UTC)


def day(d: int, hour: int = 0) -> datetime:
    return datetime(2026, 1, d, hour, tzinfo=UTC)


def trigger(**fields: Any) -> TriggerSpec:
    return TriggerSpec.model_validate({"schedule": "@daily", **fields})


def test_without_catchup_only_the_latest_complete_interval_runs() -> None:
    t = trigger(start_date=datetime(2025, 1, 1))
    assert due_intervals(t, now=NOW, after=None, has_runs=False) == [DataInterval(day(9), day(10))]
    # Already run: nothing until the next interval is over.
    assert due_intervals(t, now=NOW, after=day(10), has_runs=True) == []
    later = NOW + timedelta(days=1)
    assert due_intervals(t, now=later, after=day(10), has_runs=True) == [
        DataInterval(day(10), day(11))
    ]


def test_catchup_runs_every_missed_interval_up_to_the_cap() -> None:
    t = trigger(start_date=datetime(2026, 1, 1), catchup=True)
    intervals = due_intervals(t, now=NOW, after=None, has_runs=False)
    assert [i.start for i in intervals] == [day(d) for d in range(1, 10)]
    capped = trigger(start_date=datetime(2026, 1, 1), catchup=True, max_catchup_runs=3)
    assert [i.start for i in due_intervals(capped, now=NOW, after=None, has_runs=False)] == [
        day(7),
        day(8),
        day(9),
    ]
    resumed = due_intervals(t, now=NOW, after=day(8), has_runs=True)
    assert [i.start for i in resumed] == [day(8), day(9)]


def test_timezone_start_and_end_dates() -> None:
    paris = trigger(schedule="0 2 * * *", timezone="Europe/Paris")
    (interval,) = due_intervals(paris, now=NOW, after=None, has_runs=False)
    assert interval == DataInterval(day(9, 1), day(10, 1))  # 02:00 in Paris is 01:00 UTC
    assert due_intervals(trigger(start_date=day(10)), now=NOW, after=None, has_runs=False) == []
    ended = trigger(start_date=day(1), end_date=day(5), catchup=True)
    assert [i.start for i in due_intervals(ended, now=NOW, after=None, has_runs=False)] == [
        day(d) for d in range(1, 6)
    ]
    assert next_due(ended, now=NOW) is None
    assert next_due(trigger(), now=NOW) == day(11)


@pytest.mark.parametrize(
    ("fields", "has_runs", "expected"),
    [
        ({}, False, [DataInterval(NOW, NOW)]),
        ({}, True, []),
        ({"start_date": day(11)}, False, []),
        ({"start_date": day(2)}, False, [DataInterval(day(2), day(2))]),
    ],
)
def test_once(fields: dict[str, Any], has_runs: bool, expected: list[DataInterval]) -> None:
    t = trigger(schedule="@once", **fields)
    assert due_intervals(t, now=NOW, after=None, has_runs=has_runs) == expected
    assert next_due(t, now=NOW) is None


def test_no_schedule_no_runs() -> None:
    assert due_intervals(TriggerSpec(), now=NOW, after=None, has_runs=False) == []


def _scheduled_runs(db: Database, dag_id: str) -> list[DagRun]:
    with db.read() as s:
        return list(
            s.scalars(
                select(DagRun)
                .where(DagRun.dag_id == dag_id, DagRun.run_type == "scheduled")
                .order_by(DagRun.logical_date)
            )
        )


def test_due_runs_are_created_once_on_the_current_active_version(db: Database) -> None:
    spec = make_spec(
        "nightly",
        {"a": []},
        trigger={"schedule": "@daily", "start_date": "2026-01-07T00:00:00", "catchup": True},
    )
    pushed = register_snapshot(db, spec, actor="tester")
    assert create_due_runs(db, now=NOW) == 3
    assert create_due_runs(db, now=NOW) == 0  # idempotent
    runs = _scheduled_runs(db, "nightly")
    assert [(r.run_id, r.state) for r in runs] == [
        (f"scheduled__{day(d).isoformat()}", "queued") for d in (7, 8, 9)
    ]
    assert (runs[0].data_interval_start, runs[0].data_interval_end) == (day(7), day(8))
    assert runs[0].version_id == pushed.version.id

    set_paused(db, "nightly", True, actor="tester")
    assert create_due_runs(db, now=NOW + timedelta(days=1)) == 0
    set_paused(db, "nightly", False, actor="tester")
    assert create_due_runs(db, now=NOW + timedelta(days=1)) == 1

    deprecate(db, pushed.version.id, actor="tester")
    assert create_due_runs(db, now=NOW + timedelta(days=2)) == 0


def test_drafts_are_never_scheduled(db: Database) -> None:
    spec = make_spec("drafty", {"a": []}, trigger={"schedule": "@hourly"})
    register_snapshot(db, spec, actor="tester", mode=PushMode.DEV)
    assert create_due_runs(db, now=NOW) == 0
    assert _scheduled_runs(db, "drafty") == []
