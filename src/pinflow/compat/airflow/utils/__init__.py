"""``airflow.utils``: ``trigger_rule`` and ``edgemodifier``."""

from pinflow.compat.airflow._unsupported import unsupported

__getattr__ = unsupported(__name__, {})
