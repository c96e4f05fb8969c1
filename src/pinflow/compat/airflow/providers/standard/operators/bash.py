"""``BashOperator``."""

from pinflow.compat.airflow._operators import BashOperator
from pinflow.compat.airflow._unsupported import unsupported

__all__ = ["BashOperator"]

__getattr__ = unsupported(__name__, {})
