"""Assets in the engine (docs/adr/0037): who mentions them, the events a task's success
emits, and the ``asset_triggered`` runs of the DAGs scheduled on them.

- ``sync_references``: when a DAG's current version changes, its assets are registered and
  its references (scheduled on, outlets, inlets) rewritten, in that transaction.
- ``emit_outlet_events``: in the transaction that records a task's success, one event per
  outlet, queued for every DAG scheduled on the asset; the commit wakes the schedulers.
- ``create_asset_runs``: the scheduler, per DAG with queued events, under the DAG's lock:
  when its condition holds (``lifecycle.asset_rules``), one run that consumes the events.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, Table, delete, insert, select
from sqlalchemy.orm import Session

from pinflow.errors import ConflictError
from pinflow.lifecycle.asset_rules import QueuedEvent, decide_asset_run
from pinflow.lifecycle.states import RunType, VersionStatus
from pinflow.services import common
from pinflow.services.common import SYSTEM_ACTOR, for_update
from pinflow.services.engine import _wakeups as wakeups
from pinflow.services.engine._run_rows import RunSpec, insert_run
from pinflow.spec.assets import AssetSpec
from pinflow.spec.models import DagSpec
from pinflow.spec.validation import validate_conf
from pinflow.store import repo
from pinflow.store.db import Database
from pinflow.store.dialect import dialect_ops
from pinflow.store.tables import (
    Asset,
    AssetEvent,
    AssetQueue,
    AssetReference,
    AssetTriggeredRun,
    Dag,
    DagRun,
    WorkflowDefinition,
)

SCHEDULE, OUTLET, INLET = "schedule", "outlet", "inlet"
_ASSET = cast(Table, Asset.__table__)


def asset_ids(s: Session, assets: Sequence[AssetSpec], stamp: datetime) -> dict[str, int]:
    """The ids of ``assets`` by uri, registering those that are new (concurrent registrations
    of one uri both succeed) and updating the others' name, group and extra."""
    ops = dialect_ops(s)
    for asset in {a.uri: a for a in assets}.values():
        values = {
            "uri": asset.uri,
            "name": asset.name,
            "group": asset.group,
            "extra": asset.extra,
            "created_at": stamp,
            "updated_at": stamp,
        }
        s.execute(
            ops.upsert(
                _ASSET,
                values,
                ["uri"],
                lambda new: {"name": new["name"], "group": new["group"], "extra": new["extra"]},
            )
        )
    uris = [a.uri for a in assets]
    rows = s.execute(select(Asset.uri, Asset.id).where(Asset.uri.in_(uris))).all()
    return {uri: asset_id for uri, asset_id in rows}


def sync_references(s: Session, dag_id: str, spec: DagSpec | None) -> None:
    """Rewrite ``dag_id``'s references from its current version's ``spec`` (``None``: it has
    none any more)."""
    s.execute(delete(AssetReference).where(AssetReference.dag_id == dag_id))
    if spec is None:
        return
    refs: list[tuple[str, str, AssetSpec]] = []
    if spec.trigger.assets is not None:
        refs += [(SCHEDULE, "", asset) for asset in spec.trigger.assets.assets()]
    for task in spec.tasks:
        refs += [(OUTLET, task.task_id, asset) for asset in task.outlets]
        refs += [(INLET, task.task_id, asset) for asset in task.inlets]
    if not refs:
        return
    ids = asset_ids(s, [asset for _, _, asset in refs], common.now())
    rows = {
        (ids[asset.uri], kind, task_id): {
            "asset_id": ids[asset.uri],
            "dag_id": dag_id,
            "kind": kind,
            "task_id": task_id,
        }
        for kind, task_id, asset in refs
    }
    s.execute(insert(AssetReference), list(rows.values()))


def emit_event(
    s: Session,
    asset_id: int,
    *,
    stamp: datetime,
    extra: Mapping[str, Any] | None = None,
    source: tuple[str, str, str, int] | None = None,
    created_by: str | None = None,
) -> AssetEvent:
    """Record one event of the asset and queue it for every DAG scheduled on it."""
    dag_id, run_id, task_id, map_index = source or (None, None, None, -1)
    event = AssetEvent(
        asset_id=asset_id,
        extra=dict(extra or {}),
        source_dag_id=dag_id,
        source_run_id=run_id,
        source_task_id=task_id,
        source_map_index=map_index,
        created_by=created_by,
        timestamp=stamp,
    )
    s.add(event)
    s.flush()
    consumers = s.scalars(
        select(AssetReference.dag_id).where(
            AssetReference.asset_id == asset_id, AssetReference.kind == SCHEDULE
        )
    ).all()
    if consumers:
        rows = [
            {"event_id": event.id, "asset_id": asset_id, "target_dag_id": d, "created_at": stamp}
            for d in consumers
        ]
        s.execute(insert(AssetQueue), rows)
        wakeups.run_queued(s)  # the schedulers look for asset runs at once
    return event


def emit_outlet_events(
    s: Session,
    outlets: Sequence[AssetSpec],
    source: tuple[str, str, str, int],
    stamp: datetime,
    extras: Mapping[str, Mapping[str, Any]] | None = None,
) -> int:
    """One event per outlet of a task that succeeded (``source``: dag, run, task, map
    index), with the ``extra`` the task set for it (by uri); returns how many."""
    if not outlets:
        return 0
    ids = asset_ids(s, outlets, stamp)
    for asset in outlets:
        extra = (extras or {}).get(asset.uri)
        emit_event(s, ids[asset.uri], stamp=stamp, extra=extra, source=source)
    return len(outlets)


