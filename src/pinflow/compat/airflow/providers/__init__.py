"""``airflow.providers``: only the standard provider's operators exist here."""

from pinflow.compat.airflow._unsupported import unsupported

__getattr__ = unsupported(__name__, {})
