"""Identifiers as path components: the one escaping rule for logs, staging dirs and artifacts.

Lives in the runtime because task processes name artifacts with it; the control plane uses
the same function, so both sides always agree on where a thing is.
"""

from __future__ import annotations

import hashlib
import re

_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]")


def path_component(name: str) -> str:
    """``name`` as one safe folder name; a name that had to change gets a hash suffix, so two
    different names never share a folder (``a:b`` and ``a_b``)."""
    safe = _UNSAFE.sub("_", name)
    if safe == name and not name.startswith("."):
        return name
    suffix = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"{safe.lstrip('.') or '_'}-{suffix}"
