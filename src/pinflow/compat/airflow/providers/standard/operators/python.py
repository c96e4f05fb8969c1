"""``PythonOperator``."""

from pinflow.compat.airflow._operators import PythonOperator
from pinflow.compat.airflow._unsupported import unsupported

__all__ = ["PythonOperator"]

__getattr__ = unsupported(__name__, {})
