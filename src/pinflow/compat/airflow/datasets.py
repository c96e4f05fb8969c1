"""``airflow.datasets``: Airflow 2's names for assets (``Dataset``, ``DatasetAll``,
``DatasetAny``), which Airflow 3 still accepts."""

from pinflow.compat.airflow._assets import AssetAll as DatasetAll
from pinflow.compat.airflow._assets import AssetAny as DatasetAny
from pinflow.compat.airflow._assets import Dataset
from pinflow.compat.airflow._unsupported import unsupported

__all__ = ["Dataset", "DatasetAll", "DatasetAny"]

__getattr__ = unsupported(__name__, {"DatasetAlias": "Dataset objects in outlets and schedule"})
