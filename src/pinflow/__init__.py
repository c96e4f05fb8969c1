"""Pinflow: workflows as immutable, versioned artifacts; every run pinned to its definition.

``from pinflow import dag, task, chain, Param`` is the authoring API. It is loaded lazily so
that importing ``pinflow.store`` or ``pinflow.api`` does not import the SDK.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_SDK_EXPORTS = frozenset({"Dag", "Param", "XComArg", "chain", "dag", "task"})

if TYPE_CHECKING:
    from pinflow.sdk import Dag, Param, XComArg, chain, dag, task

__all__ = ["Dag", "Param", "XComArg", "__version__", "chain", "dag", "task"]


def __getattr__(name: str) -> Any:
    if name in _SDK_EXPORTS:
        from pinflow import sdk

        return getattr(sdk, name)
    raise AttributeError(f"module 'pinflow' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_SDK_EXPORTS})
