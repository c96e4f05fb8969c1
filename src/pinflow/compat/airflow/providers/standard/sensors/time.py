"""``airflow.providers.standard.sensors.time``."""

from pinflow.compat.airflow._sensors import (
    TimeSensor,
    TimeSensorAsync,
)
from pinflow.compat.airflow._unsupported import unsupported

__all__ = ["TimeSensor", "TimeSensorAsync"]

__getattr__ = unsupported(__name__, {})
