"""Audit entries of backfills (ADR 0040): created, paused, unpaused, cancelled."""

from __future__ import annotations

from pinflow.services.audit_events._actions import AuditAction as A
from pinflow.services.audit_events._entry import AuditEntry
from pinflow.store.tables import Backfill


def _on_backfill(action: A, backfill: Backfill, meta: dict[str, object]) -> AuditEntry:
    return AuditEntry(action, "backfill", str(backfill.id), backfill.dag_id, meta)


def backfill_created(backfill: Backfill, *, created: int, rerun: int, kept: int) -> AuditEntry:
    """The range, the version its runs are pinned to, and what it did with each date."""
    meta: dict[str, object] = {
        "fromDate": backfill.from_date.isoformat(),
        "toDate": backfill.to_date.isoformat(),
        "versionId": backfill.version_id,
        "reprocessBehavior": backfill.reprocess_behavior,
        "maxActiveRuns": backfill.max_active_runs,
        "runBackwards": backfill.run_backwards,
        "confKeys": sorted(backfill.dag_run_conf),
        "created": created,
        "rerun": rerun,
        "kept": kept,
    }
    return _on_backfill(A.BACKFILL_CREATED, backfill, meta)


def backfill_paused(backfill: Backfill, paused: bool) -> AuditEntry:
    return _on_backfill(A.BACKFILL_PAUSED if paused else A.BACKFILL_UNPAUSED, backfill, {})


def backfill_cancelled(backfill: Backfill, failed_runs: list[str]) -> AuditEntry:
    """``failed_runs``: the queued runs it failed (runs in flight go on)."""
    return _on_backfill(A.BACKFILL_CANCELLED, backfill, {"failedRuns": failed_runs})
