"""Assets in the services (ADR 0037): references follow the current version, a paused consumer
keeps its events queued, and two schedulers racing on PostgreSQL create exactly one run."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from pinflow.services.commands import _assets as asset_commands
from pinflow.services.commands import _dags as dags
from pinflow.services.commands._push import PushMode, register_snapshot
from pinflow.services.engine import create_asset_runs
from pinflow.spec.assets import AssetCondition, AssetSpec
from pinflow.spec.models import DagSpec, TaskSpec, TriggerSpec
from pinflow.store.db import Database
from pinflow.store.tables import Asset, AssetQueue, AssetReference, DagRun

X = AssetSpec(uri="s3://lake/x")


def consumer(dag_id: str, on: AssetSpec | None = X) -> DagSpec:
    trigger = TriggerSpec(assets=AssetCondition(asset=on)) if on is not None else TriggerSpec()
    task = TaskSpec(task_id="t", kind="bash", bash_command="true")
    return DagSpec(dag_id=dag_id, trigger=trigger, tasks=[task])


def publish(db: Database, spec: DagSpec) -> None:
    register_snapshot(db, spec, b"", actor="ci", mode=PushMode.PUBLISH)


def asset_id(db: Database, uri: str = X.uri) -> int:
    with db.read() as s:
        return s.scalars(select(Asset.id).where(Asset.uri == uri)).one()


def runs_of(db: Database, dag_id: str) -> list[str]:
    with db.read() as s:
        return list(s.scalars(select(DagRun.run_type).where(DagRun.dag_id == dag_id)))


def test_references_follow_the_current_version(db: Database) -> None:
    publish(db, consumer("c"))
    with db.read() as s:
        assert s.scalars(select(AssetReference.kind)).all() == ["schedule"]
    publish(db, consumer("c", on=None))  # the next version is on no asset
    with db.read() as s:
        assert s.scalars(select(AssetReference)).all() == []
        assert s.scalars(select(Asset.uri)).all() == [X.uri]  # the asset stays registered


def test_a_draft_on_assets_registers_nothing(db: Database) -> None:
    register_snapshot(db, consumer("c"), b"", actor="ci", mode=PushMode.DRAFT)
    with db.read() as s:
        assert s.scalars(select(Asset)).all() == []


def test_a_paused_consumer_keeps_its_events_until_unpaused(db: Database) -> None:
    publish(db, consumer("c"))
    dags.set_paused(db, "c", True, actor="ops")
    asset_commands.create_event(db, asset_id(db), extra=None, actor="ops")
    assert create_asset_runs(db) == 0
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(AssetQueue)) == 1
    dags.set_paused(db, "c", False, actor="ops")
    assert create_asset_runs(db) == 1
    assert runs_of(db, "c") == ["asset_triggered"]
    assert create_asset_runs(db) == 0  # consumed


CONSUMERS = 12


@pytest.mark.postgresql_only
def test_two_schedulers_create_exactly_one_run_per_consumer(db: Database) -> None:
    for i in range(CONSUMERS):
        publish(db, consumer(f"c{i}"))
    asset_commands.create_event(db, asset_id(db), extra=None, actor="ops")
    barrier = threading.Barrier(2)
    created: list[int] = []
    errors: list[BaseException] = []

    def scheduler() -> None:  # what each scheduler's loop calls, on its own connections
        own = Database(db.url)
        try:
            barrier.wait(timeout=10)
            created.append(create_asset_runs(own))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            own.dispose()

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert sum(created) == CONSUMERS
    for i in range(CONSUMERS):
        assert runs_of(db, f"c{i}") == ["asset_triggered"]
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(AssetQueue)) == 0