def triggering_events(s: Session, run_pk: int) -> list[dict[str, Any]]:
    """The events an ``asset_triggered`` run consumed, as its tasks' context shows them."""
    rows = s.execute(
        select(AssetEvent, Asset.uri, Asset.name, Asset.group)
        .join(AssetTriggeredRun, AssetTriggeredRun.event_id == AssetEvent.id)
        .join(Asset, Asset.id == AssetEvent.asset_id)
        .where(AssetTriggeredRun.run_pk == run_pk)
        .order_by(AssetEvent.id)
    ).all()
    return [
        {
            "id": event.id,
            "uri": uri,
            "name": name,
            "group": group,
            "extra": dict(event.extra or {}),
            "source_dag_id": event.source_dag_id,
            "source_run_id": event.source_run_id,
            "source_task_id": event.source_task_id,
            "source_map_index": event.source_map_index,
            "timestamp": event.timestamp.isoformat(),
        }
        for event, uri, name, group in rows
    ]


def waiting_dags(db: Database) -> list[str]:
    """The DAGs whose queued events satisfy their condition now: unpaused, registered, their
    current version active and on assets. Read without locks, so that a DAG still waiting
    for the other asset of an ``&`` costs each poll a row in one read, not a transaction."""
    with db.read() as s:
        rows = s.execute(
            select(AssetQueue.target_dag_id, WorkflowDefinition.snapshot_digest)
            .join(Dag, Dag.dag_id == AssetQueue.target_dag_id)
            .join(WorkflowDefinition, WorkflowDefinition.id == Dag.current_version_id)
            .where(Dag.is_paused.is_(False), Dag.deregistered_at.is_(None))
            .where(WorkflowDefinition.status == VersionStatus.ACTIVE.value)
            .distinct()
            .order_by(AssetQueue.target_dag_id)
        ).all()
        due = []
        for dag_id, digest in rows:
            condition = repo.cached_spec(s, digest).trigger.assets
            if decide_asset_run(condition, _queued(s, dag_id)).creates_run:
                due.append(dag_id)
        return due


def create_asset_runs(db: Database, *, now: datetime | None = None) -> int:
    """An ``asset_triggered`` run of each DAG whose condition its queued events satisfy (one
    transaction per DAG, under its lock); returns how many runs were created."""
    created = 0
    for dag_id in waiting_dags(db):
        try:
            created += _create_for_dag(db, dag_id, now)
        except ConflictError:  # another scheduler consumed them: nothing to do here
            continue
    return created


def _create_for_dag(db: Database, dag_id: str, now: datetime | None) -> int:
    with db.transaction() as s:
        # The DAG's lock orders schedulers: the second finds the queue consumed (ADR 0037).
        dag = s.scalars(for_update(select(Dag).where(Dag.dag_id == dag_id))).one_or_none()
        if dag is None or dag.is_paused or dag.deregistered_at is not None:
            return 0
        version = s.get(WorkflowDefinition, dag.current_version_id or "")
        if version is None or version.status != VersionStatus.ACTIVE or version.deleted_at:
            return 0
        spec = repo.cached_spec(s, version.snapshot_digest)
        queued = _queued(s, dag_id)
        decision = decide_asset_run(spec.trigger.assets, queued)
        if not decision.creates_run:
            return 0
        ids = [event.queue_id for event in decision.consume]
        consumed = s.execute(delete(AssetQueue).where(AssetQueue.id.in_(ids)))
        if cast(CursorResult[Any], consumed).rowcount != len(ids):
            raise ConflictError(f"the asset events queued for {dag_id!r} changed concurrently")
        run = _insert(s, version, spec, now or common.now(), decision.consume)
        rows = [{"run_pk": run.id, "event_id": e.event_id} for e in decision.consume]
        s.execute(insert(AssetTriggeredRun), rows)
        return 1


def _queued(s: Session, dag_id: str) -> list[QueuedEvent]:
    rows = s.execute(
        select(AssetQueue.id, AssetQueue.event_id, Asset.uri)
        .join(Asset, Asset.id == AssetQueue.asset_id)
        .where(AssetQueue.target_dag_id == dag_id)
        .order_by(AssetQueue.id)
    ).all()
    return [QueuedEvent(queue_id, event_id, uri) for queue_id, event_id, uri in rows]


def _insert(
    s: Session,
    version: WorkflowDefinition,
    spec: DagSpec,
    stamp: datetime,
    consumed: Sequence[QueuedEvent],
) -> DagRun:
    run_id = f"{RunType.ASSET_TRIGGERED.value}__{stamp.isoformat()}"
    taken = s.scalars(
        select(DagRun.id).where(DagRun.dag_id == version.dag_id, DagRun.run_id == run_id)
    ).first()
    if taken is not None:  # two runs in one microsecond: keep run ids unique
        run_id = f"{run_id}_{consumed[0].event_id}"
    new = RunSpec(
        run_id,
        RunType.ASSET_TRIGGERED,
        SYSTEM_ACTOR,
        stamp,
        stamp,
        stamp,
        {},
        validate_conf(spec, {}),
    )
    meta = {"assetEvents": [e.event_id for e in consumed]}
    return insert_run(s, version, spec, new, meta=meta)
