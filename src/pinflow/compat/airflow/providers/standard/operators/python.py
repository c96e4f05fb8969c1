"""``PythonOperator``, ``BranchPythonOperator``, ``ShortCircuitOperator`` and
``get_current_context``."""

from pinflow.compat.airflow._context import get_current_context
from pinflow.compat.airflow._operators import (
    BranchPythonOperator,
    PythonOperator,
    ShortCircuitOperator,
)
from pinflow.compat.airflow._unsupported import unsupported

__all__ = ["BranchPythonOperator", "PythonOperator", "ShortCircuitOperator", "get_current_context"]

__getattr__ = unsupported(__name__, {})
