"""Every service refuses bad input with a typed error that names the problem, and leaves the
database exactly as it was: every row of every table (audit events included) is compared
before and after."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import inspect, select, update

from pinflow.errors import ConflictError, InvalidInputError, NotFoundError, PinflowError
from pinflow.services.commands import _dags as dags
from pinflow.services.commands import _version_deletes as version_deletes
from pinflow.services.commands import _versions as versions
from pinflow.services.commands._push import PushMode, register_snapshot
from pinflow.services.commands._runs import trigger_run
from pinflow.services.reads import _dag_queries as dag_queries
from pinflow.services.reads import _queries as queries
from pinflow.services.reads._audit_log import query_audit
from pinflow.services.reads._dag_queries import DagFilter
from pinflow.spec.models import DagSpec, ParamSpec, TaskSpec
from pinflow.store.db import Database
from pinflow.store.tables import Base, TaskInstance


def make_spec(dag_id: str, *, cyclic: bool = False, description: str | None = None) -> DagSpec:
    return DagSpec(
        dag_id=dag_id,
        name=f"{dag_id} name",
        description=description,
        params={"limit": ParamSpec(type="integer", default=5, minimum=1)},
        tasks=[
            TaskSpec(
                task_id="a", kind="bash", bash_command="x", depends_on=["b"] if cyclic else []
            ),
            TaskSpec(task_id="b", kind="bash", bash_command="x", depends_on=["a"]),
        ],
    )


def push(db: Database, spec: DagSpec, mode: PushMode = PushMode.PUBLISH) -> str:
    return register_snapshot(db, spec, b"", actor="ci", mode=mode).version.id


@dataclass(frozen=True)
class World:
    active: str  # etl v1, current, with run "r1" whose task "a" is running
    draft: str  # cloned from ``active``
    deprecated: str  # of DAG "old"
    other: str  # active version of DAG "other"
    cyclic: str  # draft of DAG "cyclic", which has no current version


@pytest.fixture
def world(db: Database) -> World:
    active = push(db, make_spec("etl"))
    draft = versions.create_version(db, active, actor="alice").id
    deprecated = push(db, make_spec("old"))
    versions.deprecate(db, deprecated, actor="alice")
    other = push(db, make_spec("other"))
    cyclic = push(db, make_spec("cyclic", cyclic=True), PushMode.DRAFT)
    push(db, make_spec("gone"))
    dags.deregister(db, "gone", actor="alice")
    run = trigger_run(db, version_id=active, run_id="r1", actor="alice")
    with db.transaction() as s:
        s.execute(
            update(TaskInstance)
            .where(TaskInstance.run_pk == run.id, TaskInstance.task_id == "a")
            .values(state="running")
        )
    return World(active, draft, deprecated, other, cyclic)


def dump(db: Database) -> dict[str, tuple[int, list[str]]]:
    """Row count and every row (as text, sorted) of every table."""
    existing = set(inspect(db.engine).get_table_names())
    with db.read() as s:
        rows = {
            t.name: sorted(repr(tuple(r)) for r in s.execute(select(t)))
            for t in Base.metadata.sorted_tables
            if t.name in existing
        }
    return {name: (len(found), found) for name, found in rows.items()}


Call = Callable[[Database, World], object]
NAIVE = datetime(2026, 1, 1)
LATER = datetime.now(UTC) + timedelta(days=1)
CONFIRM = "Confirmation name does not match the workflow name"
DEPRECATED = "Deprecated workflows cannot start new runs. Create a new version instead."
NF, CE, II = NotFoundError, ConflictError, InvalidInputError
V, Q, VD = versions, queries, version_deletes
ETL_EDIT = make_spec("etl", description="edited")
NOPE = "'nope' was not found"
NO_DAG = "DAG 'nope' was not found"


@dataclass(frozen=True)
class Expected:
    error: type[PinflowError]
    text: str
    field: str | None = None  # the problem's location, for InvalidInputError


def case(name: str, call: Call, error: type[PinflowError], text: str, field: str = "") -> object:
    return pytest.param(call, Expected(error, text, field or None), id=name)


def publish_deprecating(previous: Callable[[World], str]) -> Call:
    return lambda db, w: V.publish(
        db, w.draft, actor="u", deprecate_previous_version_id=previous(w)
    )


# A table reads best aligned: one case per line or two.
# fmt: off
CASES = [
    # versions
    case("create_version unknown", lambda db, w: V.create_version(db, "nope", actor="u"), NF, NOPE),
    case("create_version of a draft", lambda db, w: V.create_version(db, w.draft, actor="u"),
         CE, "Only active or deprecated versions can be copied"),
    case("edit a published version", lambda db, w: V.edit_draft(db, w.active, ETL_EDIT, actor="u"),
         CE, "Only draft versions can be edited"),
    case("edit into other DAG", lambda db, w: V.edit_draft(db, w.draft, make_spec("x"), actor="u"),
         II, "does not match this version's DAG", "dag_id"),
    case("edit unknown", lambda db, w: V.edit_draft(db, "nope", ETL_EDIT, actor="u"), NF, NOPE),
    case("publish an invalid spec", lambda db, w: V.publish(db, w.cyclic, actor="u"),
         II, "cycle: a -> b -> a", "tasks"),
    case("publish a published version", lambda db, w: V.publish(db, w.active, actor="u"),
         CE, "Only drafts can be published"),
    case("deprecatePreviousVersionId of another DAG", publish_deprecating(lambda w: w.other),
         II, "must name a version of the same DAG"),
    case("deprecatePreviousVersionId unknown", publish_deprecating(lambda w: "nope"),
         II, "does not name an existing version"),
    case("deprecatePreviousVersionId is itself", publish_deprecating(lambda w: w.draft),
         II, "must name another version"),
    case("deprecate a draft", lambda db, w: V.deprecate(db, w.draft, actor="u"),
         CE, "Only active workflows can be deprecated; this one is draft"),
    case("deprecate twice", lambda db, w: V.deprecate(db, w.deprecated, actor="u"),
         CE, "this one is deprecated"),
    case("revert, wrong name",
         lambda db, w: V.revert_to_draft(db, w.active, confirmation_name="x", actor="u"),
         II, CONFIRM),
    case("revert a draft",
         lambda db, w: V.revert_to_draft(db, w.draft, confirmation_name="etl name", actor="u"),
         CE, "already a draft"),
    case("current := draft", lambda db, w: V.set_current_version(db, w.draft, actor="u"),
         CE, "Only an active version can become the current version"),
    case("current := deprecated", lambda db, w: V.set_current_version(db, w.deprecated, actor="u"),
         CE, "this one is deprecated"),
    case("current := nope", lambda db, w: V.set_current_version(db, "nope", actor="u"), NF, NOPE),
    # runs
    case("bad conf type",
         lambda db, w: trigger_run(db, dag_id="etl", conf={"limit": "ten"}, actor="u"),
         II, "expected integer, got 'ten'", "conf.limit"),
    case("conf below minimum",
         lambda db, w: trigger_run(db, dag_id="etl", conf={"limit": 0}, actor="u"),
         II, "expected at least 1", "conf.limit"),
    case("bad run_id", lambda db, w: trigger_run(db, dag_id="etl", run_id="bad id!", actor="u"),
         II, "run_id may only contain"),
    case("duplicate run_id", lambda db, w: trigger_run(db, dag_id="etl", run_id="r1", actor="u"),
         CE, "run_id 'r1' already exists"),
    case("run unknown DAG", lambda db, w: trigger_run(db, dag_id="nope", actor="u"), NF, NO_DAG),
    case("run unknown version", lambda db, w: trigger_run(db, version_id="nope", actor="u"),
         NF, NOPE),
    case("run version of another DAG",
         lambda db, w: trigger_run(db, dag_id="etl", version_id=w.other, actor="u"),
         NF, "was not found"),
    case("run a deprecated version",
         lambda db, w: trigger_run(db, version_id=w.deprecated, actor="u"), II, DEPRECATED),
    case("run a DAG without current version",
         lambda db, w: trigger_run(db, dag_id="cyclic", actor="u"), CE, "has no current version"),
    case("run a deregistered DAG", lambda db, w: trigger_run(db, dag_id="gone", actor="u"),
         NF, "DAG 'gone' was not found"),
    case("push an invalid spec to publish", lambda db, w: push(db, make_spec("new", cyclic=True)),
         II, "cycle: a -> b -> a", "tasks"),
    # version deletes
    case("soft delete unknown", lambda db, w: VD.soft_delete(db, "nope", actor="u"), NF, NOPE),
    case("restore a version not deleted", lambda db, w: VD.restore(db, w.active, actor="u"),
         CE, "not deleted"),
    case("purge a version with a running run", lambda db, w: VD.purge(db, w.active, actor="u"),
         CE, "1 queued or running run(s)"),
    # DAG operations
    case("clear unknown DAG", lambda db, w: dags.clear_history(db, "nope", actor="u"), NF, NO_DAG),
    case("clear while tasks run", lambda db, w: dags.clear_history(db, "etl", actor="u"),
         CE, "1 task instance(s) queued or running (runs in flight: r1)"),
    case("deregister while tasks run", lambda db, w: dags.deregister(db, "etl", actor="u"),
         CE, "queued or running"),
    case("deregister unknown", lambda db, w: dags.deregister(db, "nope", actor="u"), NF, NO_DAG),
    case("deregister twice", lambda db, w: dags.deregister(db, "gone", actor="u"),
         CE, "already deregistered"),
    case("restore a registered DAG", lambda db, w: dags.restore_dag(db, "other", actor="u"),
         CE, "not deregistered"),
    case("purge a registered DAG", lambda db, w: dags.purge_dag(db, "other", actor="u"),
         CE, "must be deregistered before it can be purged"),
    case("pause unknown DAG", lambda db, w: dags.set_paused(db, "nope", True, actor="u"),
         NF, NO_DAG),
    case("pause a deregistered DAG", lambda db, w: dags.set_paused(db, "gone", True, actor="u"),
         NF, "DAG 'gone' was not found"),
    case("re-run setting of unknown DAG",
         lambda db, w: dags.set_rerun_with_latest_version(db, "nope", False, actor="u"),
         NF, NO_DAG),
    case("preview unknown DAG", lambda db, w: dags.impact_preview(db, "nope"), NF, NO_DAG),
    # reads
    case("get unknown DAG",
         lambda db, w: dag_queries.get_dag(db, "nope", include_deregistered=False), NF, NO_DAG),
    case("get deregistered DAG",
         lambda db, w: dag_queries.get_dag(db, "gone", include_deregistered=False),
         NF, "'gone' was not"),
    case("list DAGs limit -1", lambda db, w: dag_queries.list_dags(
             db, DagFilter(), page=(-1, 0)),
         II, "between 0 and 1000, got -1", "limit"),
    case("list DAGs limit 1001", lambda db, w: dag_queries.list_dags(
             db, DagFilter(), page=(1001, 0)),
         II, "got 1001", "limit"),
    case("list DAGs offset -1", lambda db, w: dag_queries.list_dags(
             db, DagFilter(), page=(100, -1)),
         II, "must be 0 or more", "offset"),
    case("list DAGs unknown order", lambda db, w: dag_queries.list_dags(
             db, DagFilter(), order_by=["name"]),
         II, "cannot order by 'name'", "order_by"),
    case("list versions bad status", lambda db, w: Q.list_versions(db, status="live"),
         II, "must be one of draft, active, deprecated", "status"),
    case("list versions of unknown DAG", lambda db, w: Q.list_versions(db, dag_id="nope"),
         NF, NO_DAG),
    case("get unknown version", lambda db, w: Q.get_version(db, "nope"), NF, NOPE),
    case("get spec of unknown version", lambda db, w: Q.get_version_spec(db, "nope"), NF, NOPE),
    # audit log
    case("audit since after until",
         lambda db, w: query_audit(db, since=LATER, until=LATER - timedelta(seconds=1)),
         II, "must not be after until", "since"),
    case("audit naive since", lambda db, w: query_audit(db, since=NAIVE),
         II, "timezone-aware", "since"),
    case("audit naive until", lambda db, w: query_audit(db, until=NAIVE),
         II, "timezone-aware", "until"),
    case("audit limit 0", lambda db, w: query_audit(db, limit=0), II, "between 1 and", "limit"),
    case("audit limit 1001", lambda db, w: query_audit(db, limit=1001), II, "got 1001", "limit"),
    case("audit offset -5", lambda db, w: query_audit(db, offset=-5), II, "got -5", "offset"),
    case("audit unknown order", lambda db, w: query_audit(db, order="up"),
         II, "'desc' or 'asc'", "order"),
]
# fmt: on


@pytest.mark.parametrize(("call", "expected"), CASES)
def test_bad_input_is_refused_and_changes_nothing(
    db: Database, world: World, call: Call, expected: Expected
) -> None:
    before = dump(db)
    with pytest.raises(PinflowError) as raised:
        call(db, world)
    assert type(raised.value) is expected.error
    assert expected.text in raised.value.message
    if expected.field is not None:
        assert isinstance(raised.value, InvalidInputError)
        assert expected.field in [p.location for p in raised.value.problems]
    assert dump(db) == before


def test_the_same_calls_with_good_input_succeed(db: Database, world: World) -> None:
    """The control group: the validators refuse what is wrong, not everything."""
    start = datetime.now(UTC) - timedelta(minutes=1)
    assert trigger_run(db, dag_id="etl", conf={"limit": 3}, run_id="ok.1", actor="u").params
    assert versions.publish(db, world.draft, actor="u", deprecate_previous_version_id=world.active)
    newest_first = dag_queries.list_dags(db, DagFilter(), order_by=["-created_at"], page=(1000, 0))
    assert newest_first[1] == 4
    assert queries.list_versions(db, status="deprecated")[1] == 2
    everything, total = query_audit(db, since=start, until=LATER)
    assert total == len(everything) == query_audit(db)[1]
    assert everything[0].at >= everything[-1].at  # newest first
    assert len(query_audit(db, limit=2, offset=1)[0]) == 2
    assert {e.dag_id for e in query_audit(db, dag_id="other")[0]} == {"other"}
    assert query_audit(db, actor="nobody")[1] == 0
    assert query_audit(db, action="workflow.published", target_id=world.draft)[1] == 1
    assert query_audit(db, action="workflow.")[1] == query_audit(db, action="workflow*")[1]
    assert query_audit(db, action="workflow")[1] == 0  # no dot, no star: an exact match
    assert query_audit(db, since=LATER)[1] == 0
