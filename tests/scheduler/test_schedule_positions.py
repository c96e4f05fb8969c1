"""The sweep reads only DAGs that are due: each DAG's position (``next_dagrun_after``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from pinflow.scheduler.cron import create_due_runs, due_intervals
from pinflow.services.commands._push import register_snapshot
from pinflow.services.commands._versions import set_current_version
from pinflow.services.engine import _schedules as schedules
from pinflow.spec.models import TriggerSpec
from pinflow.store.db import Database
from pinflow.store.tables import Dag, DagRun
from pinflow.testing import make_spec

NOW = datetime(2026, 1, 10, 5, 30, tzinfo=UTC)


class Loads:
    """Counts the snapshot reads of the real trigger loader."""

    def __init__(self, load: Callable[[Session, str], TriggerSpec]) -> None:
        self.load = load
        self.digests: list[str] = []

    def __call__(self, s: Session, digest: str) -> TriggerSpec:
        self.digests.append(digest)
        return self.load(s, digest)


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> Loads:
    counter = Loads(schedules._load_trigger)
    monkeypatch.setattr(schedules, "_load_trigger", counter)
    monkeypatch.setattr(schedules, "_triggers", {})  # cold: as if no DAG was seen before
    return counter


def _positions(db: Database) -> dict[str, datetime | None]:
    with db.read() as s:
        return {
            r.dag_id: r.next_dagrun_after
            for r in s.execute(select(Dag.dag_id, Dag.next_dagrun_after))
        }


def _scheduled_runs(db: Database) -> list[tuple[str, str]]:
    with db.read() as s:
        rows = s.execute(select(DagRun.dag_id, DagRun.run_id).where(DagRun.run_type == "scheduled"))
        return sorted((r.dag_id, r.run_id) for r in rows)


def test_a_sweep_parses_only_the_specs_of_due_dags(
    db: Database, loads: Loads, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(299):
        register_snapshot(
            db, make_spec(f"daily_{i:03d}", {"a": []}, trigger={"schedule": "@daily"}), actor="t"
        )
    register_snapshot(
        db, make_spec("hourly", {"a": []}, trigger={"schedule": "@hourly"}), actor="t"
    )

    # First sweep: no position yet, every DAG is looked at once and gets one.
    assert create_due_runs(db, now=NOW) == 300
    assert len(loads.digests) == 300
    positions = _positions(db)
    assert positions["hourly"] == datetime(2026, 1, 10, 6, tzinfo=UTC)
    assert {positions[f"daily_{i:03d}"] for i in range(299)} == {datetime(2026, 1, 11, tzinfo=UTC)}

    # Nothing is due until 06:00: no spec is read, nothing is written.
    monkeypatch.setattr(schedules, "_triggers", {})
    loads.digests.clear()
    assert create_due_runs(db, now=NOW + timedelta(minutes=20)) == 0
    assert loads.digests == []
    assert _positions(db) == positions

    # 06:10: only the hourly DAG is due; the other 299 are not even read, cold cache or not.
    monkeypatch.setattr(schedules, "_triggers", {})
    assert create_due_runs(db, now=NOW + timedelta(minutes=40)) == 1
    assert len(loads.digests) == 1
    assert ("hourly", f"scheduled__{datetime(2026, 1, 10, 5, tzinfo=UTC).isoformat()}") in (
        _scheduled_runs(db)
    )
    assert _positions(db)["hourly"] == datetime(2026, 1, 10, 7, tzinfo=UTC)


def test_dags_without_a_schedule_are_read_once_and_never_written(
    db: Database, loads: Loads
) -> None:
    register_snapshot(db, make_spec("manual", {"a": []}), actor="t")
    for minutes in (0, 1, 60 * 24):
        assert create_due_runs(db, now=NOW + timedelta(minutes=minutes)) == 0
    assert len(loads.digests) == 1  # then the process's cache answers
    assert _positions(db) == {"manual": None}
    assert _scheduled_runs(db) == []


def test_the_trigger_is_read_without_the_tasks_exactly_as_the_spec_has_it(
    db: Database, loads: Loads
) -> None:
    trigger = {
        "schedule": "0 2 * * *",
        "timezone": "Europe/Paris",
        "start_date": "2026-01-07T00:00:00",
        "end_date": "2026-12-31T00:00:00+01:00",
        "catchup": True,
        "max_catchup_runs": 2,
    }
    spec = make_spec("paris", {f"t{i}": [] for i in range(50)}, trigger=trigger)
    pushed = register_snapshot(db, spec, actor="t")
    with db.read() as s:
        assert schedules.trigger_of(s, pushed.version.snapshot_digest) == spec.trigger
    # Catch-up with its cap, in Paris time: the two latest of 7, 8 and 9 January at 02:00.
    assert create_due_runs(db, now=NOW) == 2
    assert [run_id for _, run_id in _scheduled_runs(db)] == [
        f"scheduled__{datetime(2026, 1, d, 1, tzinfo=UTC).isoformat()}" for d in (8, 9)
    ]
    assert _positions(db)["paris"] == datetime(2026, 1, 11, 1, tzinfo=UTC)


def test_an_ended_schedule_is_not_walked_back_tick_by_tick() -> None:
    # Every minute, ended a year before now: ~530,000 ticks between the end and now.
    t = TriggerSpec(
        schedule="* * * * *", start_date=datetime(2024, 1, 1), end_date=datetime(2025, 1, 1)
    )
    last = datetime(2025, 1, 1, 0, 1, tzinfo=UTC)
    assert due_intervals(t, now=NOW, after=last, has_runs=True) == []
    (interval,) = due_intervals(
        t.model_copy(update={"catchup": True}),
        now=NOW,
        after=last - timedelta(minutes=1),
        has_runs=True,
    )
    assert (interval.start, interval.end) == (datetime(2025, 1, 1, tzinfo=UTC), last)


def test_a_change_of_current_version_drops_the_old_schedule_position(db: Database) -> None:
    daily = make_spec("moving", {"a": []}, trigger={"schedule": "@daily"})
    v1 = register_snapshot(db, daily, actor="t").version.id
    assert create_due_runs(db, now=NOW) == 1
    assert _positions(db)["moving"] == datetime(2026, 1, 11, tzinfo=UTC)

    hourly = make_spec("moving", {"a": []}, trigger={"schedule": "@hourly"})
    register_snapshot(db, hourly, actor="t")
    assert _positions(db)["moving"] is None  # tomorrow is the daily schedule's, not this one's
    later = NOW + timedelta(hours=1)
    assert create_due_runs(db, now=later) == 1  # 05:00-06:00 today, not tomorrow
    assert _positions(db)["moving"] == datetime(2026, 1, 10, 7, tzinfo=UTC)

    set_current_version(db, v1, actor="t")  # a rollback: the daily schedule again
    assert _positions(db)["moving"] is None
    assert create_due_runs(db, now=later) == 0
    assert _positions(db)["moving"] == datetime(2026, 1, 11, tzinfo=UTC)
