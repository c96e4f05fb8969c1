"""``airflow.utils.trigger_rule``: Pinflow's ``TriggerRule`` has Airflow's names and values."""

from pinflow.compat.airflow._unsupported import unsupported
from pinflow.spec.models import TriggerRule

__all__ = ["TriggerRule"]

__getattr__ = unsupported(__name__, {})
