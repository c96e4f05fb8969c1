"""``airflow.providers.standard.sensors``: the sensors that need no external system."""

from pinflow.compat.airflow._unsupported import unsupported

__getattr__ = unsupported(__name__, {})
