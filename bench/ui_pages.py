"""How quick the web UI's pages stay at scale: 1,000 DAGs and 100,000 runs on SQLite.

Seeds a temporary SQLite database with bulk inserts (a third of the DAGs have a deprecated v1
and an active v2; every run has one task instance per task and an audit event), starts the
real app under uvicorn, signs in, and times each main page over N requests (p50 and p99, in
milliseconds, measured by the client over loopback). Pages are paginated, so their cost must
not grow with the number of DAGs or runs.

    .venv/bin/python bench/ui_pages.py                 # 1000 DAGs, 100000 runs, 30 requests
    .venv/bin/python bench/ui_pages.py --dags 100 --runs 5000 --requests 10 --max-p99 500
"""

from __future__ import annotations

import argparse
import hashlib
import socket
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from sqlalchemy import insert, select, update

from pinflow.api.app import create_app
from pinflow.api.auth import AuthConfig, issue_access_token
from pinflow.services.commands import _users as users
from pinflow.settings import Settings
from pinflow.spec.canonical import spec_to_dict
from pinflow.store import migrate
from pinflow.store.db import Database
from pinflow.store.tables import (
    AuditEvent,
    Dag,
    DagRun,
    Project,
    Snapshot,
    TaskInstance,
    WorkflowDefinition,
)
from pinflow.testing import make_spec
from pinflow.ui.session import COOKIE

TASKS = {"extract": [], "transform": ["extract"], "load": ["transform"]}
CHUNK = 5000
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def chunks(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    for i in range(0, len(rows), CHUNK):
        yield rows[i : i + CHUNK]


def _snapshot(dag_id: str, n: int) -> tuple[dict[str, Any], str]:
    spec = make_spec(dag_id, TASKS, name=f"Pipeline {dag_id}", trigger={"schedule": "@daily"})
    data = spec_to_dict(spec)
    data["description"] = f"version {n}"
    digest = hashlib.sha256(f"{dag_id}/{n}".encode()).hexdigest()
    row = {"digest": digest, "dag_id": dag_id, "spec": data, "bundle": b"", "bundle_size": 0}
    return row, digest


def _version(dag_id: str, n: int, digest: str, status: str, source: str | None) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "dag_id": dag_id,
        "version": n,
        "status": status,
        "source_workflow_id": source,
        "snapshot_digest": digest,
        "name": f"Pipeline {dag_id}",
        "project_id": 1,
        "created_at": T0,
        "updated_at": T0,
        "published_at": T0,
    }


def seed_dags(db: Database, count: int) -> list[tuple[str, str]]:
    """DAGs, snapshots and versions; returns (dag_id, current version id) per DAG."""
    snapshots, versions, dags, current = [], [], [], []
    for i in range(count):
        dag_id = f"dag_{i:05d}"
        dags.append({"dag_id": dag_id, "project_id": 1, "created_at": T0, "updated_at": T0})
        snap, digest = _snapshot(dag_id, 1)
        snapshots.append(snap)
        v1 = _version(dag_id, 1, digest, "active", None)
        versions.append(v1)
        if i % 3 == 0:
            v1["status"] = "deprecated"
            snap2, digest2 = _snapshot(dag_id, 2)
            snapshots.append(snap2)
            versions.append(_version(dag_id, 2, digest2, "active", v1["id"]))
        current.append((dag_id, versions[-1]["id"]))
    with db.transaction() as s:
        s.execute(insert(Project), [{"name": "default"}])
        s.execute(insert(Dag), dags)
        s.execute(insert(Snapshot), snapshots)
        s.execute(insert(WorkflowDefinition), versions)
        for dag_id, version_id in current:
            s.execute(update(Dag).where(Dag.dag_id == dag_id).values(current_version_id=version_id))
    return current


def _run_rows(
    current: list[tuple[str, str]], runs: int, digests: dict[str, str]
) -> list[dict[str, Any]]:
    rows = []
    for n in range(runs):
        dag_id, version_id = current[n % len(current)]
        at = T0 + timedelta(minutes=n)
        rows.append(
            {
                "id": n + 1,
                "dag_id": dag_id,
                "run_id": f"scheduled__{at.isoformat()}",
                "version_id": version_id,
                "snapshot_digest": digests[version_id],
                "run_type": "scheduled",
                "state": "failed" if n % 10 == 0 else "success",
                "logical_date": at,
                "run_after": at,
                "conf": {},
                "params": {},
                "start_date": at,
                "end_date": at + timedelta(seconds=42),
                "created_at": at,
                "updated_at": at,
            }
        )
    return rows


