"""A ``sys.meta_path`` finder: ``import airflow...`` and ``import pendulum`` resolve to
``pinflow.compat`` when no real Airflow (or pendulum) is installed.

Installed by the compiler before it imports DAG files and by ``resolve_callable`` before a
task process imports its DAG file, so an Airflow DAG file runs unmodified in both. It is
installed only when no real ``airflow`` is importable, and it answers ``airflow`` and
``pendulum`` only when no other finder does: a real Airflow or pendulum always wins. It goes
*first* on ``sys.meta_path`` because an aliased package's ``__path__`` is the compat
package's folder, where the path finder would otherwise load ``airflow.sdk`` a second time,
as a copy (see docs/adr/0023-airflow-compatibility-layer.md). This module imports nothing of
Pinflow, so the SDK's loader can import it without pulling in the compatibility package.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from types import ModuleType

_ALIASES = {"airflow": "pinflow.compat.airflow", "pendulum": "pinflow.compat.pendulum"}
SUPPORTED_MODULES = (
    "airflow",
    "airflow.sdk",
    "airflow.datasets",
    "airflow.decorators",
    "airflow.exceptions",
    "airflow.hooks.base",
    "airflow.macros",
    "airflow.models",
    "airflow.models.baseoperator",
    "airflow.models.connection",
    "airflow.models.dag",
    "airflow.models.param",
    "airflow.models.variable",
    "airflow.operators.bash",
    "airflow.operators.empty",
    "airflow.operators.python",
    "airflow.providers.standard.operators.bash",
    "airflow.providers.standard.operators.empty",
    "airflow.providers.standard.operators.python",
    "airflow.providers.standard.sensors",
    "airflow.providers.standard.sensors.date_time",
    "airflow.providers.standard.sensors.filesystem",
    "airflow.providers.standard.sensors.python",
    "airflow.providers.standard.sensors.time",
    "airflow.providers.standard.sensors.time_delta",
    "airflow.sdk.bases",
    "airflow.sdk.bases.sensor",
    "airflow.sensors",
    "airflow.sensors.base",
    "airflow.utils.edgemodifier",
    "airflow.utils.task_group",
    "airflow.utils.trigger_rule",
    "pendulum",
)


class UnsupportedAirflowModule(ImportError):  # noqa: N818 - named for what it reports
    """An ``airflow`` module the compatibility layer does not provide (yet)."""


def _target(fullname: str) -> str | None:
    top, dot, rest = fullname.partition(".")
    alias = _ALIASES.get(top)
    if alias is None:
        return None
    return f"{alias}{dot}{rest}"


class _AliasLoader(importlib.abc.Loader):
    """Loads the compat module and registers it under the alias too (one module object, so
    ``airflow.sdk.DAG is pinflow.compat.airflow.sdk.DAG``)."""

    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(self.target)

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: ``create_module`` returned the already executed compat module."""


class _UnsupportedLoader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        raise UnsupportedAirflowModule(
            f"module {module.__name__!r} is not supported by Pinflow's Airflow compatibility "
            f"layer (supported: {', '.join(SUPPORTED_MODULES)}); "
            "see docs/migrating-from-airflow.md for the Pinflow alternative",
            name=module.__name__,
        )


class AirflowAliasFinder(importlib.abc.MetaPathFinder):
    """Maps ``airflow.X`` to ``pinflow.compat.airflow.X`` and ``pendulum`` to
    ``pinflow.compat.pendulum``; an ``airflow`` module without a counterpart loads as a module
    whose import fails with a message that lists the supported ones."""

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        compat_name = _target(fullname)
        if compat_name is None:
            return None
        if fullname in _ALIASES and self._found_elsewhere(fullname):
            return None  # a real one appeared on the path since (a bundle's own ``airflow``)
        try:
            found = importlib.util.find_spec(compat_name)
        except ImportError:
            found = None
        if found is None:
            return importlib.machinery.ModuleSpec(fullname, _UnsupportedLoader())
        compat = importlib.import_module(compat_name)
        is_package = hasattr(compat, "__path__")
        return importlib.machinery.ModuleSpec(
            fullname, _AliasLoader(compat_name), is_package=is_package
        )

    def _found_elsewhere(self, fullname: str) -> bool:
        others = [f for f in sys.meta_path if f is not self and hasattr(f, "find_spec")]
        return any(f.find_spec(fullname, None) is not None for f in others)


def install_airflow_imports() -> bool:
    """Put the finder first on ``sys.meta_path`` (once), unless a real Airflow is
    importable; return whether it is installed."""
    if any(isinstance(f, AirflowAliasFinder) for f in sys.meta_path):
        return True
    if importlib.util.find_spec("airflow") is not None:
        return False
    sys.meta_path.insert(0, AirflowAliasFinder())
    return True
