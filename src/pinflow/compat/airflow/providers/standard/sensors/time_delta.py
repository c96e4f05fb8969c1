"""``airflow.providers.standard.sensors.time_delta``."""

from pinflow.compat.airflow._sensors import (
    TimeDeltaSensor,
    TimeDeltaSensorAsync,
)
from pinflow.compat.airflow._unsupported import unsupported

__all__ = ["TimeDeltaSensor", "TimeDeltaSensorAsync"]

__getattr__ = unsupported(__name__, {})
