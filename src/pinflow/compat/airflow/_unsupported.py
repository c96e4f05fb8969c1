"""Names that Airflow modules have and the compatibility layer does not (yet).

Each Airflow-shaped module ends with ``__getattr__ = unsupported(__name__, {...})``: importing
a name it lacks raises an ``ImportError`` that names the construct and the nearest supported
alternative, which the compiler shows as a problem at the importing line (``dags/etl.py:3``),
instead of Python's bare "cannot import name".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import NoReturn

_PREFIX = "pinflow.compat."

# Alternatives shared by several modules.
COMMON: dict[str, str] = {
    "AssetAlias": "Asset objects named in the task's outlets and the DAG's schedule",
    "Metadata": "returning the value from the task",
    "BranchMixIn": "trigger rules on the downstream tasks",
    "ExternalPythonOperator": "@task with the packages installed on the workers",
    "PythonVirtualenvOperator": "@task with the packages installed on the workers",
    "TriggerDagRunOperator": "triggering the other DAG through the API",
}


class UnsupportedAirflowName(ImportError):  # noqa: N818 - named for what it reports
    """A name an Airflow module has that Pinflow's compatibility layer lacks."""


def airflow_name(module: str) -> str:
    return module.removeprefix(_PREFIX)


def unsupported(module: str, alternatives: Mapping[str, str]) -> Callable[[str], NoReturn]:
    """A module ``__getattr__`` that refuses names the module lacks, saying what to use."""
    shown = airflow_name(module)

    def __getattr__(name: str) -> NoReturn:  # noqa: N807 - a module's __getattr__
        if name.startswith("__"):
            raise AttributeError(f"module {shown!r} has no attribute {name!r}")
        hint = alternatives.get(name) or COMMON.get(name)
        instead = f"; use {hint} instead" if hint else ""
        raise UnsupportedAirflowName(
            f"{shown}.{name} is not supported by Pinflow's Airflow compatibility layer{instead} "
            "(see docs/migrating-from-airflow.md)",
            name=shown,
        )

    return __getattr__
