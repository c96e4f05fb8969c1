"""A tiny ``pendulum`` for DAG files, used only when the real one is not installed.

Airflow DAG files mostly use pendulum for ``start_date=pendulum.datetime(2021, 1, 1,
tz="UTC")``; these return standard-library ``datetime``/``timedelta`` objects (with a
``zoneinfo`` time zone), which is what Pinflow's specs hold.
"""

from __future__ import annotations

import datetime as _dt
from zoneinfo import ZoneInfo

from pinflow.compat.airflow._unsupported import unsupported

UTC = ZoneInfo("UTC")


def timezone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (``pendulum.timezone("Europe/Paris")``)."""
    return ZoneInfo(name)


def _zone(tz: str | _dt.tzinfo | None) -> _dt.tzinfo | None:
    return ZoneInfo(tz) if isinstance(tz, str) else tz


def datetime(  # noqa: PLR0917 - pendulum's signature
    year: int,
    month: int = 1,
    day: int = 1,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    microsecond: int = 0,
    tz: str | _dt.tzinfo | None = UTC,
) -> _dt.datetime:
    """A time-zone-aware datetime (UTC unless ``tz`` says otherwise), as pendulum's."""
    return _dt.datetime(year, month, day, hour, minute, second, microsecond, tzinfo=_zone(tz))


def duration(  # noqa: PLR0917 - pendulum's signature
    days: float = 0,
    seconds: float = 0,
    microseconds: float = 0,
    milliseconds: float = 0,
    minutes: float = 0,
    hours: float = 0,
    weeks: float = 0,
) -> _dt.timedelta:
    """A ``timedelta`` (pendulum's ``duration`` without months and years)."""
    return _dt.timedelta(
        days=days,
        seconds=seconds,
        microseconds=microseconds,
        milliseconds=milliseconds,
        minutes=minutes,
        hours=hours,
        weeks=weeks,
    )


def now(tz: str | _dt.tzinfo | None = UTC) -> _dt.datetime:
    """The current time in ``tz`` (UTC by default)."""
    return _dt.datetime.now(_zone(tz))


def today(tz: str | _dt.tzinfo | None = UTC) -> _dt.datetime:
    """Midnight today in ``tz``."""
    return now(tz).replace(hour=0, minute=0, second=0, microsecond=0)


__getattr__ = unsupported(
    "pendulum",
    {
        "parse": "datetime.datetime.fromisoformat(...)",
        "instance": "a datetime with tzinfo",
        "Duration": "datetime.timedelta",
        "DateTime": "datetime.datetime",
    },
)
