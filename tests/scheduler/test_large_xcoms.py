"""Large XComs end to end: real task processes write them to the artifact store, downstream
task processes read them, the API shows them, deleting a run removes them. SQLite and
PostgreSQL; the limits are small so that the tests stay fast."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from tests.api.helpers import bearer, client_for, make_app, make_user
from tests.scheduler.helpers import (
    DRAIN_TIMEOUT,
    make_settings,
    push_dag,
    run_state,
    task_instances,
    tries_of,
)

from pinflow.runtime.artifacts import open_store, run_prefix, xcom_key
from pinflow.scheduler.loop import Scheduler
from pinflow.services.commands._clear import clear_task_instances
from pinflow.services.commands._runs import trigger_run
from pinflow.services.xcom_values import value_of as get_xcom
from pinflow.settings import Settings
from pinflow.store.db import Database
from pinflow.store.tables import XCom

ROWS = 80_000  # "row-000000" as JSON: 13 bytes each, ~1 MB in all

BIG = """
    from pinflow import dag, task


    @task
    def produce():
        return [f"row-{i:06d}" for i in range(80_000)]


    @task
    def count(rows):
        return len(rows)


    @task
    def too_big():
        return "x" * 3_000_000


    @dag(dag_id="big")
    def big():
        count(produce())
        too_big()


    big()
"""

MAPPED = """
    from pinflow import dag, task


    @task
    def rows():
        return [f"{i}" + "x" * 199 for i in range(8)]


    @task
    def widen(row):
        return row * 6


    @task
    def total(parts):
        return sum(len(part) for part in parts)


    @dag(dag_id="mapped")
    def mapped():
        total(widen.expand(row=rows()))


    mapped()
