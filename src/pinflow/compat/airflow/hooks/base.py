"""``airflow.hooks.base``: Airflow 2's ``BaseHook`` (``BaseHook.get_connection``)."""

from pinflow.compat.airflow._resources import BaseHook
from pinflow.compat.airflow._unsupported import unsupported

__all__ = ["BaseHook"]

__getattr__ = unsupported(__name__, {})
