"""Canonical JSON and content digests: the identity of a snapshot.

Two specs that mean the same thing produce the same bytes, so pushing unchanged code twice is
a no-op. Keys are sorted, separators fixed, defaults included (a later default change must not
silently change what an old snapshot means).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pinflow.spec.models import DagSpec

_DIGEST_DOMAIN = b"pinflow-snapshot-v1\x00"


def canonical_json(value: Any) -> str:
    """Deterministic JSON text for plain data (dicts, lists, str, numbers, bools, None)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def spec_to_dict(spec: DagSpec) -> dict[str, Any]:
    data = spec.model_dump(mode="json")
    # A DAG without requirements keeps the document (and so the digest) it had before the
    # field existed: pushing unchanged code after an upgrade is still a no-op (ADR 0032).
    if not data["requirements"]:
        del data["requirements"]
    # Likewise a DAG that leaves its paused-at-creation flag to the instance (ADR 0035).
    if data["paused_at_creation"] is None:
        del data["paused_at_creation"]
    return data


def spec_from_dict(data: dict[str, Any]) -> DagSpec:
    return DagSpec.model_validate(data)


def spec_to_json(spec: DagSpec) -> str:
    return canonical_json(spec_to_dict(spec))


def spec_from_json(text: str) -> DagSpec:
    return DagSpec.model_validate_json(text)


def snapshot_digest(spec: DagSpec, bundle: bytes = b"") -> str:
    """sha256 over the canonical spec and the code bundle, hex-encoded (64 characters)."""
    return document_digest(spec_to_dict(spec), bundle)


def document_digest(spec: dict[str, Any], bundle: bytes = b"") -> str:
    """``snapshot_digest`` of a stored spec document, hashed as it is: what a worker checks a
    fetched snapshot with. (Parsing it first would fill in fields added to the spec since it
    was pushed, and the digest would no longer match.)"""
    h = hashlib.sha256(_DIGEST_DOMAIN)
    h.update(hashlib.sha256(canonical_json(spec).encode()).digest())
    h.update(hashlib.sha256(bundle).digest())
    return h.hexdigest()
