"""``airflow.sdk.bases.sensor``: the base of sensors (ADR 0036)."""

from pinflow.compat.airflow._sensors import (
    BaseSensorOperator,
    PokeReturnValue,
)
from pinflow.compat.airflow._unsupported import unsupported

__all__ = ["BaseSensorOperator", "PokeReturnValue"]

__getattr__ = unsupported(__name__, {})
