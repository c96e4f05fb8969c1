"""The typed audit events: every action has a constructor, and each constructor builds the
target and the metadata that the log has always stored (the seeds, the API and the UI's
filters read them), key for key."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import FrozenInstanceError, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from pinflow.lifecycle.dag_rules import Impact
from pinflow.lifecycle.mapping import Expansion
from pinflow.lifecycle.rebind import ClearPlan, PlanAction, PlanEntry
from pinflow.lifecycle.states import RunState, RunType, TaskState
from pinflow.services import audit_events as events
from pinflow.services.audit_events import AuditAction, AuditEntry, record
from pinflow.services.reads._audit_log import query_audit
from pinflow.services.reads._task_queries import TaskRef
from pinflow.store.db import Database
from pinflow.store.tables import (
    ApiToken,
    Backfill,
    Dag,
    DagRun,
    TaskInstance,
    User,
    WorkflowDefinition,
)


def version(**changes: Any) -> WorkflowDefinition:
    fields: dict[str, Any] = {
        "id": "v2",
        "dag_id": "etl",
        "version": 2,
        "status": "active",
        "source_workflow_id": "v1",
        "snapshot_digest": "d2",
        "name": "Nightly ETL",
        "is_dev": False,
    }
    return WorkflowDefinition(**(fields | changes))


@dataclass(frozen=True)
class Run:
    """Not a ``DagRun``: the constructors take anything shaped like a run (the engine's rows)."""

    id: int
    dag_id: str
    run_id: str
    state: str
    snapshot_digest: str
    version_id: str | None


AT = datetime(2026, 12, 7, 8, tzinfo=UTC)
SOURCE = version(id="v1", version=1, source_workflow_id=None, snapshot_digest="d1")
DRAFT = version(id="v3", status="draft", snapshot_digest="d3")
DEV = version(id="v4", status="draft", is_dev=True, source_workflow_id="v2")
RUN = Run(7, "etl", "manual__1", "running", "d1", "v1")
ORM_RUN = DagRun(id=8, dag_id="etl", run_id="sched__2", state="failed", snapshot_digest="d2")
REF = TaskRef("etl", "manual__1", "load", 2)
IMPACT = Impact(
    "etl",
    runs_total=3,
    runs_in_flight=("r1", "r2"),
    running_tasks=1,
    task_instances=9,
    versions=2,
    xcoms=4,
    staging_dirs=("/s/a", "/s/b"),
    log_paths=("/l/1",),
)
IMPACT_META = {
    "runs": 3,
    "runsInFlight": ["r1", "r2"],
    "runningTasks": 1,
    "taskInstances": 9,
    "versions": 2,
    "xcoms": 4,
    "stagingDirs": 2,
    "logFiles": 1,
    "forced": True,
}
PLAN = ClearPlan(
    "v1",
    "v2",
    "d1",
    "d2",
    [
        PlanEntry("a", PlanAction.RE_EXECUTED, TaskState.FAILED, True),
        PlanEntry("b", PlanAction.REUSED, TaskState.SUCCESS, True),
        PlanEntry("c", PlanAction.NEW, None, True),
        PlanEntry("gone", PlanAction.REMOVED, TaskState.SUCCESS, False),
    ],
)
DEREGISTERED = Dag(
    dag_id="etl", deregistered_by="ops", deregistered_at=datetime(2024, 5, 1, 3, tzinfo=UTC)
)
MARKED = [TaskInstance(task_id="load", map_index=2, state="running")]
MARKED.append(TaskInstance(task_id="report", map_index=-1, state="none"))
USER = User(username="ada", is_superuser=True)
TOKEN = ApiToken(id=5, prefix="abc123", name="ci")
FAN_OUT = Expansion("fan", TaskState.FAILED, 0, "input is not a list")

W, D, R, T = "workflow", "dag", "dag_run", "task_instance"

# (constructor's entry, action, target type, target id, DAG, metadata, in this key order)
# fmt: off
BACKFILL = Backfill(
    id=7,
    dag_id="etl",
    version_id="v2",
    from_date=datetime(2026, 1, 1, tzinfo=UTC),
    to_date=datetime(2026, 1, 3, tzinfo=UTC),
    run_backwards=False,
    dag_run_conf={"a": 1},
    reprocess_behavior="failed",
    max_active_runs=2,
)

CASES: list[tuple[AuditEntry, str, str, str, str | None, dict[str, Any]]] = [
    # --- versions (seed 001) ---
    (
        events.version_created(SOURCE, DRAFT),
        "workflow.version_created", W, "v3", "etl",
        {"sourceWorkflowId": "v1", "targetWorkflowId": "v3", "sourceVersion": 1,
         "sourceStatus": "active"},
    ),
    (
        events.version_created_by_push(DRAFT),
        "workflow.version_created", W, "v3", "etl",
        {"sourceWorkflowId": "v1", "targetWorkflowId": "v3", "via": "push"},
    ),
    (
        events.version_created_by_push(DEV),
        "workflow.version_created", W, "v4", "etl",
        {"sourceWorkflowId": "v2", "targetWorkflowId": "v4", "via": "dev"},
    ),
    (
        events.version_edited(DRAFT, from_snapshot="d0"),
        "workflow.edited", W, "v3", "etl", {"fromSnapshot": "d0", "toSnapshot": "d3"},
    ),
    (
        events.version_published(version()),
        "workflow.published", W, "v2", "etl",
        {"version": 2, "snapshot": "d2", "sourceWorkflowId": "v1"},
    ),
    (
        events.version_deprecated(SOURCE, superseded_by="v2", current="v2"),
        "workflow.deprecated", W, "v1", "etl",
        {"sourceWorkflowId": None, "targetWorkflowId": "v2", "version": 1,
         "currentVersionId": "v2"},
    ),
    (
        events.version_reverted_to_draft(version(status="draft"), "active", current=None),
        "workflow.reverted_to_draft", W, "v2", "etl",
        {"previousStatus": "active", "version": 2, "sourceWorkflowId": "v1",
         "currentVersionId": None},
    ),
    (
        events.dev_draft_saved(DEV, "d1", previous_current="v2"),
        "workflow.dev_saved", W, "v4", "etl",
        {"fromSnapshot": "d1", "toSnapshot": "d2", "previousCurrentVersionId": "v2"},
    ),
    (
        events.version_deleted(version(), current="v1"),
        "workflow.deleted", W, "v2", "etl",
        {"status": "active", "version": 2, "currentVersionId": "v1"},
    ),
    (
        events.version_restored(version()),
        "workflow.restored", W, "v2", "etl", {"status": "active", "version": 2},
    ),
    (
        events.version_purged(version(), current=None),
        "workflow.purged", W, "v2", "etl",
        {"status": "active", "version": 2, "name": "Nightly ETL", "snapshot": "d2",
         "currentVersionId": None},
    ),
    (
        events.canary_started(
            SOURCE, DRAFT, "b1", [{"sourceRunId": "r1", "canaryRunId": "canary__r1__1",
                                   "reused": ["a"]}], reuse=True,
        ),
        "workflow.canary_started", W, "v3", "etl",
        {"sourceWorkflowId": "v1", "targetWorkflowId": "v3", "sourceVersion": 1,
         "targetStatus": "draft", "batchId": "b1", "reuse": True,
         "runs": [{"sourceRunId": "r1", "canaryRunId": "canary__r1__1", "reused": ["a"]}]},
    ),
    # --- DAGs (seed 000) ---
    (
        events.dag_registered("etl", project="analytics"),
        "dag.registered", D, "etl", "etl", {"project": "analytics", "paused": False},
    ),
    (
        events.dag_registered("etl", project="analytics", paused=True),
        "dag.registered", D, "etl", "etl", {"project": "analytics", "paused": True},
    ),
    (
        events.dag_pushed(version(), mode="publish", version_created=True),
        "dag.pushed", D, "etl", "etl",
        {"snapshot": "d2", "mode": "publish", "versionId": "v2", "versionCreated": True},
    ),
    (
        events.current_version_set(SOURCE, previous="v2"),
        "dag.current_version_set", D, "etl", "etl",
        {"fromVersionId": "v2", "toVersionId": "v1", "version": 1},
    ),
    (
        events.current_version_set_by_push(SOURCE, previous=None),
        "dag.current_version_set", D, "etl", "etl",
        {"fromVersionId": None, "toVersionId": "v1", "via": "push"},
    ),
    (
        events.dag_history_cleared(IMPACT, forced=True),
        "dag.history_cleared", D, "etl", "etl", IMPACT_META,
    ),
    (
        events.dag_deregistered(IMPACT, forced=True, tasks_failed=2),
        "dag.deregistered", D, "etl", "etl", IMPACT_META | {"tasksFailed": 2},
    ),
    (
        events.dag_purged(IMPACT, forced=True, snapshots=1),
        "dag.purged", D, "etl", "etl", IMPACT_META | {"snapshots": 1},
    ),
    (
        events.dag_restored(DEREGISTERED),
        "dag.restored", D, "etl", "etl",
        {"reason": "restored", "deregisteredBy": "ops",
         "deregisteredAt": "2024-05-01T03:00:00+00:00"},
    ),
    (
        events.dag_restored(Dag(dag_id="etl")),
        "dag.restored", D, "etl", "etl",
        {"reason": "restored", "deregisteredBy": None, "deregisteredAt": None},
    ),
    (
        events.dag_restored_by_push("etl"),
        "dag.restored", D, "etl", "etl", {"reason": "re-pushed"},
    ),
    (events.dag_pause_set("etl", True), "dag.paused", D, "etl", "etl", {}),
    (events.dag_pause_set("etl", False), "dag.unpaused", D, "etl", "etl", {}),
    (
        events.rerun_with_latest_version_set("etl", False),
        "dag.rerun_with_latest_version_set", D, "etl", "etl", {"from": True, "to": False},
    ),
    (
        events.retirement_policy_set("etl", policy={"keepActive": 1}, previous=None),
        "dag.retirement_policy_set", D, "etl", "etl", {"from": None, "to": {"keepActive": 1}},
    ),
    (
        events.by_policy(
            events.version_deleted(SOURCE, current="v2"), rule="PurgeDrainedDeprecated", reason="r"
        ),
        "workflow.deleted", W, "v1", "etl",
        {"status": "active", "version": 1, "currentVersionId": "v2",
         "policy": {"rule": "PurgeDrainedDeprecated", "reason": "r"}},
    ),
    (
        events.import_error_reported("dags/bad.py", bundle="main"),
        "dag.import_error", "import_error", "dags/bad.py", None, {"bundle": "main"},
    ),
    (
        events.import_error_reported("dags/bad.py", bundle=None),
        "dag.import_error", "import_error", "dags/bad.py", None, {},
    ),
    # --- runs ---
    (
        events.run_triggered(RUN, SOURCE, RunType.MANUAL, {"confKeys": ["day"]}),
        "run.triggered", R, "etl/manual__1", "etl",
        {"versionId": "v1", "version": 1, "snapshot": "d1", "runType": "manual",
         "confKeys": ["day"]},
    ),
    (
        events.run_triggered(ORM_RUN, version(), RunType.SCHEDULED),
        "run.triggered", R, "etl/sched__2", "etl",
        {"versionId": "v2", "version": 2, "snapshot": "d2", "runType": "scheduled"},
    ),
    (
        events.run_finished(RUN, RunState.FAILED, ["b", "c"]),
        "run.finished", R, "etl/manual__1", "etl",
        {"outcome": "failed", "versionId": "v1", "snapshot": "d1", "failedTasks": ["b", "c"]},
    ),
    (
        events.run_state_set(RUN, old="running", new=RunState.SUCCESS, tasks=3),
        "run.state_set", R, "etl/manual__1", "etl",
        {"from": "running", "to": "success", "tasks": 3},
    ),
    (events.run_note_set(RUN, "flaky"), "run.note_set", R, "etl/manual__1", "etl", {"length": 5}),
    (events.run_note_set(RUN, None), "run.note_set", R, "etl/manual__1", "etl", {"length": 0}),
    (
        events.run_tasks_cleared(ORM_RUN, PLAN),
        "run.tasks_cleared", R, "etl/sched__2", "etl",
        {"fromVersionId": "v1", "toVersionId": "v2", "fromSnapshot": "d1", "toSnapshot": "d2",
         "reExecuted": ["a"], "new": ["c"], "removed": ["gone"]},
    ),
    (
        events.run_deleted(RUN, live_tasks=1, forced=True),
        "run.deleted", R, "etl/manual__1", "etl",
        {"state": "running", "versionId": "v1", "liveTasks": 1, "forced": True},
    ),
    # --- task instances ---
    (
        events.task_state_set(REF, TaskState.FAILED, MARKED),
        "task.state_set", T, "etl/manual__1/load", "etl",
        {"mapIndex": 2, "to": "failed", "tasks": [
            {"taskId": "load", "mapIndex": 2, "from": "running"},
            {"taskId": "report", "mapIndex": -1, "from": "none"},
        ]},
    ),
    (
        events.task_note_set(REF, "retry later"),
        "task.note_set", T, "etl/manual__1/load", "etl", {"mapIndex": 2, "length": 11},
    ),
    (
        events.task_expand_failed(RUN, FAN_OUT),
        "task.expand_failed", T, "etl/manual__1/fan", "etl",
        {"state": "failed", "error": "input is not a list", "runPk": 7},
    ),
    # --- resources: the fields changed, sorted, never their values ---
    (
        events.pool_created("gpu", {"slots": 2, "name": "gpu"}),
        "pool.created", "pool", "gpu", None, {"fields": ["name", "slots"]},
    ),
    (events.pool_updated("gpu", ["slots"]), "pool.updated", "pool", "gpu", None,
     {"fields": ["slots"]}),
    (events.pool_deleted("gpu"), "pool.deleted", "pool", "gpu", None, {"fields": []}),
    (
        events.variable_set("api_token", {"value": "s3cret", "description": None}, created=True),
        "variable.created", "variable", "api_token", None, {"fields": ["description", "value"]},
    ),
    (
        events.variable_set("limit", ["value"], created=False),
        "variable.updated", "variable", "limit", None, {"fields": ["value"]},
    ),
    (events.variable_deleted("limit"), "variable.deleted", "variable", "limit", None,
     {"fields": []}),
    (
        events.connection_set("pg", {"password": "pw", "host": "h"}, created=True),
        "connection.created", "connection", "pg", None, {"fields": ["host", "password"]},
    ),
    (
        events.connection_set("pg", ["port"], created=False),
        "connection.updated", "connection", "pg", None, {"fields": ["port"]},
    ),
    (events.connection_deleted("pg"), "connection.deleted", "connection", "pg", None,
     {"fields": []}),
    # --- users, roles, tokens, logins ---
    (
        events.user_created(USER, has_password=False),
        "user.created", "user", "ada", None, {"isSuperuser": True, "hasPassword": False},
    ),
    (events.user_password_set("ada"), "user.password_set", "user", "ada", None, {}),
    (events.user_sessions_ended("ada"), "user.sessions_ended", "user", "ada", None, {}),
    (events.user_deleted("ada", "u-1"), "user.deleted", "user", "ada", None, {"uid": "u-1"}),
    (events.user_active_set("ada", True), "user.enabled", "user", "ada", None, {}),
    (events.user_active_set("ada", False), "user.disabled", "user", "ada", None, {}),
    (
        events.role_granted("ada", project="analytics", role="editor"),
        "user.role_granted", "user", "ada", None, {"project": "analytics", "role": "editor"},
    ),
    (
        events.role_revoked("ada", project="analytics"),
        "user.role_revoked", "user", "ada", None, {"project": "analytics"},
    ),
    (
        events.token_created("ada", TOKEN),
        "token.created", "user", "ada", None, {"tokenId": 5, "prefix": "abc123", "name": "ci"},
    ),
    (
        events.token_revoked("ada", TOKEN),
        "token.revoked", "user", "ada", None, {"tokenId": 5, "prefix": "abc123"},
    ),
    # --- retention ---
    (
        events.db_cleaned({"dag_run": 2}, before=datetime(2026, 1, 1, tzinfo=UTC), dag_id="etl"),
        "db.cleaned", "database", "etl", "etl",
        {"before": "2026-01-01T00:00:00+00:00", "dagId": "etl", "counts": {"dag_run": 2}},
    ),
    (
        events.db_cleaned({}, before=datetime(2026, 1, 1, tzinfo=UTC), dag_id=None),
        "db.cleaned", "database", "*", None,
        {"before": "2026-01-01T00:00:00+00:00", "dagId": None, "counts": {}},
    ),
    (
        events.login_failed("mallory", client="10.0.0.9", reason="unknown_user", last_at=AT),
        "auth.login_failed", "user", "mallory", None,
        {"username": "mallory", "client": "10.0.0.9", "reason": "unknown_user", "count": 1,
         "lastAt": AT.isoformat()},
    ),
    (
        events.asset_event_created("s3://b/k", 7, ["consumer"]),
        "asset.event_created", "asset", "s3://b/k", None,
        {"eventId": 7, "queuedFor": ["consumer"]},
    ),
    # --- backfills (ADR 0040) ---
    (
        events.backfill_created(BACKFILL, created=2, rerun=1, kept=0),
        "backfill.created", "backfill", "7", "etl",
        {"fromDate": "2026-01-01T00:00:00+00:00", "toDate": "2026-01-03T00:00:00+00:00",
         "versionId": "v2", "reprocessBehavior": "failed", "maxActiveRuns": 2,
         "runBackwards": False, "confKeys": ["a"], "created": 2, "rerun": 1, "kept": 0},
    ),
    (events.backfill_paused(BACKFILL, True), "backfill.paused", "backfill", "7", "etl", {}),
    (events.backfill_paused(BACKFILL, False), "backfill.unpaused", "backfill", "7", "etl", {}),
    (
        events.backfill_cancelled(BACKFILL, ["backfill__x"]),
        "backfill.cancelled", "backfill", "7", "etl", {"failedRuns": ["backfill__x"]},
    ),
]
# fmt: on


def _constructors() -> set[str]:
    kernel = {"AuditAction", "AuditEntry", "RunKey", "StoredRun", "TaskKey", "record"}
    return set(events.__all__) - kernel


def test_every_action_is_built_by_some_constructor() -> None:
    built = {entry.action for entry, *_ in CASES}
    assert built == set(AuditAction)


def test_every_constructor_is_checked_here() -> None:
    """A new constructor comes with its expected shape in ``CASES``."""
    source = Path(__file__).read_text(encoding="utf-8")
    unchecked = {name for name in _constructors() if f"events.{name}(" not in source}
    assert unchecked == set()


def test_actions_are_distinct_and_named_family_dot_verb() -> None:
    # An enum with a repeated value makes an alias silently: two names, one action.
    assert len(AuditAction.__members__) == len(list(AuditAction))
    assert all(re.fullmatch(r"[a-z]+\.[a-z_]+", a.value) for a in AuditAction)


@pytest.mark.parametrize("case", CASES, ids=[f"{i}-{case[1]}" for i, case in enumerate(CASES)])
def test_constructor_builds_the_stored_shape(
    case: tuple[AuditEntry, str, str, str, str | None, dict[str, Any]],
) -> None:
    entry, *target, meta = case
    assert [entry.action.value, entry.target_type, entry.target_id, entry.dag_id] == target
    assert dict(entry.meta) == meta
    assert list(entry.meta) == list(meta)  # the same key order as the log has always had


def test_seed_001_version_events_link_source_and_target() -> None:
    """Seed 001: version_created and deprecated link the source and target versions."""
    created = events.version_created(SOURCE, DRAFT)
    assert (created.meta["sourceWorkflowId"], created.meta["targetWorkflowId"]) == ("v1", "v3")
    deprecated = events.version_deprecated(SOURCE, superseded_by="v2", current="v2")
    assert deprecated.meta["targetWorkflowId"] == "v2"
    assert "sourceWorkflowId" in deprecated.meta
    published = events.version_published(version())
    assert published.meta["sourceWorkflowId"] == "v1"
    reverted = events.version_reverted_to_draft(version(), "deprecated", current="v1")
    assert reverted.meta["previousStatus"] == "deprecated"
    assert reverted.meta["sourceWorkflowId"] == "v1"
    assert {e.action.value for e in (created, deprecated, published, reverted)} == {
        "workflow.version_created",
        "workflow.deprecated",
        "workflow.published",
        "workflow.reverted_to_draft",
    }


def test_an_entry_is_frozen() -> None:
    entry = events.dag_pause_set("etl", True)
    with pytest.raises(FrozenInstanceError):
        entry.action = AuditAction.DAG_UNPAUSED  # type: ignore[misc]


def test_record_appends_in_the_callers_transaction(db: Database) -> None:
    with db.transaction() as s:
        failed = events.login_failed("ada", client="c", reason="bad_password", last_at=AT)
        record(s, "ada", failed)
        expand = AuditEntry(AuditAction.TASK_EXPAND_FAILED, "task_instance", "etl/r/fan", "etl", {})
        record(s, "system", expand)

    def fail_after_recording() -> None:
        with db.transaction() as s:
            record(s, "ada", events.user_password_set("ada"))
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        fail_after_recording()
    rows = [query_audit(db, target_id=target)[0] for target in ("ada", "etl/r/fan")]
    assert [[(r.actor, r.action, r.target_type, r.dag_id, r.meta) for r in e] for e in rows] == [
        [
            (
                "ada",
                "auth.login_failed",
                "user",
                None,
                {
                    "username": "ada",
                    "client": "c",
                    "reason": "bad_password",
                    "count": 1,
                    "lastAt": AT.isoformat(),
                },
            )
        ],
        [("system", "task.expand_failed", "task_instance", "etl", {})],
    ]


def test_the_kernel_imports_none_of_the_rooms() -> None:
    """Shared by the engine, the commands and the reads, it must not pull any of them in."""
    code = (
        "import sys, pinflow.services.audit_events, pinflow.services.common\n"
        "rooms = [f'pinflow.services.{room}' for room in ('engine', 'commands', 'reads')]\n"
        "print(sorted(m for m in sys.modules if m.startswith(tuple(rooms))))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert out.strip() == "[]"
