"""``macros`` in Airflow templates and contexts: ``{{ macros.ds_add(ds, 7) }}``.

Airflow's date helpers, and the standard-library modules Airflow exposes under ``macros``.
"""

from __future__ import annotations

import datetime as _datetime
import json
import random
import time
import uuid

datetime = _datetime.datetime
timedelta = _datetime.timedelta

__all__ = ["datetime", "ds_add", "ds_format", "json", "random", "time", "timedelta", "uuid"]


def ds_add(ds: str, days: int) -> str:
    """``ds`` (``YYYY-MM-DD``) moved by ``days`` (negative: back): ``ds_add("2015-01-01", 5)``
    is ``"2015-01-06"``."""
    if not days:
        return str(ds)
    moved = _datetime.datetime.strptime(str(ds), "%Y-%m-%d") + _datetime.timedelta(days=days)
    return moved.strftime("%Y-%m-%d")


def ds_format(ds: str, input_format: str, output_format: str) -> str:
    """``ds`` read with ``input_format`` and written with ``output_format``:
    ``ds_format("2015-01-01", "%Y-%m-%d", "%m-%d-%y")`` is ``"01-01-15"``."""
    return _datetime.datetime.strptime(str(ds), input_format).strftime(output_format)
