"""Optional parts of Pinflow and the extra that installs each.

The base install (``pip install pinflow``) runs standalone on SQLite with the local executor.
PostgreSQL, Celery and remote stores are extras: their packages are imported only where they
are used, through ``require``, so a missing one is one clear line naming the extra to install
instead of a ``ModuleNotFoundError`` traceback from deep inside an import chain.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from pinflow.errors import PinflowError


@dataclass(frozen=True)
class Extra:
    """A ``pyproject.toml`` extra: what it is for and the module that proves it is there."""

    name: str
    purpose: str
    module: str


POSTGRES = Extra("postgres", "PostgreSQL", "psycopg")
CELERY = Extra("celery", "The Celery executor", "celery")
# fsspec with s3fs: the shared store on S3 (``shared_store_url = "s3://…"``).
S3 = Extra("s3", "A store on S3 (s3://…)", "s3fs")
METRICS = Extra("metrics", "Prometheus metrics (/metrics)", "prometheus_client")
OTEL = Extra("otel", "OpenTelemetry traces", "opentelemetry.sdk")

EXTRAS = {extra.name: extra for extra in (POSTGRES, CELERY)}


@dataclass
class MissingExtraError(PinflowError):
    """An optional part was asked for but its packages are not installed."""

    extra: str = ""


def require(extra: Extra) -> ModuleType:
    """Import ``extra``'s module, or raise ``MissingExtraError`` saying what to install."""
    try:
        return importlib.import_module(extra.module)
    except ImportError as exc:
        if exc.name is not None and exc.name.split(".")[0] != extra.module.split(".")[0]:
            raise  # the package is there but broken: its own error says more than ours
        raise MissingExtraError(
            f"{extra.purpose} needs the '{extra.name}' extra, which is not installed: "
            f"pip install 'pinflow[{extra.name}]'",
            extra=extra.name,
        ) from None
