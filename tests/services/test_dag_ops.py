"""Seed 000's DAG operations: clear history, deregister / restore / re-push, purge, pause.

Runs are made "running" by updating their state directly in a test transaction: that is test
setup (there is no executor here), not a mock.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select, update

from pinflow.errors import ConflictError, NotFoundError
from pinflow.services.commands import _dags as dags
from pinflow.services.commands._push import PushMode, register_snapshot
from pinflow.services.commands._runs import trigger_run
from pinflow.services.commands._version_deletes import soft_delete
from pinflow.services.reads import _dag_queries as dag_queries
from pinflow.services.reads._audit_log import query_audit
from pinflow.services.reads._dag_queries import DagFilter
from pinflow.services.reads._queries import list_versions
from pinflow.spec.models import DagSpec, TaskSpec
from pinflow.store.db import Database
from pinflow.store.tables import (
    Dag,
    DagRun,
    Snapshot,
    StagingDir,
    TaskInstance,
    TaskInstanceTry,
    WorkflowDefinition,
    XCom,
)


def make_spec(dag_id: str = "etl", description: str | None = None) -> DagSpec:
    return DagSpec(
        dag_id=dag_id,
        name=dag_id.upper(),
        description=description,
        tasks=[
            TaskSpec(task_id="a", kind="bash", bash_command="true"),
            TaskSpec(task_id="b", kind="bash", bash_command="true", depends_on=["a"]),
        ],
    )


def publish(db: Database, dag_id: str = "etl", description: str | None = None) -> str:
    spec = make_spec(dag_id, description)
    return register_snapshot(db, spec, b"", actor="ci", mode=PushMode.PUBLISH).version.id


def run_with_history(db: Database, dag_id: str, run_id: str, states: dict[str, str]) -> int:
    """A run whose tasks are in ``states``, with a staging dir, a try with a log, an XCom."""
    run = trigger_run(db, dag_id=dag_id, run_id=run_id, actor="alice")
    done = all(s in ("success", "failed", "upstream_failed") for s in states.values())
    with db.transaction() as s:
        s.execute(
            update(DagRun).where(DagRun.id == run.id).values(state="success" if done else "running")
        )
        for task_id, state in states.items():
            s.execute(
                update(TaskInstance)
                .where(TaskInstance.run_pk == run.id, TaskInstance.task_id == task_id)
                .values(state=state, try_number=1)
            )
        ti = s.scalars(
            select(TaskInstance.id).where(
                TaskInstance.run_pk == run.id, TaskInstance.task_id == "a"
            )
        ).one()
        s.add(StagingDir(run_pk=run.id, path=f"/staging/{dag_id}/{run_id}"))
        s.add(XCom(run_pk=run.id, task_id="a", value={"rows": 1}))
        s.add(
            TaskInstanceTry(
                ti_id=ti,
                try_number=1,
                state=states["a"],
                snapshot_digest=run.snapshot_digest,
                log_path=f"/logs/{dag_id}/{run_id}/a/1.log",
            )
        )
    return run.id


def count(db: Database, table: Any, *where: Any) -> int:
    with db.read() as s:
        return s.scalars(select(func.count()).select_from(table).where(*where)).one()


def actions(db: Database, dag_id: str) -> list[str]:
    events, _ = query_audit(db, dag_id=dag_id, order="asc", limit=1000)
    return [e.action for e in events]


def ti_states(db: Database, run_pk: int) -> dict[str, str]:
    with db.read() as s:
        rows = s.execute(
            select(TaskInstance.task_id, TaskInstance.state).where(TaskInstance.run_pk == run_pk)
        ).all()
        return {task_id: state for task_id, state in rows}


# --- clear history -----------------------------------------------------------------------------


def test_clear_history_deletes_runs_and_everything_under_them_and_keeps_dag_and_versions(
    db: Database,
) -> None:
    publish(db)
    publish(db, description="v2")
    publish(db, "other")
    run_with_history(db, "etl", "r1", {"a": "success", "b": "success"})
    run_with_history(db, "etl", "r2", {"a": "failed", "b": "upstream_failed"})
    other = run_with_history(db, "other", "r1", {"a": "success", "b": "success"})

    impact = dags.clear_history(db, "etl", actor="alice")

    assert (impact.runs_total, impact.task_instances, impact.xcoms) == (2, 4, 2)
    assert impact.runs_in_flight == ()
    assert impact.staging_dirs == ("/staging/etl/r1", "/staging/etl/r2")
    assert impact.log_paths == ("/logs/etl/r1/a/1.log", "/logs/etl/r2/a/1.log")
    assert count(db, DagRun, DagRun.dag_id == "etl") == 0
    assert count(db, TaskInstance, TaskInstance.dag_id == "etl") == 0
    for table in (XCom, StagingDir):
        assert count(db, table, table.run_pk != other) == 0
    assert count(db, TaskInstanceTry) == 1  # the other DAG's
    assert count(db, WorkflowDefinition, WorkflowDefinition.dag_id == "etl") == 2
    view = dag_queries.get_dag(db, "etl", include_deregistered=False)
    assert (view.versions, view.runs, view.current_version) == (2, 0, 2)
    assert dag_queries.get_dag(db, "other", include_deregistered=False).runs == 1
    event = query_audit(db, action="dag.history_cleared")[0][0]
    assert (event.actor, event.target_type, event.target_id) == ("alice", "dag", "etl")
    assert event.meta["runs"] == 2
    assert event.meta["taskInstances"] == 4
    assert event.meta["xcoms"] == 2
    assert event.meta["stagingDirs"] == 2
    assert event.meta["forced"] is False


def test_clear_history_refuses_while_tasks_run_and_force_clears(db: Database) -> None:
    publish(db)
    run_with_history(db, "etl", "live", {"a": "running", "b": "none"})

    with pytest.raises(ConflictError, match=r"1 task instance\(s\) queued or running") as err:
        dags.clear_history(db, "etl", actor="alice")
    assert "live" in err.value.message
    assert "force" in err.value.message
    assert err.value.details == {"rule": "RefuseWhileTasksRun"}
    assert count(db, DagRun) == 1
    assert "dag.history_cleared" not in actions(db, "etl")

    impact = dags.clear_history(db, "etl", actor="alice", force=True)
    assert impact.runs_in_flight == ("live",)
    assert impact.running_tasks == 1
    assert count(db, DagRun) == 0
    assert query_audit(db, action="dag.history_cleared")[0][0].meta["forced"] is True


def test_clear_history_clears_a_stuck_run_with_no_live_task_without_force(db: Database) -> None:
    publish(db)
    run_with_history(db, "etl", "stuck", {"a": "success", "b": "none"})  # run state: running
    assert dags.clear_history(db, "etl", actor="alice").runs_in_flight == ("stuck",)
    assert count(db, DagRun) == 0


def test_clear_history_of_unknown_or_deregistered_dag_is_not_found(db: Database) -> None:
    with pytest.raises(NotFoundError, match="'nope'"):
        dags.clear_history(db, "nope", actor="alice")
    publish(db)
    dags.deregister(db, "etl", actor="alice")
    with pytest.raises(NotFoundError):
        dags.clear_history(db, "etl", actor="alice")


# --- deregister, restore, re-push --------------------------------------------------------------


def test_deregister_hides_the_dag_and_its_versions_from_lists_and_runs(db: Database) -> None:
    publish(db)
    publish(db, "other")

    dags.deregister(db, "etl", actor="alice")

    assert [d.dag_id for d in dag_queries.list_dags(db, DagFilter())[0]] == ["other"]
    assert dag_queries.list_dags(db, DagFilter())[1] == 1
    hidden = dag_queries.list_dags(db, DagFilter(include_stale=True))[0]
    assert [(d.dag_id, d.deregistered_by) for d in hidden] == [("etl", "alice"), ("other", None)]
    with pytest.raises(NotFoundError):
        dag_queries.get_dag(db, "etl", include_deregistered=False)
    assert dag_queries.get_dag(db, "etl").deregistered
    assert {v.dag_id for v in list_versions(db)[0]} == {"other"}
    assert {v.dag_id for v in list_versions(db, include_deleted=True)[0]} == {"etl", "other"}
    with pytest.raises(NotFoundError):
        trigger_run(db, dag_id="etl", actor="alice")
    with pytest.raises(NotFoundError):
        dags.set_paused(db, "etl", True, actor="alice")
    assert count(db, WorkflowDefinition, WorkflowDefinition.dag_id == "etl") == 1
    assert actions(db, "etl")[-1] == "dag.deregistered"


def test_re_push_restores_a_deregistered_dag_with_its_versions(db: Database) -> None:
    first = publish(db)
    dags.deregister(db, "etl", actor="alice")

    result = register_snapshot(db, make_spec(), b"", actor="ci", mode=PushMode.PUBLISH)

    assert result.dag_restored
    assert not result.version_created
    assert result.version.id == first
    view = dag_queries.get_dag(db, "etl", include_deregistered=False)
    assert (view.deregistered_at, view.current_version_id) == (None, first)
    events, _ = query_audit(db, dag_id="etl", action="dag.restored")
    assert events[0].meta["reason"] == "re-pushed"


def test_restore_dag_undoes_deregister_and_refuses_a_registered_dag(db: Database) -> None:
    publish(db)
    dags.deregister(db, "etl", actor="alice")
    with pytest.raises(ConflictError, match="already deregistered"):
        dags.deregister(db, "etl", actor="alice")

    view = dags.restore_dag(db, "etl", actor="bob")

    assert not view.deregistered
    assert view.deregistered_by is None
    assert [d.dag_id for d in dag_queries.list_dags(db, DagFilter())[0]] == ["etl"]
    event = query_audit(db, action="dag.restored")[0][0]
    assert (event.actor, event.meta["deregisteredBy"]) == ("bob", "alice")
    with pytest.raises(ConflictError, match="not deregistered"):
        dags.restore_dag(db, "etl", actor="bob")


def test_deregister_refuses_in_flight_work_and_force_fails_it(db: Database) -> None:
    publish(db)
    live = run_with_history(db, "etl", "live", {"a": "running", "b": "none"})
    done = run_with_history(db, "etl", "done", {"a": "success", "b": "success"})
    with pytest.raises(ConflictError, match="queued or running"):
        dags.deregister(db, "etl", actor="alice")
    with db.transaction() as s:  # no live task, but the run is still in flight
        s.execute(
            update(TaskInstance).where(TaskInstance.state == "running").values(state="up_for_retry")
        )
    with pytest.raises(ConflictError, match=r"1 run\(s\) queued or running \(live\)"):
        dags.deregister(db, "etl", actor="alice")
    assert not dag_queries.get_dag(db, "etl", include_deregistered=False).deregistered

    impact = dags.deregister(db, "etl", actor="alice", force=True)

    assert impact.runs_in_flight == ("live",)
    assert ti_states(db, live) == {"a": "failed", "b": "failed"}
    assert ti_states(db, done) == {"a": "success", "b": "success"}
    with db.read() as s:
        assert s.get(DagRun, live).state == "failed"  # type: ignore[union-attr]
        assert s.get(DagRun, done).state == "success"  # type: ignore[union-attr]
    event = query_audit(db, action="dag.deregistered")[0][0]
    assert event.meta["forced"] is True
    assert event.meta["tasksFailed"] == 2


def test_forced_deregister_fails_the_live_try_too(db: Database) -> None:
    publish(db)
    run_with_history(db, "etl", "live", {"a": "running", "b": "none"})
    dags.deregister(db, "etl", actor="alice", force=True)
    with db.read() as s:
        assert s.scalars(select(TaskInstanceTry.state)).all() == ["failed"]


# --- purge -------------------------------------------------------------------------------------


def test_purge_requires_deregister_then_deletes_dag_versions_runs_and_snapshots(
    db: Database,
) -> None:
    publish(db)
    publish(db, description="v2")
    publish(db, "other")
    run_with_history(db, "etl", "r1", {"a": "success", "b": "success"})
    with pytest.raises(ConflictError, match="must be deregistered before it can be purged"):
        dags.purge_dag(db, "etl", actor="alice")
    dags.deregister(db, "etl", actor="alice")

    impact = dags.purge_dag(db, "etl", actor="alice")

    assert (impact.versions, impact.runs_total, impact.staging_dirs) == (2, 1, ("/staging/etl/r1",))
    with db.read() as s:
        assert s.get(Dag, "etl") is None
    for table in (WorkflowDefinition, DagRun, Snapshot):
        assert count(db, table, table.dag_id == "etl") == 0
    assert count(db, TaskInstance) == count(db, XCom) == count(db, StagingDir) == 0
    assert dag_queries.get_dag(db, "other", include_deregistered=False).versions == 1
    event = query_audit(db, dag_id="etl", action="dag.purged")[0][0]
    assert event.meta["versions"] == 2
    assert event.meta["snapshots"] == 2
    again = register_snapshot(db, make_spec(), b"", actor="ci", mode=PushMode.PUBLISH)
    assert again.dag_created
    assert again.snapshot_created
    assert again.version.version == 1


def test_purge_refuses_while_tasks_run_unless_forced(db: Database) -> None:
    publish(db)
    run_with_history(db, "etl", "r1", {"a": "success", "b": "success"})
    dags.deregister(db, "etl", actor="alice")
    with db.transaction() as s:  # a zombie: a task still reported running after deregister
        s.execute(update(TaskInstance).where(TaskInstance.task_id == "b").values(state="running"))
    with pytest.raises(ConflictError, match="queued or running"):
        dags.purge_dag(db, "etl", actor="alice")
    assert count(db, Dag) == 1

    dags.purge_dag(db, "etl", actor="alice", force=True)
    assert count(db, Dag) == 0


# --- impact preview ----------------------------------------------------------------------------


def test_impact_preview_counts_what_a_destructive_action_would_touch(db: Database) -> None:
    publish(db)
    draft = register_snapshot(db, make_spec(description="d"), b"", actor="ci", mode=PushMode.DRAFT)
    soft_delete(db, draft.version.id, actor="alice")
    run_with_history(db, "etl", "r1", {"a": "success", "b": "success"})
    run_with_history(db, "etl", "r2", {"a": "running", "b": "none"})
    run_with_history(db, "etl", "r3", {"a": "queued", "b": "none"})
    before = actions(db, "etl")

    impact = dags.impact_preview(db, "etl")

    assert impact.runs_total == 3
    assert impact.runs_in_flight == ("r2", "r3")
    assert impact.running_tasks == 2
    assert impact.task_instances == 6
    assert impact.versions == 2  # the soft-deleted draft is purged too
    assert impact.xcoms == 3
    assert impact.staging_dirs == ("/staging/etl/r1", "/staging/etl/r2", "/staging/etl/r3")
    assert len(impact.log_paths) == 3
    assert impact.in_flight
    assert actions(db, "etl") == before
    assert count(db, DagRun) == 3
    dags.deregister(db, "etl", actor="alice", force=True)
    assert dags.impact_preview(db, "etl").runs_in_flight == ()
    with pytest.raises(NotFoundError):
        dags.impact_preview(db, "nope")


# --- pause, re-run setting, lists --------------------------------------------------------------


def test_pause_and_unpause_are_audited_once_per_change(db: Database) -> None:
    publish(db)
    publish(db, "other")

    assert dags.set_paused(db, "etl", True, actor="alice").is_paused
    assert dags.set_paused(db, "etl", True, actor="alice").is_paused  # no change, no event
    assert [d.dag_id for d in dag_queries.list_dags(db, DagFilter(paused=True))[0]] == ["etl"]
    assert [d.dag_id for d in dag_queries.list_dags(db, DagFilter(paused=False))[0]] == ["other"]
    assert not dags.set_paused(db, "etl", False, actor="bob").is_paused

    events, _ = query_audit(db, dag_id="etl", action="dag.", order="asc")
    assert [(e.action, e.actor) for e in events if "paused" in e.action] == [
        ("dag.paused", "alice"),
        ("dag.unpaused", "bob"),
    ]


def test_rerun_with_latest_version_setting(db: Database) -> None:
    publish(db)
    assert dag_queries.get_dag(db, "etl", include_deregistered=False).rerun_with_latest_version
    view = dags.set_rerun_with_latest_version(db, "etl", False, actor="alice")
    assert not view.rerun_with_latest_version
    event = query_audit(db, action="dag.rerun_with_latest_version_set")[0][0]
    assert event.meta == {"from": True, "to": False}


def test_list_dags_pages_searches_and_orders(db: Database) -> None:
    for dag_id in ("alpha", "beta", "gamma_100"):
        publish(db, dag_id)
    page, total = dag_queries.list_dags(db, DagFilter(), page=(2, 0))
    assert [d.dag_id for d in page] == ["alpha", "beta"]
    assert total == 3
    assert [d.dag_id for d in dag_queries.list_dags(db, DagFilter(), page=(2, 2))[0]] == [
        "gamma_100"
    ]
    assert (
        next(d.dag_id for d in dag_queries.list_dags(db, DagFilter(), order_by=["-dag_id"])[0])
        == "gamma_100"
    )
    assert dag_queries.list_dags(db, DagFilter(search="ETA"))[1] == 1  # "beta", case-insensitive
    assert dag_queries.list_dags(db, DagFilter(search="%"))[1] == 0  # % is literal, not a wildcard
    assert dag_queries.list_dags(db, DagFilter(search="a_1"))[1] == 1  # so is _
    assert (
        dag_queries.list_dags(db, DagFilter(search="a_"))[1] == 1
    )  # "alpha" matches a_ as a wildcard
    view = dag_queries.get_dag(db, "beta", include_deregistered=False)
    assert (view.project, view.current_version, view.current_status) == ("default", 1, "active")
    assert (view.current_name, view.runs, view.runs_in_flight) == ("BETA", 0, 0)
