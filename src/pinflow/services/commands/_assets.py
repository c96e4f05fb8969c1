"""A manual asset event (Airflow's ``POST /api/v2/assets/events``): recorded and queued for
the DAGs scheduled on the asset, as a producer's success would, with its audit event, in one
transaction (ADR 0037)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select

from pinflow.errors import NotFoundError
from pinflow.services import audit_events as events
from pinflow.services.audit_events import record
from pinflow.services.common import now
from pinflow.services.engine import _assets as engine_assets
from pinflow.store.db import Database
from pinflow.store.tables import Asset, AssetQueue


def create_event(
    db: Database, asset_id: int, *, extra: Mapping[str, Any] | None, actor: str
) -> int:
    """Record a manual event of asset ``asset_id``; returns the event's id."""
    with db.transaction() as s:
        asset = s.get(Asset, asset_id)
        if asset is None:
            raise NotFoundError(f"Asset {asset_id} was not found.")
        event = engine_assets.emit_event(
            s, asset.id, stamp=now(), extra={"from_rest_api": True, **(extra or {})}
        )
        event.created_by = actor
        queued = s.scalars(
            select(AssetQueue.target_dag_id).where(AssetQueue.event_id == event.id)
        ).all()
        record(s, actor, events.asset_event_created(asset.uri, event.id, list(queued)))
        return event.id
