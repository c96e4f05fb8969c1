"""Placeholder until the shared store lands (replaced by the so-store branch)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from pinflow.runtime.contract import TaskRequest


@contextlib.contextmanager
def attached(req: TaskRequest) -> Iterator[None]:
    yield
