"""``airflow.decorators``: Airflow 2's spelling of ``from airflow.sdk import dag, task``."""

from pinflow.compat.airflow._dag import dag
from pinflow.compat.airflow._groups import task_group
from pinflow.compat.airflow._task import setup, task, teardown
from pinflow.compat.airflow._unsupported import unsupported

__all__ = ["dag", "setup", "task", "task_group", "teardown"]

__getattr__ = unsupported(__name__, {})
