"""``PythonOperator`` and ``get_current_context``."""

from pinflow.compat.airflow._context import get_current_context
from pinflow.compat.airflow._operators import PythonOperator
from pinflow.compat.airflow._unsupported import unsupported

__all__ = ["PythonOperator", "get_current_context"]

__getattr__ = unsupported(__name__, {})
