"""``EmptyOperator``."""

from pinflow.compat.airflow._operators import EmptyOperator
from pinflow.compat.airflow._unsupported import unsupported

__all__ = ["EmptyOperator"]

__getattr__ = unsupported(__name__, {})
