"""What differs between two snapshots of one DAG: the answer to "why a new version?" (ADR 0041).

Pure: the zips are read in memory, entry headers only (name, size, CRC-32), never inflated:
both bundles passed ``bundle_rules.check_bundle`` when they were pushed.
"""

from __future__ import annotations

import io
import zipfile

from pinflow.spec.canonical import spec_to_json
from pinflow.spec.models import DagSpec

SPEC_CHANGED = "the DAG's spec"


def _entries(bundle: bytes) -> dict[str, tuple[int, int]]:
    if not bundle:
        return {}
    try:
        with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
            return {i.filename: (i.file_size, i.CRC) for i in archive.infolist() if not i.is_dir()}
    except (zipfile.BadZipFile, ValueError, EOFError):
        return {}


def changed_inputs(old_spec: DagSpec, old_bundle: bytes, spec: DagSpec, bundle: bytes) -> list[str]:
    """``["the DAG's spec", "helpers.py changed", "data/new.csv added", "old.py removed"]``:
    empty when the two snapshots hold the same spec and files."""
    changes = [SPEC_CHANGED] if spec_to_json(old_spec) != spec_to_json(spec) else []
    if old_bundle == bundle:
        return changes
    before, after = _entries(old_bundle), _entries(bundle)
    for name in sorted(before.keys() | after.keys()):
        if name not in before:
            changes.append(f"{name} added")
        elif name not in after:
            changes.append(f"{name} removed")
        elif before[name] != after[name]:
            changes.append(f"{name} changed")
    return changes
