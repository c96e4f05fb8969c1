"""Identifiers as path components: the one escaping rule for logs, staging dirs and artifacts.

Lives in the runtime because task processes name artifacts with it; the control plane uses
the same function, so both sides always agree on where a thing is.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")


def path_component(name: str) -> str:
    """``name`` as one safe folder name; a name that had to change gets a hash suffix, so two
    different names never share a folder (``a:b`` and ``a_b``)."""
    safe = _UNSAFE.sub("_", name)
    if safe == name and not name.startswith("."):
        return name
    suffix = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{safe.lstrip('.') or '_'}-{suffix}"


def staging_path(base: Path, dag_id: str, run_id: str) -> Path:
    """The run's staging dir: the same path for every try and after every clear of the run."""
    return Path(base) / path_component(dag_id) / path_component(run_id)


def log_path(
    base: Path, dag_id: str, run_id: str, task_id: str, *, map_index: int, try_number: int
) -> Path:
    """``<logs>/<dag_id>/<run_id>/<task_id>/<map_index>/attempt=<n>.log``."""
    parts = (dag_id, run_id, task_id, str(map_index))
    return Path(base).joinpath(*map(path_component, parts)) / f"attempt={try_number}.log"
