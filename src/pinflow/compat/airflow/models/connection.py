"""``airflow.models.connection``: Airflow 2's ``Connection``."""

from pinflow.compat.airflow._resources import Connection
from pinflow.compat.airflow._unsupported import unsupported

__all__ = ["Connection"]

__getattr__ = unsupported(__name__, {})
