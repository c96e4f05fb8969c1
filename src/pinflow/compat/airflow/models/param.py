"""``airflow.models.param``: ``Param`` (Pinflow's, with the same basic arguments)."""

from pinflow.compat.airflow._unsupported import unsupported
from pinflow.sdk.params import Param

__all__ = ["Param"]

__getattr__ = unsupported(__name__, {"ParamsDict": "a plain dict of Param values"})
