"""Issue #15 point 6: a DAG that a push creates may start paused (Airflow's
``dags_are_paused_at_creation`` / ``is_paused_upon_creation``); later pushes never change it."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from pinflow.scheduler.cron import create_due_runs
from pinflow.sdk.compiler import compile_path
from pinflow.services.commands._dags import set_paused
from pinflow.services.commands._push import register_snapshot
from pinflow.services.commands._runs import trigger_run
from pinflow.services.reads._audit_log import query_audit
from pinflow.spec.canonical import snapshot_digest, spec_to_dict
from pinflow.spec.models import DagSpec
from pinflow.store.db import Database
from pinflow.store.tables import Dag, DagRun
from pinflow.testing import make_spec, run_until_idle, scripted

NOW = datetime(2026, 1, 10, 5, 30, tzinfo=UTC)
NIGHTLY = {"schedule": "@daily", "start_date": "2026-01-07T00:00:00", "catchup": True}


def is_paused(db: Database, dag_id: str) -> bool:
    with db.read() as s:
        return s.scalars(select(Dag.is_paused).where(Dag.dag_id == dag_id)).one()


def registered_details(db: Database, dag_id: str) -> dict[str, object]:
    (event,), _ = query_audit(db, dag_id=dag_id, action="dag.registered")
    return dict(event.meta)


def test_a_new_dag_starts_paused_when_the_instance_says_so(db: Database) -> None:
    register_snapshot(db, make_spec("etl", {"a": []}), actor="ci", paused_at_creation=True)
    assert is_paused(db, "etl") is True
    assert registered_details(db, "etl") == {"project": "default", "paused": True}
    register_snapshot(db, make_spec("plain", {"a": []}), actor="ci")
    assert is_paused(db, "plain") is False
    assert registered_details(db, "plain") == {"project": "default", "paused": False}


def test_pushing_a_new_version_never_changes_the_paused_flag(db: Database) -> None:
    register_snapshot(db, make_spec("etl", {"a": []}), actor="ci", paused_at_creation=True)
    set_paused(db, "etl", False, actor="alice")
    bigger = make_spec("etl", {"a": [], "b": ["a"]})
    register_snapshot(db, bigger, actor="ci", paused_at_creation=True)
    assert is_paused(db, "etl") is False
    # And the other way round: a DAG paused by hand stays paused whatever the push says.
    set_paused(db, "etl", True, actor="alice")
    spec = make_spec("etl", {"a": [], "b": ["a"], "c": ["b"]}, paused_at_creation=False)
    register_snapshot(db, spec, actor="ci")
    assert is_paused(db, "etl") is True


def test_the_dags_own_flag_wins_over_the_instance_default(db: Database) -> None:
    spec = make_spec("eager", {"a": []}, paused_at_creation=False)
    register_snapshot(db, spec, actor="ci", paused_at_creation=True)
    assert is_paused(db, "eager") is False
    careful = make_spec("careful", {"a": []}, paused_at_creation=True)
    register_snapshot(db, careful, actor="ci", paused_at_creation=False)
    assert is_paused(db, "careful") is True


def test_a_paused_at_creation_cron_dag_gets_no_scheduled_run_and_a_trigger_waits(
    db: Database,
) -> None:
    spec = make_spec("nightly", {"a": []}, trigger=NIGHTLY)
    register_snapshot(db, spec, actor="ci", paused_at_creation=True)
    assert create_due_runs(db, now=NOW) == 0
    # A manual trigger is accepted; as in Airflow, its run waits queued until the DAG is
    # unpaused (the scheduler starts no run of a paused DAG).
    trigger_run(db, dag_id="nightly", run_id="manual__1", actor="alice")
    run_until_idle(db, scripted({}))
    assert run_states(db) == {"manual__1": "queued"}
    set_paused(db, "nightly", False, actor="alice")
    assert create_due_runs(db, now=NOW) == 3
    run_until_idle(db, scripted({}))
    states = run_states(db)
    assert len(states) == 4
    assert set(states.values()) == {"success"}


def run_states(db: Database) -> dict[str, str]:
    with db.read() as s:
        rows = s.execute(select(DagRun.run_id, DagRun.state).where(DagRun.dag_id == "nightly"))
        return {run_id: state for run_id, state in rows}


def test_the_flag_leaves_the_digest_of_dags_that_do_not_use_it() -> None:
    plain = make_spec("etl", {"a": []})
    assert "paused_at_creation" not in spec_to_dict(plain)
    flagged = plain.model_copy(update={"paused_at_creation": True})
    assert spec_to_dict(flagged)["paused_at_creation"] is True
    assert snapshot_digest(flagged) != snapshot_digest(plain)
    # A stored document without the key loads as "the instance decides".
    assert DagSpec.model_validate(spec_to_dict(plain)).paused_at_creation is None


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            """
            from pinflow import dag, task

            @task
            def a():
                return 1

            @dag(paused_at_creation=True)
            def native():
                a()

            native()
            """,
            True,
        ),
        (
            """
            import pendulum
            from airflow.sdk import DAG
            from airflow.providers.standard.operators.bash import BashOperator

            with DAG("native", start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
                     schedule="@daily", is_paused_upon_creation=False):
                BashOperator(task_id="a", bash_command="true")
            """,
            False,
        ),
        (
            """
            import pendulum
            from airflow.sdk import DAG
            from airflow.providers.standard.operators.bash import BashOperator

            with DAG("native", start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
                     schedule="@daily", is_paused_upon_creation=None):
                BashOperator(task_id="a", bash_command="true")
            """,
            None,
        ),
    ],
)
def test_authors_set_it_with_pinflow_or_airflow_arguments(
    tmp_path: Path, source: str, expected: bool | None
) -> None:
    (tmp_path / "native.py").write_text(textwrap.dedent(source))
    (compiled,) = compile_path(tmp_path)
    assert compiled.spec.paused_at_creation is expected


def test_a_non_bool_flag_is_refused_with_its_name(tmp_path: Path) -> None:
    source = """
        from pinflow import dag, task

        @task
        def a():
            return 1

        @dag(paused_at_creation="yes")
        def native():
            a()

        native()
        """
    (tmp_path / "native.py").write_text(textwrap.dedent(source))
    with pytest.raises(Exception, match="paused_at_creation must be a bool, got str"):
        compile_path(tmp_path)
