"""``airflow.sensors``."""

from pinflow.compat.airflow._unsupported import unsupported

__getattr__ = unsupported(__name__, {})
