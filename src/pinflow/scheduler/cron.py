"""Cron and preset schedules: which data intervals are due, with Airflow's semantics.

A run covers a data interval ``[start, end)`` between two ticks of the schedule, evaluated in
the DAG's timezone (so ``0 2 * * *`` follows daylight saving time), and is created once the
interval is over: its ``logical_date`` is the interval's start. ``start_date`` is the earliest
interval start, ``end_date`` the latest. Without ``catchup`` only the latest complete interval
is run; with it, every missed one, but never more than ``max_catchup_runs`` (the most recent
ones), so a DAG paused for a year does not flood the scheduler. ``@once`` runs once, as soon
as ``start_date`` (if any) has passed. Presets (``@hourly``, ``@daily``, ``@weekly``,
``@monthly``, ``@yearly``...) are croniter's.

``due_intervals`` is pure; ``create_due_runs`` asks the schedules service which DAGs are due
(or have no position yet), what their current version's schedule says, and has the runs
created.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

from pinflow.errors import InvalidInputError, PinflowError
from pinflow.services.engine import create_scheduled_runs, scheduled_dags
from pinflow.spec.models import TriggerSpec
from pinflow.store.db import Database

ONCE = "@once"
_TICK = timedelta(microseconds=1)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataInterval:
    start: datetime  # UTC
    end: datetime  # UTC


def _in(tz: ZoneInfo, value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=tz) if value.tzinfo is None else value


def due_intervals(
    trigger: TriggerSpec, *, now: datetime, after: datetime | None, has_runs: bool
) -> list[DataInterval]:
    """The intervals to create runs for now, oldest first.

    ``after`` is the end of the latest interval already run (``None``: none yet); intervals
    starting before it are never created again. ``has_runs`` says whether the DAG had any
    scheduled run (what ``@once`` needs).
    """
    if trigger.schedule is None:
        return []
    tz = ZoneInfo(trigger.timezone)
    start_date, end_date = _in(tz, trigger.start_date), _in(tz, trigger.end_date)
    if trigger.schedule == ONCE:
        at = start_date or now
        if has_runs or at > now:
            return []
        return [DataInterval(at.astimezone(UTC), at.astimezone(UTC))]
    floors = [d for d in (after, start_date) if d is not None]
    floor = max(floors) if floors else None
    # Catching up needs a beginning: without start_date (and no run yet) only the latest runs.
    limit = trigger.max_catchup_runs if trigger.catchup and floor is not None else 1
    ticks = croniter(trigger.schedule, now.astimezone(tz))
    end: datetime = ticks.get_prev(datetime)
    if end_date is not None and end > end_date:
        # No interval starting after end_date is ever run: start from the first one that ends
        # after it, not tick by tick back from now (a DAG ended a year ago: every sweep).
        ticks = croniter(trigger.schedule, end_date.astimezone(tz))
        end = ticks.get_next(datetime)
    found: list[DataInterval] = []
    while len(found) < limit:
        start: datetime = ticks.get_prev(datetime)
        if floor is not None and start < floor:
            break
        if end_date is None or start <= end_date:
            found.append(DataInterval(start.astimezone(UTC), end.astimezone(UTC)))
        end = start
    return found[::-1]


def next_due(trigger: TriggerSpec, *, now: datetime) -> datetime | None:
    """When the next interval completes (the next run becomes due), in UTC."""
    if trigger.schedule is None or trigger.schedule == ONCE:
        return None
    tz = ZoneInfo(trigger.timezone)
    upcoming: datetime = croniter(trigger.schedule, now.astimezone(tz)).get_next(datetime)
    end_date = _in(tz, trigger.end_date)
    if end_date is not None and upcoming > end_date:
        return None
    return upcoming.astimezone(UTC)


def create_due_runs(db: Database, *, now: datetime | None = None) -> int:
    """Create the runs every schedulable DAG is due for; returns how many were created.

    Each DAG looked at gets its position (``next_dagrun_after``) moved to when its next run
    is due, so the following sweeps skip it until then.
    """
    stamp = now or datetime.now(UTC)
    created = 0
    for facts in scheduled_dags(db, now=stamp):
        intervals = due_intervals(
            facts.trigger,
            now=stamp,
            after=facts.last_interval_end,
            has_runs=facts.has_scheduled_runs,
        )
        upcoming = next_due(facts.trigger, now=stamp)
        if not intervals and upcoming == facts.next_dagrun_after:
            continue
        try:
            created += create_scheduled_runs(
                db,
                facts.dag_id,
                version_id=facts.version_id,
                intervals=[(i.start, i.end) for i in intervals],
                next_due=upcoming,
            )
        except PinflowError as exc:  # e.g. a required param without default: skip this DAG
            log.warning("cannot create the scheduled runs of DAG %r: %s", facts.dag_id, exc)
    return created


def backfill_intervals(
    trigger: TriggerSpec, *, from_date: datetime, to_date: datetime, now: datetime, limit: int
) -> list[DataInterval]:
    """The schedule's intervals whose start (the logical date) is within ``[from_date,
    to_date]``, oldest first, as the schedule would have run them: only complete intervals
    (ending by ``now``) and within the DAG's ``start_date``/``end_date``. ``@once`` and
    manual-only DAGs have no intervals to backfill. More than ``limit`` is an error (a typo
    in a year must not create a hundred thousand runs)."""
    if trigger.schedule is None or trigger.schedule == ONCE:
        return []
    tz = ZoneInfo(trigger.timezone)
    start_date, end_date = _in(tz, trigger.start_date), _in(tz, trigger.end_date)
    lower = max(d for d in (from_date, start_date) if d is not None)
    try:
        ticks = croniter(trigger.schedule, (lower - _TICK).astimezone(tz))
        return _intervals_from(ticks, to_date, end_date, now=now, limit=limit)
    except (OverflowError, ValueError) as exc:  # dates at the ends of the calendar
        raise InvalidInputError(f"The range cannot be backfilled: {exc}.") from None


def _intervals_from(
    ticks: croniter, to_date: datetime, end_date: datetime | None, *, now: datetime, limit: int
) -> list[DataInterval]:
    start: datetime = ticks.get_next(datetime)
    found: list[DataInterval] = []
    while start <= to_date and (end_date is None or start <= end_date):
        end: datetime = ticks.get_next(datetime)
        if end > now:
            break
        if len(found) == limit:
            raise InvalidInputError(
                f"The range holds more than {limit} intervals; backfill a shorter range at once."
            )
        found.append(DataInterval(start.astimezone(UTC), end.astimezone(UTC)))
        start = end
    return found
