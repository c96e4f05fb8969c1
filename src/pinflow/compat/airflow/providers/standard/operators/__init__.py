"""``airflow.providers.standard.operators``: the bash, python and empty operators."""

from pinflow.compat.airflow._unsupported import unsupported

__getattr__ = unsupported(__name__, {})
