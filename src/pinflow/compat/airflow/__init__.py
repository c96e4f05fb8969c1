"""``pinflow.compat.airflow``: Airflow 3 DAG files compiled to ordinary Pinflow specs.

The modules here mirror Airflow's (``airflow.sdk``, ``airflow.providers.standard.operators
.bash``, ...); ``pinflow.compat.importer`` makes ``import airflow.X`` resolve to
``pinflow.compat.airflow.X`` when no real Airflow is installed. What is supported, and what
a user sees for the rest, is in docs/migrating-from-airflow.md.
"""

from pinflow.compat.airflow._dag import DAG
from pinflow.compat.airflow._unsupported import unsupported

__all__ = ["DAG"]

__getattr__ = unsupported(__name__, {})
