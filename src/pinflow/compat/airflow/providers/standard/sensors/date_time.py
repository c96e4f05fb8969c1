"""``airflow.providers.standard.sensors.date_time``."""

from pinflow.compat.airflow._sensors import (
    DateTimeSensor,
    DateTimeSensorAsync,
)
from pinflow.compat.airflow._unsupported import unsupported

__all__ = ["DateTimeSensor", "DateTimeSensorAsync"]

__getattr__ = unsupported(__name__, {})
