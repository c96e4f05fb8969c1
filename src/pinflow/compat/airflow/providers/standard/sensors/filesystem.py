"""``airflow.providers.standard.sensors.filesystem``."""

from pinflow.compat.airflow._sensors import (
    FileSensor,
)
from pinflow.compat.airflow._unsupported import unsupported

__all__ = ["FileSensor"]

__getattr__ = unsupported(__name__, {})
