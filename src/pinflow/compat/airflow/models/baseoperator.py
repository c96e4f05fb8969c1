"""``airflow.models.baseoperator``."""

from pinflow.compat.airflow._edges import chain, cross_downstream
from pinflow.compat.airflow._operators import BaseOperator
from pinflow.compat.airflow._unsupported import unsupported

__all__ = ["BaseOperator", "chain", "cross_downstream"]

__getattr__ = unsupported(__name__, {})
