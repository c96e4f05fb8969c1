"""What the /api/v2 actions do: delete (clear history) and deregister, marking runs and tasks,
clear with its dry run and re-bind, logs per try, and secrets kept secret."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from tests.api.helpers import World, make_spec, publish, world_on
from tests.api.test_v2_routes import RUN_URL as RUN
from tests.api.test_v2_routes import TI, v2_world

from pinflow.api.routes import v2_tasks
from pinflow.lifecycle.version_rules import DEPRECATED_RUN_MESSAGE
from pinflow.services.commands import _runs as runs
from pinflow.services.commands._resources import Cipher, load_or_create_key
from pinflow.services.engine._claims import claim_scheduled
from pinflow.services.engine._starts import start_task
from pinflow.services.engine._sweep import schedule_pass
from pinflow.services.reads import _audit_log as audit_log
from pinflow.spec.models import TaskSpec
from pinflow.store.db import Database
from pinflow.store.tables import (
    Connection,
    DagRun,
    StagingDir,
    TaskInstance,
    TaskInstanceTry,
    Variable,
    WorkflowDefinition,
)
from pinflow.testing import TaskOutcome, run_until_idle, scripted
from pinflow.testing import make_spec as make_dag

ADMIN = "admin"


@pytest.fixture
def world(request: pytest.FixtureRequest, db: Database, tmp_path: Path) -> World:
    return world_on(request, db, tmp_path, v2_world)


def get(world: World, url: str) -> Any:
    response = world.call(ADMIN, "GET", url)
    assert response.status_code == 200, response.text
    return response.json()


def _start_a_task(world: World, run_id: str) -> None:
    """``run_id`` of etl gets a running ``extract``."""
    runs.trigger_run(world.db, dag_id="etl", run_id=run_id, actor="editor")
    schedule_pass(world.db)
    (claimed,) = claim_scheduled(world.db, limit=10)
    start_task(world.db, claimed.ti_id, try_number=claimed.try_number)


def _record_files(world: World, run_id: str, task_id: str, log: Path, staging: Path) -> None:
    with world.db.transaction() as s:
        run = s.scalars(select(DagRun).where(DagRun.run_id == run_id)).one()
        s.execute(
            update(TaskInstanceTry)
            .where(TaskInstanceTry.ti_id.in_(_ti_ids(run.id, task_id)))
            .values(log_path=str(log))
        )
        s.add(StagingDir(run_pk=run.id, path=str(staging)))


def _ti_ids(run_pk: int, task_id: str) -> Any:
    return select(TaskInstance.id).where(
        TaskInstance.run_pk == run_pk, TaskInstance.task_id == task_id
    )


def test_delete_clears_history_keeps_versions_and_removes_files(world: World) -> None:
    settings = world.app.state.settings
    log = settings.logs_dir / "etl" / "r1" / "load.log"
    staging = settings.staging_dir / "etl" / "r1"
    log.parent.mkdir(parents=True)
    log.write_text("boom\n")
    staging.mkdir(parents=True)
    _record_files(world, "r1", "load", log, staging)
    assert world.call(ADMIN, "DELETE", "/api/v2/dags/etl").status_code == 204
    assert get(world, "/api/v2/dags/etl/dagRuns")["total_entries"] == 0
    assert get(world, "/api/v2/dags/etl/dagVersions")["total_entries"] == 1
    assert "etl" in [d["dag_id"] for d in get(world, "/api/v2/dags")["dags"]]
    assert not log.exists()
    assert not staging.exists()


def test_files_outside_the_configured_roots_are_never_removed(world: World, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere.log"
    outside.write_text("keep me\n")
    _record_files(world, "r1", "load", outside, tmp_path / "not-staging")
    assert world.call(ADMIN, "DELETE", "/api/v2/dags/etl/dagRuns/r1").status_code == 204
    assert outside.read_text() == "keep me\n"


def test_destructive_actions_wait_for_live_tasks_unless_forced(world: World) -> None:
    _start_a_task(world, "r2")
    for url in ("/api/v2/dags/etl", "/api/v2/dags/etl?deregister=true", f"{RUN[:-2]}r2"):
        refused = world.call(ADMIN, "DELETE", url)
        assert refused.status_code == 409, url
        assert "force" in refused.json()["detail"]
    assert get(world, "/api/v2/dags/etl/impact")["running_tasks"] == 1
    assert world.call(ADMIN, "DELETE", f"{RUN[:-2]}r2?force=true").status_code == 204
    assert world.call(ADMIN, "DELETE", "/api/v2/dags/etl").status_code == 204


def test_deregistered_dags_are_stale_and_restorable(world: World) -> None:
    assert world.call(ADMIN, "DELETE", "/api/v2/dags/etl?deregister=true").status_code == 204
    assert [d["dag_id"] for d in get(world, "/api/v2/dags")["dags"]] == ["other"]
    stale = get(world, "/api/v2/dags?exclude_stale=false")["dags"]
    assert {d["dag_id"]: d["is_stale"] for d in stale} == {"etl": True, "other": False}
    assert world.call(ADMIN, "POST", "/api/v2/dags/etl/dagRuns", {}).status_code == 404
    assert world.call(ADMIN, "POST", "/api/v2/dags/etl/restore").json()["is_stale"] is False
    assert world.call(ADMIN, "POST", "/api/v2/dags/etl/dagRuns", {}).status_code == 200


def test_trigger_refusals_speak_airflow(world: World) -> None:
    trigger = "/api/v2/dags/etl/dagRuns"
    assert world.call(ADMIN, "POST", trigger, {"dag_run_id": "r1"}).status_code == 409
    unsupported = world.call(ADMIN, "POST", trigger, {"run_after": "2026-01-01T00:00:00Z"})
    assert unsupported.status_code == 400
    assert "run_after" in unsupported.json()["detail"]
    with world.db.transaction() as s:  # a current version that is deprecated (legacy data)
        s.execute(update(WorkflowDefinition).values(status="deprecated"))
    refused = world.call(ADMIN, "POST", trigger, {})
    assert (refused.status_code, refused.json()) == (400, {"detail": DEPRECATED_RUN_MESSAGE})


def test_marking_a_task_success_finishes_its_failed_run(world: World) -> None:
    assert get(world, RUN)["state"] == "failed"
    marked = world.call(ADMIN, "PATCH", f"{TI}/load", {"new_state": "success", "note": "manual"})
    assert marked.status_code == 200, marked.text
    (load,) = marked.json()["task_instances"]
    assert (load["task_id"], load["state"], load["note"]) == ("load", "success", "manual")
    assert get(world, RUN)["state"] == "success"
    events, _ = audit_log.query_audit(world.db, action="task.state_set")
    assert events[0].meta["tasks"] == [{"taskId": "load", "mapIndex": -1, "from": "failed"}]
    again = world.call(ADMIN, "PATCH", f"{TI}/load?update_mask=new_state", {"new_state": "success"})
    assert again.status_code == 200
    assert len(audit_log.query_audit(world.db, action="task.state_set")[0]) == 1


def test_a_mark_dry_run_answers_what_would_change_and_changes_nothing(world: World) -> None:
    url = f"{TI}/extract/dry_run"
    body = {"new_state": "failed", "include_downstream": True}
    preview = world.call(ADMIN, "PATCH", url, body)
    assert preview.status_code == 200, preview.text
    moving = {(t["task_id"], t["state"]) for t in preview.json()["task_instances"]}
    assert moving == {("extract", "success")}  # load is failed already: it would not change
    up = {"new_state": "skipped", "include_upstream": True}
    upstream = world.call(ADMIN, "PATCH", f"{TI}/load/dry_run", up)
    assert {t["task_id"] for t in upstream.json()["task_instances"]} == {"load", "extract"}
    states = {t["task_id"]: t["state"] for t in get(world, TI)["task_instances"]}
    assert states == {"extract": "success", "load": "failed"}
    assert get(world, RUN)["state"] == "failed"
    assert audit_log.query_audit(world.db, action="task.state_set")[0] == []
    note_only = world.call(ADMIN, "PATCH", url, {"note": "x"})
    assert note_only.json() == {"task_instances": [], "total_entries": 0}
    missing = world.call(ADMIN, "PATCH", url + "?update_mask=new_state", {})
    assert missing.status_code == 400
    assert "new_state" in missing.json()["detail"]
    unknown = world.call(ADMIN, "PATCH", f"{TI}/nope/dry_run", {"new_state": "success"})
    assert unknown.status_code == 404


def _fanned_run(world: World) -> str:
    """DAG ``fan`` (project alpha): ``list`` -> ``square`` over it; element 1 failed."""
    spec = make_dag(
        "fan",
        {"list": [], "square": []},
        task_fields={"square": {"expand": {"x": {"task_id": "list"}}}},
        project="alpha",
    )
    publish(world.db, spec)
    run = runs.trigger_run(world.db, dag_id="fan", run_id="f1", actor="editor")
    ok = TaskOutcome(success=True, value=[1, 2, 3])
    run_until_idle(world.db, scripted({"list": [ok], "square": [True, False, True]}))
    return run.run_id


def test_clearing_one_mapped_element_answers_only_that_element(world: World) -> None:
    run_id = _fanned_run(world)
    url = "/api/v2/dags/fan/clearTaskInstances"
    body = {"dag_run_id": run_id, "task_ids": [["square", 1]], "only_failed": False}
    preview = world.call(ADMIN, "POST", url, body)
    assert preview.status_code == 200, preview.text
    answer = preview.json()
    assert [(t["task_id"], t["map_index"]) for t in answer["task_instances"]] == [("square", 1)]
    (plan,) = answer["plan"]
    assert plan["rebinds"] is False
    assert {t["task_id"]: t["action"] for t in plan["tasks"]} == {
        "list": "reused",
        "square": "re_executed",
    }
    done = world.call(ADMIN, "POST", url, {**body, "dry_run": False})
    assert done.status_code == 200, done.text
    tis = get(world, f"/api/v2/dags/fan/dagRuns/{run_id}/taskInstances?task_id=square")
    states = {t["map_index"]: t["state"] for t in tis["task_instances"]}
    assert states == {0: "success", 1: None, 2: "success"}
    assert get(world, f"/api/v2/dags/fan/dagRuns/{run_id}")["state"] == "queued"


@pytest.mark.parametrize(
    "extra",
    [
        {"task_ids": [["square", 1], "list"]},
        {"dag_run_id": None},
        {"include_upstream": True},
    ],
)
def test_a_mapped_element_is_cleared_alone_in_one_run(world: World, extra: dict[str, Any]) -> None:
    run_id = _fanned_run(world)
    body = {"dag_run_id": run_id, "task_ids": [["square", 1]], "dry_run": False, **extra}
    refused = world.call(ADMIN, "POST", "/api/v2/dags/fan/clearTaskInstances", body)
    assert refused.status_code == 400
    assert "a mapped element ([task_id, map_index]) is cleared alone" in refused.json()["detail"]
    missing = {"dag_run_id": run_id, "task_ids": [["square", 7]]}
    not_found = world.call(ADMIN, "POST", "/api/v2/dags/fan/clearTaskInstances", missing)
    assert not_found.status_code == 404
    assert "map_index -1" in not_found.json()["detail"]


def test_marking_a_run_failed_fails_live_tasks_and_skips_the_rest(world: World) -> None:
    _start_a_task(world, "r2")
    url = f"{RUN[:-2]}r2"
    marked = world.call(ADMIN, "PATCH", url, {"state": "failed", "note": "stuck"})
    assert (marked.json()["state"], marked.json()["note"]) == ("failed", "stuck")
    states = {
        t["task_id"]: t["state"] for t in get(world, f"{url}/taskInstances")["task_instances"]
    }
    assert states == {"extract": "failed", "load": "skipped"}
    (try1,) = get(world, f"{url}/taskInstances/extract/tries")["task_instances"]
    assert try1["state"] == "failed"
    assert "marked failed" in try1["error"]
    bad_mask = world.call(ADMIN, "PATCH", url + "?update_mask=conf", {"note": "x"})
    assert bad_mask.status_code == 400


def test_clear_dry_run_changes_nothing_then_clear_rebinds_to_the_current_version(
    world: World,
) -> None:
    v1 = get(world, RUN)["version_id"]
    report = TaskSpec(task_id="report", kind="bash", bash_command="echo", depends_on=["load"])
    base = make_spec()
    fixed = base.model_copy(update={"tasks": [*base.tasks, report]})
    v2 = publish(world.db, fixed)
    body = {"dag_run_id": "r1", "dry_run": True}
    dry = world.call(ADMIN, "POST", "/api/v2/dags/etl/clearTaskInstances", body).json()
    (plan,) = dry["plan"]
    assert (plan["from_version_id"], plan["to_version_id"], plan["rebinds"]) == (v1, v2, True)
    actions = {t["task_id"]: t["action"] for t in plan["tasks"]}
    assert actions == {"extract": "reused", "load": "re_executed", "report": "new"}
    assert [t["task_id"] for t in dry["task_instances"]] == ["load"]
    run_dry = world.call(ADMIN, "POST", f"{RUN}/clear", {"only_failed": True}).json()
    assert [t["task_id"] for t in run_dry["task_instances"]] == ["load", "report"]
    assert get(world, RUN)["version_id"] == v1
    assert get(world, f"{TI}/load")["state"] == "failed"

    body["dry_run"] = False
    cleared = world.call(ADMIN, "POST", "/api/v2/dags/etl/clearTaskInstances", body).json()
    assert [(t["task_id"], t["state"]) for t in cleared["task_instances"]] == [("load", None)]
    assert (get(world, RUN)["version_id"], get(world, RUN)["state"]) == (v2, "queued")
    run_until_idle(world.db, scripted({}))
    run = get(world, RUN)
    assert run["state"] == "success"
    assert [v["id"] for v in run["dag_versions"]] == [v1, v2]
    tries = get(world, f"{TI}/load/tries")["task_instances"]
    assert [t["dag_version"]["id"] for t in tries] == [v1, v2]


def test_logs_per_try_tail_full_and_text(
    world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    log = tmp_path / "attempt=1.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    _record_files(world, "r1", "load", log, tmp_path / "staging")
    full = get(world, f"{TI}/load/logs/1")["content"]
    assert [m["event"] for m in full][:2] == ["line 0", "line 1"]
    monkeypatch.setattr(v2_tasks, "LOG_TAIL_BYTES", 20)
    tail = [m["event"] for m in get(world, f"{TI}/load/logs/1")["content"]]
    assert tail[0].startswith("*** Showing the last 20 of")
    assert tail[-1] == "line 99"
    assert len(get(world, f"{TI}/load/logs/1?full_content=true")["content"]) == 100
    text = world.client.get(
        f"{TI}/load/logs/1", headers={**world.headers(ADMIN), "Accept": "text/plain"}
    )
    assert text.headers["content-type"].startswith("text/plain")
    assert text.text.endswith("line 99\n")


def test_secrets_are_encrypted_at_rest_and_passwords_write_only(world: World) -> None:
    body = {"connection_id": "db", "conn_type": "postgres", "password": "hunter2"}
    body["extra"] = '{"api_key": "k", "region": "eu"}'
    created = world.call(ADMIN, "POST", "/api/v2/connections", body).json()
    assert (created["password"], created["has_password"]) == (None, True)
    assert created["extra"] == '{"api_key": "***", "region": "eu"}'
    patch = {"connection_id": "db", "conn_type": "postgres", "host": "db.internal"}
    kept = world.call(ADMIN, "PATCH", "/api/v2/connections/db", patch).json()
    assert (kept["host"], kept["has_password"]) == ("db.internal", True)
    world.call(ADMIN, "POST", "/api/v2/variables", {"key": "api_token", "value": "t0k"})
    assert get(world, "/api/v2/variables/api_token")["value"] == "***"
    cipher = Cipher(load_or_create_key(world.app.state.settings.home))
    with world.db.read() as s:
        stored = s.scalars(select(Connection.password)).one()
        value = s.scalars(select(Variable.val)).one()
    assert "hunter2" not in (stored or "")
    assert (cipher.decrypt(stored or ""), cipher.decrypt(value)) == ("hunter2", "t0k")
    cleared = world.call(
        ADMIN, "PATCH", "/api/v2/connections/db?update_mask=password", patch
    ).json()
    assert cleared["has_password"] is False


def test_pools_count_the_slots_their_tasks_hold(world: World) -> None:
    _start_a_task(world, "r2")
    pool = get(world, "/api/v2/pools/default_pool")
    assert (pool["running_slots"], pool["occupied_slots"], pool["open_slots"]) == (1, 1, 127)
