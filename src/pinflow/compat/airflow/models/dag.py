"""``airflow.models.dag``."""

from pinflow.compat.airflow._dag import DAG
from pinflow.compat.airflow._unsupported import unsupported

__all__ = ["DAG"]

__getattr__ = unsupported(__name__, {})
