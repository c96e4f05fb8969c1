"""Races that only PostgreSQL can stage: two connections, row locks, one winner per decision."""

from __future__ import annotations

import threading

import pytest

from pinflow.services.commands import _versions as versions
from pinflow.services.commands._push import PushMode, register_snapshot
from pinflow.services.reads._audit_log import query_audit
from pinflow.services.reads._dag_queries import get_dag
from pinflow.services.reads._queries import get_version
from pinflow.spec.models import DagSpec, TaskSpec
from pinflow.store.db import Database

ROUNDS = 3  # each round is a fresh DAG: more chances for the two publishes to overlap


def make_spec(dag_id: str, description: str) -> DagSpec:
    return DagSpec(
        dag_id=dag_id,
        name=dag_id,
        description=description,
        tasks=[
            TaskSpec(task_id="a", kind="bash", bash_command="true"),
            TaskSpec(task_id="b", kind="bash", bash_command="true", depends_on=["a"]),
        ],
    )


def two_drafts_of_v1(db: Database, dag_id: str) -> tuple[str, str, str]:
    v1 = register_snapshot(db, make_spec(dag_id, "v1"), b"", actor="ci", mode=PushMode.PUBLISH)
    drafts = []
    for label in ("left", "right"):
        draft = versions.create_version(db, v1.version.id, actor=label)
        versions.edit_draft(db, draft.id, make_spec(dag_id, label), actor=label)
        drafts.append(draft.id)
    return v1.version.id, drafts[0], drafts[1]


def publish_together(url: str, drafts: list[str], previous: str) -> list[versions.PublishResult]:
    """Publish each draft from its own thread and its own ``Database``, released together."""
    barrier = threading.Barrier(len(drafts))
    results: list[versions.PublishResult] = []
    errors: list[BaseException] = []

    def publish(draft: str) -> None:
        db = Database(url)
        try:
            barrier.wait(timeout=10)
            result = versions.publish(
                db, draft, actor=f"publisher-{draft[:8]}", deprecate_previous_version_id=previous
            )
            results.append(result)
        except BaseException as exc:  # reported by the test thread below
            errors.append(exc)
        finally:
            db.dispose()

    threads = [threading.Thread(target=publish, args=(d,)) for d in drafts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a publish hung (lock never released?)"
    assert errors == []
    return results


@pytest.mark.postgres_only
@pytest.mark.parametrize("round_", range(ROUNDS))
def test_two_publishes_deprecating_the_same_v1_deprecate_it_exactly_once(
    pg_db: Database, round_: int
) -> None:
    dag_id = f"race{round_}"
    v1, left, right = two_drafts_of_v1(pg_db, dag_id)

    results = publish_together(pg_db.url, [left, right], previous=v1)

    by_number = sorted(results, key=lambda r: r.version.version)
    assert [r.version.version for r in by_number] == [2, 3]
    assert {r.version.id for r in results} == {left, right}
    first, later = by_number
    assert first.deprecated_previous_id == v1  # the first to commit deprecates v1 ...
    assert later.deprecated_previous_id is None  # ... the second finds it already deprecated
    assert get_version(pg_db, v1).status == "deprecated"
    deprecations, total = query_audit(pg_db, action="workflow.deprecated", dag_id=dag_id)
    assert total == 1
    assert deprecations[0].target_id == v1
    assert deprecations[0].meta["targetWorkflowId"] == first.version.id
    assert get_dag(pg_db, dag_id).current_version_id == later.version.id
    assert get_version(pg_db, later.version.id).is_current
    for result in results:
        assert get_version(pg_db, result.version.id).status == "active"
