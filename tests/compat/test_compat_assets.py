"""Assets end to end (ADR 0037): Airflow DAG files pushed unmodified; a producer's success
records an event per outlet and the scheduler creates the consumers' ``asset_triggered`` runs,
on SQLite and PostgreSQL, with the real scheduler and task processes."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from sqlalchemy import select
from tests.compat.asset_dag_files import CONSUMERS, PRODUCERS
from tests.scheduler.helpers import DRAIN_TIMEOUT, run

from pinflow.scheduler.loop import Scheduler
from pinflow.sdk.compiler import compile_path
from pinflow.services.commands._assets import create_event
from pinflow.services.commands._push import register_snapshot
from pinflow.services.xcom_values import value_of as get_xcom
from pinflow.store.db import Database
from pinflow.store.tables import Asset, AssetEvent, AssetQueue, AssetTriggeredRun, DagRun


def push_dags(db: Database, folder: Path, files: dict[str, str]) -> None:
    """Write the files, compile the folder, publish every DAG in it."""
    folder.mkdir(parents=True, exist_ok=True)
    for module, source in files.items():
        (folder / f"{module}.py").write_text(textwrap.dedent(source))
    for compiled in compile_path(folder):
        register_snapshot(db, compiled.spec, compiled.bundle, actor="tester")


@pytest.fixture
def dags(db: Database, tmp_path: Path) -> None:
    push_dags(db, tmp_path / "dags", {"producers": PRODUCERS, "consumers": CONSUMERS})


def asset_runs(db: Database, dag_id: str) -> list[tuple[str, str, list[str]]]:
    """Each asset-triggered run of ``dag_id``: its state, type, and the uris of its events."""
    with db.read() as s:
        runs = s.scalars(select(DagRun).where(DagRun.dag_id == dag_id).order_by(DagRun.id)).all()
        found = []
        for r in runs:
            uris = s.scalars(
                select(Asset.uri)
                .join(AssetEvent, AssetEvent.asset_id == Asset.id)
                .join(AssetTriggeredRun, AssetTriggeredRun.event_id == AssetEvent.id)
                .where(AssetTriggeredRun.run_pk == r.id)
                .order_by(AssetEvent.id)
            ).all()
            found.append((r.state, r.run_type, list(uris)))
        return found


def test_a_producers_success_triggers_the_dags_scheduled_on_its_asset(
    db: Database, scheduler: Scheduler, dags: None
) -> None:
    assert run(db, scheduler, "make_orders") == "success"
    assert asset_runs(db, "on_orders") == [("success", "asset_triggered", ["s3://sales/orders"])]
    assert asset_runs(db, "on_either") == [("success", "asset_triggered", ["s3://sales/orders"])]
    assert asset_runs(db, "on_both") == []  # refunds not updated yet: its event waits
    with db.read() as s:
        run_pk = s.scalars(select(DagRun.id).where(DagRun.dag_id == "on_orders")).one()
    # the consumer's task read its context's triggering_asset_events
    assert get_xcom(db, run_pk, "report") == [True, "make_orders", {}]
    with db.read() as s:
        (event,) = s.scalars(select(AssetEvent)).all()
        assert (event.source_dag_id, event.source_run_id, event.source_task_id) == (
            "make_orders",
            "r1",
            "extract",
        )
        waiting = s.scalars(select(AssetQueue.target_dag_id)).all()
    assert waiting == ["on_both"]


def test_an_and_runs_once_both_producers_succeeded_consuming_every_event(
    db: Database, scheduler: Scheduler, dags: None
) -> None:
    assert run(db, scheduler, "make_orders", "r1") == "success"
    assert run(db, scheduler, "make_orders", "r2") == "success"
    assert asset_runs(db, "on_both") == []
    assert run(db, scheduler, "make_refunds") == "success"  # a BashOperator's outlets
    uris = ["s3://sales/orders", "s3://sales/orders", "s3://sales/refunds"]
    assert asset_runs(db, "on_both") == [("success", "asset_triggered", uris)]
    assert len(asset_runs(db, "on_either")) == 3  # one per event: each satisfies the `|`
    with db.read() as s:
        assert s.scalars(select(AssetQueue)).all() == []


def test_a_failed_producer_records_no_event_and_triggers_nothing(
    db: Database, scheduler: Scheduler, dags: None
) -> None:
    assert run(db, scheduler, "broken_orders") == "failed"
    with db.read() as s:
        assert s.scalars(select(AssetEvent)).all() == []
    assert asset_runs(db, "on_orders") == []
    assert asset_runs(db, "on_either") == []


def test_a_manual_event_triggers_the_dags_scheduled_on_the_asset(
    db: Database, scheduler: Scheduler, dags: None
) -> None:
    # what POST /api/v2/assets/events does (its route is tested in tests/api)
    with db.read() as s:
        refunds = s.scalars(select(Asset.id).where(Asset.uri == "s3://sales/refunds")).one()
    create_event(db, refunds, extra={"note": "backfilled"}, actor="ops")
    scheduler.wake()
    assert scheduler.drain(DRAIN_TIMEOUT)
    assert asset_runs(db, "on_either") == [("success", "asset_triggered", ["s3://sales/refunds"])]
    assert asset_runs(db, "on_both") == []
