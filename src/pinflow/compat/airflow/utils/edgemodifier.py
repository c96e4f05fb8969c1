"""``airflow.utils.edgemodifier``: ``Label`` (accepted; Pinflow does not show edge labels)."""

from pinflow.compat.airflow._edges import Label
from pinflow.compat.airflow._unsupported import unsupported

__all__ = ["Label"]

__getattr__ = unsupported(__name__, {})
