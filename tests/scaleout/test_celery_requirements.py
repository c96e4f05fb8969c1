"""Per-version requirements on a Celery worker (issue #18, point 4; ADR 0032): v1 and v2 of one
DAG, pinned to two versions of a package, run on one worker, each in its own environment,
built by the worker from local wheels (offline). Real Redis, API server, scheduler and worker
processes, on PostgreSQL."""

from __future__ import annotations

import textwrap
from pathlib import Path

from sqlalchemy import select
from tests.scaleout.test_celery import on_redis
from tests.support.wheels import write_wheel

from pinflow.sdk.compiler import compile_path
from pinflow.services.commands._push import register_snapshot
from pinflow.services.xcom_values import value_of
from pinflow.store.db import Database
from pinflow.store.tables import DagRun

DAG = """
    import sys

    from pinflow.sdk import dag, task


    @task
    def report():
        import pfdemo

        return [pfdemo.__version__, sys.executable]


    @dag(dag_id="pinned_celery", requirements=["pfdemo=={version}"])
    def pinned():
        report()


    pinned()
"""


def _publish(db: Database, folder: Path, version: str) -> str:
    folder.mkdir(parents=True)
    (folder / "pinned.py").write_text(textwrap.dedent(DAG.format(version=version)))
    (compiled,) = compile_path(folder)
    return register_snapshot(db, compiled.spec, compiled.bundle, actor="tester").version.id


def test_two_pinned_versions_run_side_by_side_on_a_worker(pg_db: Database, tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    write_wheel(wheels, "pfdemo", "1.0")
    write_wheel(wheels, "pfdemo", "2.0")
    v1 = _publish(pg_db, tmp_path / "v1", "1.0")
    _publish(pg_db, tmp_path / "v2", "2.0")
    with on_redis(pg_db, tmp_path) as (_broker, made):
        made.start_worker("w1", PINFLOW_PIP_ARGS=f"--no-index --find-links {wheels}")
        on_v2 = made.trigger("pinned_celery")
        on_v1 = made.trigger("pinned_celery", version_id=v1)
        finished = made.wait_finished("pinned_celery", [on_v1, on_v2], timeout=240)
        assert finished == {on_v1: "success", on_v2: "success"}, made.diagnostics()
    for run_id, version in ((on_v1, "1.0"), (on_v2, "2.0")):
        with pg_db.read() as s:
            run_pk = s.scalars(select(DagRun.id).filter_by(run_id=run_id)).one()
        seen, python = value_of(pg_db, run_pk, "report", "return_value", -1)
        assert seen == version
        assert python.startswith(str(tmp_path / "cluster" / "w1" / "venvs"))  # the worker's
