"""``airflow.providers.standard.sensors.python``."""

from pinflow.compat.airflow._sensors import (
    PythonSensor,
)
from pinflow.compat.airflow._unsupported import unsupported

__all__ = ["PythonSensor"]

__getattr__ = unsupported(__name__, {})
