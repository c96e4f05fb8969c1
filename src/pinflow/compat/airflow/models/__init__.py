"""``airflow.models``: Airflow 2's home of ``DAG`` and ``BaseOperator``."""

from pinflow.compat.airflow._dag import DAG
from pinflow.compat.airflow._operators import BaseOperator
from pinflow.compat.airflow._resources import Connection, Variable
from pinflow.compat.airflow._unsupported import unsupported
from pinflow.sdk.params import Param

__all__ = ["DAG", "BaseOperator", "Connection", "Param", "Variable"]

__getattr__ = unsupported(__name__, {})