"""


@pytest.fixture
def settings(db: Database, tmp_path: Path) -> Settings:
    return make_settings(db, tmp_path / "home", xcom_db_limit=1024, xcom_max_size=2_000_000)


@pytest.fixture
def api(db: Database, settings: Settings) -> tuple[httpx.Client, dict[str, str]]:
    make_user(db, "admin", superuser=True)
    app = make_app(db, settings.home)
    return client_for(app), bearer(app, "admin")


def run(db: Database, scheduler: Scheduler, dag_id: str, run_id: str = "r1") -> str:
    trigger_run(db, dag_id=dag_id, run_id=run_id, actor="tester")
    scheduler.wake()
    assert scheduler.drain(DRAIN_TIMEOUT), "the run did not finish in time"
    return run_state(db, dag_id, run_id)


def xcom_row(db: Database, run_pk: int, task_id: str, map_index: int = -1) -> dict[str, Any]:
    with db.read() as s:
        row = s.execute(
            select(
                XCom.value.is_(None).label("null"),
                XCom.artifact_uri,
                XCom.artifact_sha256,
                XCom.size,
                XCom.value_length,
            ).where(XCom.run_pk == run_pk, XCom.task_id == task_id, XCom.map_index == map_index)
        ).one()
        return {**row._asdict(), "null": bool(row.null)}


def test_a_large_list_goes_through_the_artifact_store(
    db: Database,
    scheduler: Scheduler,
    settings: Settings,
    tmp_path: Path,
    api: tuple[httpx.Client, dict[str, str]],
) -> None:
    push_dag(db, tmp_path / "dags", "big", BIG)
    assert run(db, scheduler, "big") == "failed"  # too_big fails; the rest succeeds
    tis = task_instances(db, "big", "r1")
    assert {t: ti.state for t, ti in tis.items()} == {
        "produce": "success",
        "count": "success",
        "too_big": "failed",
    }
    run_pk = tis["produce"].run_pk
    assert get_xcom(db, run_pk, "count") == ROWS

    path = settings.artifacts_dir / xcom_key("big", "r1", "produce", map_index=-1, try_number=1)
    data = path.read_bytes()
    assert xcom_row(db, run_pk, "produce") == {
        "null": True,
        "artifact_uri": path.as_uri(),
        "artifact_sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "value_length": ROWS,
    }
    assert len(data) > 1_000_000
    rows = get_xcom(db, run_pk, "produce", artifacts=open_store(settings.artifacts_uri))
    assert rows[:2] == ["row-000000", "row-000001"]

    (failed,) = tries_of(db, tis["too_big"].id)
    assert failed.error == (
        "XComTooLargeError: the return value of task 'too_big' is 3000002 bytes as JSON, more "
        "than the 2000000 bytes an XCom may have (xcom_max_size); write large data to the "
        "run's staging dir (PINFLOW_STAGING_DIR) or to your own storage and return its path "
        "instead"
    )

    client, headers = api
    entries = "/api/v2/dags/big/dagRuns/r1/taskInstances/produce/xcomEntries"
    listed = client.get(entries, headers=headers).json()
    assert [(e["key"], e["size"]) for e in listed["xcom_entries"]] == [("return_value", len(data))]
    entry = client.get(f"{entries}/return_value", headers=headers)
    assert entry.status_code == 200
    assert entry.json()["value"] == rows

    path.write_bytes(data.replace(b"row-012345", b"row-054321"))
    tampered = client.get(f"{entries}/return_value", headers=headers)
    assert tampered.status_code == 410
    detail = tampered.json()["detail"]
    assert detail.startswith(
        "The value of XCom 'return_value' of task 'produce' in run 'r1' cannot be read: the "
        f"artifact {path.as_uri()} is damaged"
    )
    assert detail.endswith("Clear the task to compute it again.")
    path.unlink()
    missing = client.get(f"{entries}/return_value", headers=headers)
    assert missing.status_code == 410
    assert "is missing: it was deleted outside Pinflow" in missing.json()["detail"]

    folder = settings.artifacts_dir / run_prefix("big", "r1")
    assert folder.is_dir()  # too_big wrote nothing; count's value is in the database
    assert client.delete("/api/v2/dags/big/dagRuns/r1", headers=headers).status_code == 204
    assert not folder.exists()


def test_expand_over_a_large_list_and_large_elements(
    db: Database,
    scheduler: Scheduler,
    settings: Settings,
    tmp_path: Path,
    api: tuple[httpx.Client, dict[str, str]],
) -> None:
    push_dag(db, tmp_path / "dags", "mapped", MAPPED)
    assert run(db, scheduler, "mapped") == "success"
    tis = task_instances(db, "mapped", "r1")
    run_pk = tis["total"].run_pk
    assert get_xcom(db, run_pk, "total") == 8 * 1200
    assert xcom_row(db, run_pk, "rows")["value_length"] == 8  # expanded by its length
    for i in range(8):  # each element's value is large too: the reduce got them by reference
        assert xcom_row(db, run_pk, "widen", i)["null"] is True
    store = open_store(settings.artifacts_uri)
    assert get_xcom(db, run_pk, "widen", map_index=3, artifacts=store) == ("3" + "x" * 199) * 6

    # A re-run writes the next try's artifact beside the first one's, never over it.
    clear_task_instances(
        db, "mapped", actor="tester", task_ids=["rows"], dag_run_id="r1", only_failed=False
    )
    scheduler.wake()
    assert scheduler.drain(DRAIN_TIMEOUT)
    assert run_state(db, "mapped", "r1") == "success"
    first, second = (
        settings.artifacts_dir / xcom_key("mapped", "r1", "rows", map_index=-1, try_number=n)
        for n in (1, 2)
    )
    assert json.loads(first.read_bytes()) == json.loads(second.read_bytes())
    assert xcom_row(db, run_pk, "rows")["artifact_uri"] == second.as_uri()

    client, headers = api
    assert client.delete("/api/v2/dags/mapped", headers=headers).status_code == 204
    assert not (settings.artifacts_dir / run_prefix("mapped", "r1")).exists()
