"""``airflow.models.variable``: Airflow 2's ``Variable``."""

from pinflow.compat.airflow._resources import Variable
from pinflow.compat.airflow._unsupported import unsupported

__all__ = ["Variable"]

__getattr__ = unsupported(__name__, {})
