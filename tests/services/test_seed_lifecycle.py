"""Seed 001, table by table: every row of its tables is a test, run on every backend."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pinflow.errors import ConflictError, InvalidInputError
from pinflow.lifecycle.states import VersionStatus
from pinflow.services.commands import _versions as versions
from pinflow.services.commands._push import PushMode, register_snapshot
from pinflow.services.commands._runs import get_run, trigger_run
from pinflow.services.commands._version_deletes import purge, restore, soft_delete
from pinflow.services.reads import _dag_queries as dag_queries
from pinflow.services.reads import _queries as queries
from pinflow.services.reads._audit_log import query_audit
from pinflow.services.reads._views import AuditEventView
from pinflow.spec.models import DagSpec, ErrorStrategy, ParamSpec, TaskSpec, TriggerSpec
from pinflow.store.db import Database
from pinflow.testing import run_until_idle, scripted

DEPRECATED_MESSAGE = "Deprecated workflows cannot start new runs. Create a new version instead."
CONFIRMATION_MESSAGE = "Confirmation name does not match the workflow name"


def make_spec(dag_id: str = "etl", **changes: Any) -> DagSpec:
    fields: dict[str, Any] = {
        "dag_id": dag_id,
        "name": "Nightly ETL",
        "description": "Loads yesterday's orders",
        "error_strategy": ErrorStrategy.FAIL_FAST,
        "trigger": TriggerSpec(schedule="0 3 * * *", timezone="Europe/Paris", catchup=True),
        "params": {"day": ParamSpec(default="mon"), "limit": ParamSpec(type="integer", default=5)},
        "project": "analytics",
        "workflow_set": "nightly",
        "tasks": [
            TaskSpec(task_id="a", kind="bash", bash_command="echo a"),
            TaskSpec(task_id="b", kind="bash", bash_command="echo b", depends_on=["a"]),
            TaskSpec(task_id="c", kind="bash", bash_command="echo c", depends_on=["a", "b"]),
        ],
    }
    return DagSpec(**(fields | changes))


def push(db: Database, dag_id: str = "etl", mode: PushMode = PushMode.PUBLISH, **kw: Any) -> str:
    return register_snapshot(db, make_spec(dag_id, **kw), b"", actor="ci", mode=mode).version.id


def in_status(db: Database, status: str, dag_id: str = "etl") -> str:
    """A version in ``status``, with one finished run started while it could still run."""
    v1 = push(db, dag_id)
    version_id = versions.create_version(db, v1, actor="alice").id if status == "draft" else v1
    trigger_run(db, version_id=version_id, run_id="earlier", actor="alice")
    run_until_idle(db, scripted({}))
    if status == "deprecated":
        versions.deprecate(db, version_id, actor="alice")
    return version_id


def events(db: Database, action: str, target_id: str | None = None) -> list[AuditEventView]:
    return query_audit(db, action=action, target_id=target_id, order="asc")[0]


def status_of(db: Database, version_id: str) -> VersionStatus:
    return queries.get_version(db, version_id).status


def current_of(db: Database, dag_id: str = "etl") -> str | None:
    return dag_queries.get_dag(db, dag_id, include_deregistered=False).current_version_id


# --- the lifecycle table: Status | Can edit? | Can start runs? ----------------------------------


@pytest.mark.parametrize(
    ("status", "can_edit"), [("draft", True), ("active", False), ("deprecated", False)]
)
def test_lifecycle_can_edit(db: Database, status: str, can_edit: bool) -> None:
    version_id = in_status(db, status)
    edit = make_spec(description="edited")
    if can_edit:
        versions.edit_draft(db, version_id, edit, actor="alice")
        assert queries.get_version(db, version_id).description == "edited"
        return
    with pytest.raises(ConflictError, match="Create a new version instead"):
        versions.edit_draft(db, version_id, edit, actor="alice")
    assert versions.create_version(db, version_id, actor="alice").status == "draft"


@pytest.mark.parametrize(
    ("status", "run_type"), [("draft", "test"), ("active", "manual"), ("deprecated", None)]
)
def test_lifecycle_can_start_runs(db: Database, status: str, run_type: str | None) -> None:
    version_id = in_status(db, status)
    if run_type is None:
        with pytest.raises(InvalidInputError) as err:
            trigger_run(db, version_id=version_id, actor="alice")
        assert err.value.message == DEPRECATED_MESSAGE
        return
    assert trigger_run(db, version_id=version_id, actor="alice").run_type == run_type


@pytest.mark.parametrize("status", ["draft", "active", "deprecated"])
def test_soft_delete_at_any_status_then_restore_or_permanently_delete(
    db: Database, status: str
) -> None:
    version_id = in_status(db, status)
    soft_delete(db, version_id, actor="alice")
    assert version_id not in {v.id for v in queries.list_versions(db)[0]}
    assert version_id in {v.id for v in queries.list_versions(db, include_deleted=True)[0]}
    restore(db, version_id, actor="alice")
    assert version_id in {v.id for v in queries.list_versions(db)[0]}
    soft_delete(db, version_id, actor="alice")
    purge(db, version_id, actor="alice")
    assert version_id not in {v.id for v in queries.list_versions(db, include_deleted=True)[0]}
    assert get_run(db, "etl", "earlier").version_id is None  # the finished run stays


# --- "What gets copied" and "The new version receives" -----------------------------------------

COPIED: dict[str, Callable[[Any, DagSpec], object]] = {
    "name, description and error strategy": lambda v, s: (v.name, v.description, v.error_strategy),
    "trigger configuration": lambda v, s: s.trigger,
    "all context variables": lambda v, s: s.params,
    "all step definitions and transitions": lambda v, s: s.tasks,
    "project and workflow set": lambda v, s: (v.project, v.workflow_set, s.project),
}


@pytest.mark.parametrize("bullet", list(COPIED))
def test_new_version_copies(db: Database, bullet: str) -> None:
    source = push(db)
    copy = versions.create_version(db, source, actor="alice")
    got = COPIED[bullet](copy, queries.get_version_spec(db, copy.id))
    expected = COPIED[bullet](queries.get_version(db, source), queries.get_version_spec(db, source))
    assert got == expected
    plain = DagSpec(dag_id="plain", tasks=[TaskSpec(task_id="a", kind="bash", bash_command="x")])
    other = register_snapshot(db, plain, b"", actor="ci").version
    assert got != COPIED[bullet](other, plain)  # the copied values are not the defaults


@pytest.mark.parametrize("source_status", ["active", "deprecated"])
def test_new_version_receives_new_id_draft_inherited_version_and_source_link(
    db: Database, source_status: str
) -> None:
    push(db, description="v1")
    source = in_status(db, source_status)  # v2
    copy = versions.create_version(db, source, actor="alice")
    assert copy.id != source
    assert (copy.status, copy.version, copy.source_workflow_id) == ("draft", 2, source)
    assert status_of(db, source) == source_status  # the original remains unchanged
    assert versions.publish(db, copy.id, actor="alice").version.version == 3


# --- publish ----------------------------------------------------------------------------------


def test_publish_refuses_a_cyclic_draft_and_names_the_cycle(db: Database) -> None:
    draft = versions.create_version(db, push(db), actor="alice").id
    cyclic = make_spec(
        tasks=[
            TaskSpec(task_id="a", kind="bash", bash_command="x", depends_on=["b"]),
            TaskSpec(task_id="b", kind="bash", bash_command="x", depends_on=["a"]),
        ]
    )
    versions.edit_draft(db, draft, cyclic, actor="alice")
    with pytest.raises(InvalidInputError, match="cycle: a -> b -> a") as err:
        versions.publish(db, draft, actor="alice")
    assert "cycle: a -> b -> a" in [p.message for p in err.value.problems]
    assert status_of(db, draft) == "draft"


def test_publish_numbers_highest_published_plus_one_and_becomes_current(db: Database) -> None:
    v1 = push(db)
    draft = versions.create_version(db, v1, actor="alice").id
    push(db, description="v2")  # v2, published meanwhile by CI
    result = versions.publish(db, draft, actor="alice")
    assert (result.version.status, result.version.version) == ("active", 3)
    assert (result.version.is_current, current_of(db)) == (True, draft)


def test_publish_says_whether_the_source_is_still_active(db: Database) -> None:
    v1 = push(db)
    first = versions.publish(db, versions.create_version(db, v1, actor="a").id, actor="a")
    assert (first.source_workflow_id, first.source_still_active) == (v1, True)
    versions.deprecate(db, v1, actor="alice")  # the UI's follow-up call
    again = versions.publish(db, versions.create_version(db, v1, actor="a").id, actor="a")
    assert not again.source_still_active
    lone = push(db, "lone", mode=PushMode.DRAFT)
    assert not versions.publish(db, lone, actor="a").source_still_active


def test_publish_deprecates_the_previous_version_in_the_same_transaction(db: Database) -> None:
    v1 = push(db)
    draft = versions.create_version(db, v1, actor="alice").id
    versions.edit_draft(db, draft, make_spec(tasks=[]), actor="alice")  # not publishable
    with pytest.raises(InvalidInputError):
        versions.publish(db, draft, actor="alice", deprecate_previous_version_id=v1)
    assert (status_of(db, v1), events(db, "workflow.deprecated")) == ("active", [])
    versions.edit_draft(db, draft, make_spec(description="v2"), actor="alice")
    result = versions.publish(db, draft, actor="alice", deprecate_previous_version_id=v1)
    assert (result.deprecated_previous_id, result.source_still_active) == (v1, False)
    assert (status_of(db, v1), current_of(db)) == ("deprecated", draft)
    again = versions.create_version(db, draft, actor="alice").id  # v1 is no longer active:
    assert versions.publish(db, again, actor="a", deprecate_previous_version_id=v1)
    assert len(events(db, "workflow.deprecated", v1)) == 1  # nothing is deprecated twice


# --- deprecate ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["draft", "deprecated"])
def test_only_active_workflows_can_be_deprecated(db: Database, status: str) -> None:
    version_id = in_status(db, status)
    with pytest.raises(ConflictError, match="Only active workflows can be deprecated"):
        versions.deprecate(db, version_id, actor="alice")


def test_deprecate_moves_current_to_the_newest_remaining_active_version(db: Database) -> None:
    v1, v2, v3 = push(db), push(db, description="2"), push(db, description="3")
    versions.deprecate(db, v2, actor="alice")
    assert current_of(db) == v3
    versions.deprecate(db, v3, actor="alice")
    assert current_of(db) == v1
    versions.deprecate(db, v1, actor="alice")
    assert current_of(db) is None


# --- revert to draft ----------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["nightly etl", "Nightly ETL ", "", None])
def test_revert_with_a_wrong_name_is_refused_with_the_seed_message(
    db: Database, typed: str | None
) -> None:
    v1 = push(db)
    with pytest.raises(InvalidInputError) as err:
        versions.revert_to_draft(db, v1, confirmation_name=typed, actor="alice")
    assert err.value.message == CONFIRMATION_MESSAGE
    assert (status_of(db, v1), events(db, "workflow.reverted_to_draft")) == ("active", [])


@pytest.mark.parametrize("status", ["active", "deprecated"])
def test_revert_with_the_exact_name_keeps_runs_on_their_pinned_snapshot(
    db: Database, status: str
) -> None:
    version_id = in_status(db, status)
    pinned = get_run(db, "etl", "earlier").snapshot_digest
    view = versions.revert_to_draft(db, version_id, confirmation_name="Nightly ETL", actor="a")
    assert (view.status, view.is_current) == ("draft", False)
    versions.edit_draft(db, version_id, make_spec(description="changed"), actor="alice")
    assert queries.get_version(db, version_id).snapshot_digest != pinned
    assert get_run(db, "etl", "earlier").snapshot_digest == pinned


# --- version tracking: version | sourceWorkflowId ----------------------------------------------


def test_version_is_incremented_each_time_a_workflow_is_published(db: Database) -> None:
    drafts = [push(db, mode=PushMode.DRAFT, description=str(i)) for i in range(3)]
    assert [versions.publish(db, d, actor="a").version.version for d in drafts] == [1, 2, 3]


def test_source_workflow_id_chain_and_on_delete_set_null(db: Database) -> None:
    v1 = push(db)
    v2 = versions.publish(db, versions.create_version(db, v1, actor="a").id, actor="a").version
    v3 = versions.create_version(db, v2.id, actor="alice")
    assert [v3.source_workflow_id, v2.source_workflow_id] == [v2.id, v1]
    versions.deprecate(db, v1, actor="alice")
    purge(db, v1, actor="alice")
    assert queries.get_version(db, v2.id).source_workflow_id is None
    assert queries.get_version(db, v3.id).source_workflow_id == v2.id


# --- run behaviour by status: New runs | Existing runs ------------------------------------------


@pytest.mark.parametrize("status", ["draft", "active", "deprecated"])
def test_existing_runs_continue_normally(db: Database, status: str) -> None:
    v1 = push(db)
    version_id = versions.create_version(db, v1, actor="a").id if status == "draft" else v1
    run = trigger_run(db, version_id=version_id, run_id="inflight", actor="alice")
    if status == "deprecated":
        versions.deprecate(db, version_id, actor="alice")
    run_until_idle(db, scripted({}))
    finished = get_run(db, "etl", "inflight")
    assert (finished.state, finished.snapshot_digest) == ("success", run.snapshot_digest)


def test_permanent_delete_is_refused_while_runs_are_queued_or_running(db: Database) -> None:
    v1 = push(db)
    trigger_run(db, version_id=v1, run_id="queued", actor="alice")
    soft_delete(db, v1, actor="alice")
    with pytest.raises(ConflictError, match="queued or running"):
        purge(db, v1, actor="alice")
    restore(db, v1, actor="alice")
    run_until_idle(db, scripted({}))
    purge(db, v1, actor="alice")
    assert get_run(db, "etl", "queued").state == "success"


# --- audit actions ----------------------------------------------------------------------------


def test_audit_version_created_and_deprecated_link_source_and_target(db: Database) -> None:
    v1 = push(db)
    v2 = versions.create_version(db, v1, actor="alice").id
    created = events(db, "workflow.version_created", v2)[0]
    assert (created.actor, created.meta["sourceWorkflowId"]) == ("alice", v1)
    assert created.meta["targetWorkflowId"] == v2
    versions.publish(db, v2, actor="bob", deprecate_previous_version_id=v1)
    deprecated = events(db, "workflow.deprecated", v1)[0]
    assert (deprecated.actor, deprecated.meta["targetWorkflowId"]) == ("bob", v2)
    versions.deprecate(db, v2, actor="carol")
    assert events(db, "workflow.deprecated", v2)[0].meta["sourceWorkflowId"] == v1


def test_audit_published_and_reverted_to_draft(db: Database) -> None:
    draft = versions.create_version(db, push(db), actor="alice").id
    versions.publish(db, draft, actor="bob")
    versions.revert_to_draft(db, draft, confirmation_name="Nightly ETL", actor="carol")
    published = events(db, "workflow.published", draft)
    reverted = events(db, "workflow.reverted_to_draft", draft)
    assert [(e.actor, e.meta["version"]) for e in published] == [("bob", 2)]
    assert [(e.actor, e.meta["previousStatus"]) for e in reverted] == [("carol", "active")]
    trail = query_audit(db, target_id=draft, action="workflow.", order="asc")[0]
    assert [e.action for e in trail] == [
        "workflow.version_created",
        "workflow.published",
        "workflow.reverted_to_draft",
    ]


# --- set_current_version: roll back -------------------------------------------------------------


def test_set_current_version_rolls_back_to_an_older_active_version(db: Database) -> None:
    v1, v2 = push(db), push(db, description="v2")
    assert current_of(db) == v2
    assert versions.set_current_version(db, v1, actor="alice").is_current
    assert trigger_run(db, dag_id="etl", actor="alice").version_id == v1
    event = events(db, "dag.current_version_set")[0]
    assert (event.meta["fromVersionId"], event.meta["toVersionId"]) == (v2, v1)
    versions.deprecate(db, v2, actor="alice")
    with pytest.raises(ConflictError, match="Only an active version"):
        versions.set_current_version(db, v2, actor="alice")


# --- UI summary: the actions each status offers, on the detail page and in the list ------------

ACTIONS: dict[str, Callable[[Database, str], object]] = {
    "Test Run": lambda db, v: trigger_run(db, version_id=v, actor="u"),
    "Start Run": lambda db, v: trigger_run(db, version_id=v, actor="u"),
    "View Runs": lambda db, v: get_run(db, queries.get_version(db, v).dag_id, "earlier"),
    "Edit": lambda db, v: versions.edit_draft(
        db, v, make_spec(queries.get_version(db, v).dag_id, description="e"), actor="u"
    ),
    "Publish": lambda db, v: versions.publish(db, v, actor="u"),
    "New Version": lambda db, v: versions.create_version(db, v, actor="u"),
    "Deprecate": lambda db, v: versions.deprecate(db, v, actor="u"),
    "Revert to Draft": lambda db, v: versions.revert_to_draft(
        db, v, confirmation_name="Nightly ETL", actor="u"
    ),
    "Delete": lambda db, v: soft_delete(db, v, actor="u"),
}
DETAIL_PAGE = {
    "draft": ["Test Run", "Edit", "Publish", "Delete"],
    "active": ["Start Run", "View Runs", "New Version", "Deprecate", "Delete"],
    "deprecated": ["View Runs", "New Version", "Revert to Draft", "Delete"],
}
LIST_PAGE = {
    "draft": ["Test Run", "Edit", "Publish", "Delete"],
    "active": ["Start Run", "New Version", "Deprecate", "Delete"],
    "deprecated": ["New Version", "Delete"],
}
REFUSED = {
    "draft": ["New Version", "Deprecate", "Revert to Draft"],
    "active": ["Edit", "Publish"],
    "deprecated": ["Start Run", "Edit", "Publish", "Deprecate"],
}


@pytest.mark.parametrize(
    ("page", "status"), [(p, s) for p in ("detail", "list") for s in DETAIL_PAGE]
)
def test_ui_actions_offered_for_each_status_succeed(db: Database, page: str, status: str) -> None:
    offered = (DETAIL_PAGE if page == "detail" else LIST_PAGE)[status]
    for i, action in enumerate(offered):
        ACTIONS[action](db, in_status(db, status, dag_id=f"dag{i}"))


@pytest.mark.parametrize("status", list(REFUSED))
def test_actions_not_offered_for_a_status_are_refused(db: Database, status: str) -> None:
    version_id = in_status(db, status)
    for action in REFUSED[status]:
        with pytest.raises((ConflictError, InvalidInputError)):
            ACTIONS[action](db, version_id)
