"""``PythonOperator``, ``BranchPythonOperator``, ``ShortCircuitOperator``."""

from pinflow.compat.airflow._operators import (
    BranchPythonOperator,
    PythonOperator,
    ShortCircuitOperator,
)
from pinflow.compat.airflow._unsupported import unsupported

__all__ = ["BranchPythonOperator", "PythonOperator", "ShortCircuitOperator"]

__getattr__ = unsupported(__name__, {})
