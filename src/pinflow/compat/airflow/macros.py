"""``airflow.macros``: the helpers templates reach as ``macros`` (``ds_add``, ``ds_format``)."""

from pinflow.compat.airflow._macros import (
    datetime,
    ds_add,
    ds_format,
    json,
    random,
    time,
    timedelta,
    uuid,
)
from pinflow.compat.airflow._unsupported import unsupported

__all__ = ["datetime", "ds_add", "ds_format", "json", "random", "time", "timedelta", "uuid"]

__getattr__ = unsupported(__name__, {})
