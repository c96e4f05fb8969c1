"""Shared by the scheduler tests: write, compile and push DAG files; run a real scheduler."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import select

from pinflow.executors.local_channel import ChannelledLocalExecutor
from pinflow.scheduler.loop import Scheduler
from pinflow.sdk.compiler import CompiledDag, compile_path
from pinflow.services.commands._push import register_snapshot
from pinflow.services.commands._runs import trigger_run
from pinflow.settings import Settings
from pinflow.store.db import Database
from pinflow.store.tables import DagRun, TaskInstance, TaskInstanceTry

DRAIN_TIMEOUT = 60.0


def make_settings(db: Database, home: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "home": home,
        "database_url": db.url,
        "parallelism": 4,
        "sweep_interval": 0.5,
        "stop_grace": 2.0,
    }
    return Settings(**{**values, **overrides})


def push_dag(db: Database, folder: Path, module: str, source: str) -> CompiledDag:
    """Write ``<folder>/<module>.py``, compile the folder, register its DAG (published)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{module}.py").write_text(textwrap.dedent(source))
    (compiled,) = [c for c in compile_path(folder) if c.source_file == f"{module}.py"]
    register_snapshot(db, compiled.spec, compiled.bundle, actor="tester")
    return compiled


@contextmanager
def running_scheduler(db: Database, settings: Settings) -> Iterator[Scheduler]:
    scheduler = Scheduler(db, ChannelledLocalExecutor.from_settings(settings), settings)
    scheduler.start()
    try:
        yield scheduler
    finally:
        scheduler.close()


def run_state(db: Database, dag_id: str, run_id: str) -> str:
    with db.read() as s:
        return s.scalars(
            select(DagRun.state).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
        ).one()


def task_instances(db: Database, dag_id: str, run_id: str) -> dict[str, TaskInstance]:
    with db.read() as s:
        rows = s.scalars(
            select(TaskInstance)
            .join(DagRun, DagRun.id == TaskInstance.run_pk)
            .where(DagRun.dag_id == dag_id, DagRun.run_id == run_id)
        ).all()
        return {row.task_id: row for row in rows}


def tries_of(db: Database, ti_id: int) -> list[TaskInstanceTry]:
    with db.read() as s:
        return list(
            s.scalars(
                select(TaskInstanceTry)
                .where(TaskInstanceTry.ti_id == ti_id)
                .order_by(TaskInstanceTry.try_number)
            )
        )


def run(db: Database, scheduler: Scheduler, dag_id: str, run_id: str = "r1") -> str:
    """Trigger a run, wake the scheduler and drain it; the run's final state."""
    trigger_run(db, dag_id=dag_id, run_id=run_id, actor="tester")
    scheduler.wake()
    assert scheduler.drain(DRAIN_TIMEOUT), "the run did not finish in time"
    return run_state(db, dag_id, run_id)
