"""The scheduler applies the DAGs' retirement policies (ADR 0031): at start and on its sweeps,
with a real local executor; a version whose run is in flight is purged only once drained."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from tests.scheduler.helpers import DRAIN_TIMEOUT, make_settings, run_state, running_scheduler

from pinflow.lifecycle.states import VersionStatus
from pinflow.services.commands import retirement, versions
from pinflow.services.commands._push import register_snapshot
from pinflow.services.commands._retirement import PolicyInput
from pinflow.services.commands._runs import trigger_run
from pinflow.services.reads import queries
from pinflow.store.db import Database
from pinflow.store.tables import AuditEvent, DagRun
from pinflow.testing import make_spec


def push(db: Database, command: str) -> str:
    spec = make_spec("etl", {"a": []}, task_fields={"a": {"bash_command": command}})
    return register_snapshot(db, spec, b"", actor="ci").version.id


def by_policy(db: Database) -> dict[tuple[str, str], datetime]:
    with db.read() as s:
        rows = s.execute(
            select(AuditEvent.action, AuditEvent.target_id, AuditEvent.at).where(
                AuditEvent.actor == "policy"
            )
        ).all()
    return {(r.action, r.target_id): r.at for r in rows}


def test_the_scheduler_retires_and_waits_for_runs_in_flight(db: Database, tmp_path: Path) -> None:
    settings = make_settings(db, tmp_path, retirement_interval=0.0)
    v1 = push(db, "echo 1")
    trigger_run(db, version_id=v1, run_id="busy", actor="alice")
    v2, v3 = push(db, "echo 2"), push(db, "echo 3")
    versions.deprecate(db, v1, actor="alice")  # its run is still queued
    policy = PolicyInput(keep_active=1, purge_deprecated_after=timedelta(0))
    retirement.set_policy(db, "etl", policy, actor="alice")

    with running_scheduler(db, settings) as scheduler:
        # Applied at start: v2 is beyond keep_active; v1 waits for its run.
        assert set(by_policy(db)) == {("workflow.deprecated", v2)}
        assert scheduler.drain(DRAIN_TIMEOUT)
    assert run_state(db, "etl", "busy") == "success"  # in flight on a deprecated version

    with running_scheduler(db, settings):  # a scheduler (re)starting applies what is due
        pass
    done = by_policy(db)
    assert set(done) == {
        ("workflow.deprecated", v2),
        ("workflow.deleted", v1),
        ("workflow.deleted", v2),
    }
    with db.read() as s:
        ended = s.scalars(select(DagRun.end_date).where(DagRun.run_id == "busy")).one()
    assert ended is not None
    assert done[("workflow.deleted", v1)] >= ended  # never while its run was in flight
    assert queries.get_version(db, v1).deleted
    current = queries.get_version(db, v3)
    assert (current.status, current.deleted, current.is_current) == (
        VersionStatus.ACTIVE,
        False,
        True,
    )