def _task_rows(run: dict[str, Any]) -> list[dict[str, Any]]:
    """One task instance per task; a failed run failed at ``load``."""
    return [
        {
            "run_pk": run["id"],
            "dag_id": run["dag_id"],
            "task_id": task_id,
            "state": "failed" if run["state"] == "failed" and task_id == "load" else "success",
            "try_number": 1,
            "max_tries": 1,
            "start_date": run["start_date"],
            "end_date": run["end_date"],
            "updated_at": run["updated_at"],
        }
        for task_id in TASKS
    ]


def _event_row(run: dict[str, Any]) -> dict[str, Any]:
    return {
        "at": run["created_at"],
        "actor": "scheduler",
        "action": "run.triggered",
        "target_type": "dag_run",
        "target_id": f"{run['dag_id']}/{run['run_id']}",
        "dag_id": run["dag_id"],
        "meta": {},
    }


def seed_runs(db: Database, current: list[tuple[str, str]], runs: int) -> None:
    with db.read() as s:
        pairs = s.execute(select(WorkflowDefinition.id, WorkflowDefinition.snapshot_digest))
        digests = {version_id: digest for version_id, digest in pairs}
    rows = _run_rows(current, runs, digests)
    tis = [ti for run in rows for ti in _task_rows(run)]
    events = [_event_row(run) for run in rows]
    with db.transaction() as s:
        for table, data in ((DagRun, rows), (TaskInstance, tis), (AuditEvent, events)):
            for part in chunks(data):
                s.execute(insert(table), part)


def serve(db: Database, home: Path, auth: AuthConfig) -> tuple[str, uvicorn.Server]:
    app = create_app(db, Settings(home=home), auth_config=auth)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", ws="none", lifespan="off"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.01)
    return f"http://127.0.0.1:{sock.getsockname()[1]}", server


def pages(current: list[tuple[str, str]], runs: int) -> dict[str, str]:
    index = len(current) // 6 * 3  # a multiple of 3: a DAG with two versions
    dag_id, version_id = current[index]
    first_run = index + 1
    run_at = T0 + timedelta(minutes=first_run - 1)
    deep = max((len(current) * 4 // 3) // 25 * 25 - 25, 0)
    return {
        "list": "/ui/workflows",
        "list, last page": f"/ui/workflows?offset={deep}",
        "list, deprecated": "/ui/workflows?status=deprecated",
        "list, search": f"/ui/workflows?search={dag_id}",
        "detail": f"/ui/workflows/{version_id}",
        "designer": f"/ui/workflows/{version_id}/designer",
        "diff": f"/ui/workflows/{version_id}/diff",
        "runs grid": f"/ui/dags/{dag_id}/runs",
        "runs grid, page 3": f"/ui/dags/{dag_id}/runs?offset=50",
        "run detail": f"/ui/dags/{dag_id}/runs/scheduled__{run_at.isoformat()}",
        "audit": "/ui/audit",
        "audit, filtered": f"/ui/audit?action=run.&target={dag_id}",
    }


def measure(client: httpx.Client, path: str, n: int) -> tuple[float, float]:
    client.get(
        path, follow_redirects=True
    ).raise_for_status()  # warm (and fail loudly on a broken page)
    times = []
    for _ in range(n):
        start = time.perf_counter()
        client.get(path, follow_redirects=True).raise_for_status()
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[min(len(times) - 1, int(len(times) * 0.99))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dags", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--max-p99", type=float, default=None, help="fail above this (ms)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        db = Database(f"sqlite:///{home / 'pinflow.db'}")
        migrate.upgrade(db)
        started = time.perf_counter()
        current = seed_dags(db, args.dags)
        seed_runs(db, current, args.runs)
        print(f"seeded {args.dags} DAGs, {args.runs} runs in {time.perf_counter() - started:.1f}s")
        users.create_user(db, "bench", "bench password 123", actor="bench", is_superuser=True)
        auth = AuthConfig(jwt_secret="bench-" + "0" * 40)
        url, server = serve(db, home, auth)
        worst = 0.0
        with httpx.Client(base_url=url, cookies={COOKIE: issue_access_token(auth, "bench")}) as c:
            print(f"{'page':<20} {'p50 ms':>8} {'p99 ms':>8}   ({args.requests} requests each)")
            for name, path in pages(current, args.runs).items():
                p50, p99 = measure(c, path, args.requests)
                worst = max(worst, p99)
                print(f"{name:<20} {p50:>8.1f} {p99:>8.1f}")
        server.should_exit = True
        db.dispose()
    if args.max_p99 is not None and worst > args.max_p99:
        print(f"FAIL: a page's p99 is {worst:.0f} ms > {args.max_p99:.0f} ms")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
