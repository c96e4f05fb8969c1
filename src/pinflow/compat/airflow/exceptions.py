"""``airflow.exceptions``: the exceptions a task raises to end as skipped or failed.

``AirflowSkipException`` is Pinflow's ``SkipTask``: the try ends ``skipped``.
``AirflowFailException`` fails the try like any other exception: Pinflow has no "fail
without retrying" outcome yet, so remaining retries are still used (the migration guide says
so).
"""

from __future__ import annotations

from pinflow.compat.airflow._unsupported import unsupported
from pinflow.runtime.contract import SensorTimeout, SkipTask


class AirflowException(Exception):  # noqa: N818 - Airflow's name
    """The base of Airflow's exceptions."""


class AirflowSkipException(SkipTask, AirflowException):
    """Raise in a task to end it as ``skipped``."""


class AirflowFailException(AirflowException):
    """Raise in a task to fail it (Pinflow still retries it if it has retries left)."""


class AirflowNotFoundException(AirflowException):
    """Something looked up does not exist."""


class AirflowSensorTimeout(SensorTimeout, AirflowException):
    """A sensor ran past its timeout: it fails without retrying (skipped with soft_fail)."""


class AirflowTaskTimeout(AirflowException):
    """A task ran past its execution_timeout."""


__all__ = [
    "AirflowException",
    "AirflowFailException",
    "AirflowNotFoundException",
    "AirflowSensorTimeout",
    "AirflowSkipException",
    "AirflowTaskTimeout",
]

__getattr__ = unsupported(__name__, {})
