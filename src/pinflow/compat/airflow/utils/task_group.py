"""``airflow.utils.task_group``: Airflow 2's home of ``TaskGroup``."""

from pinflow.compat.airflow._groups import TaskGroup
from pinflow.compat.airflow._unsupported import unsupported

__all__ = ["TaskGroup"]

__getattr__ = unsupported(__name__, {})
