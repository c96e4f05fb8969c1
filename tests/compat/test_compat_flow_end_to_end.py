"""Branching, short-circuiting, setup/teardown and mapped-output filtering in Airflow 3 DAG
files, pushed unmodified and run by the real scheduler and local executor (real task
processes), on SQLite and PostgreSQL: the final states, XComs and mapped counts Airflow's
documentation gives for the same files."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from tests.compat.flow_dag_files import (
    CUSTOM_OPERATOR,
    EXAMPLE_BRANCH_DECORATOR,
    EXAMPLE_BRANCH_OPERATOR,
    EXAMPLE_SETUP_TEARDOWN_TASKFLOW,
    EXAMPLE_SHORT_CIRCUIT_DECORATOR,
    EXAMPLE_SHORT_CIRCUIT_OPERATOR,
    MAPPED_FILTERING,
    SETUP_TEARDOWN_FAILURES,
)
from tests.scheduler.helpers import (
    push_dag,
    run,
    run_state,
    task_instances,
    tries_of,
)

from pinflow.scheduler.loop import Scheduler
from pinflow.sdk.compiler import compile_path
from pinflow.services.commands._clear import clear_task_instances
from pinflow.services.commands._push import register_snapshot
from pinflow.services.xcom_values import value_of as get_xcom
from pinflow.store.db import Database
from pinflow.store.tables import DagRun, TaskInstance


def states(db: Database, dag_id: str) -> dict[str, str]:
    return {task_id: ti.state for task_id, ti in task_instances(db, dag_id, "r1").items()}


def xcom(db: Database, dag_id: str, task_id: str) -> object:
    run_pk = task_instances(db, dag_id, "r1")[task_id].run_pk
    return get_xcom(db, run_pk, task_id)


def test_example_branch_operator_follows_one_branch_and_the_join_runs(
    db: Database, scheduler: Scheduler, tmp_path: Path
) -> None:
    push_dag(db, tmp_path / "dags", "example_branch_operator", EXAMPLE_BRANCH_OPERATOR)
    assert run(db, scheduler, "example_branch_operator") == "success"
    skipped = {f"{p}branch_{x}": "skipped" for p in ("", "follow_") for x in "acd"}
    assert states(db, "example_branch_operator") == {
        "run_this_first": "success",
        "branching": "success",
        "branch_b": "success",
        "follow_branch_b": "success",
        **skipped,
        "join": "success",  # none_failed_min_one_success
    }
    assert xcom(db, "example_branch_operator", "branching") == "branch_b"


def test_a_taskflow_branch_follows_tasks_and_groups_and_none_follows_nothing(
    db: Database, scheduler: Scheduler, tmp_path: Path
) -> None:
    dag_id = "example_branch_python_operator_decorator"
    push_dag(db, tmp_path / "dags", "example_branch_decorator", EXAMPLE_BRANCH_DECORATOR)
    assert run(db, scheduler, dag_id) == "success"
    found = states(db, dag_id)
    assert found == {
        "run_this_first": "success",
        "branching": "success",
        "branch_a": "success",
        "follow_branch_a": "success",
        "branch_b": "skipped",
        "follow_branch_b": "skipped",
        "branch_c": "skipped",
        "follow_branch_c": "skipped",
        "branch_d": "success",
        "follow_branch_d": "success",
        "cleanup_group.first": "success",  # the group id was returned
        "cleanup_group.second": "success",
        "unused_group.only": "skipped",
        "join": "success",
        "choose_nothing": "success",  # returned None
        "never": "skipped",
    }
    assert xcom(db, dag_id, "branching") == ["branch_a", "branch_d", "cleanup_group"]
    assert xcom(db, dag_id, "branch_a") == "doing something in Python"


def test_a_branch_that_names_an_unknown_task_fails_saying_so(
    db: Database, scheduler: Scheduler, tmp_path: Path
) -> None:
    source = EXAMPLE_BRANCH_OPERATOR.replace("return OPTIONS[1]", 'return "branch_z"')
    push_dag(db, tmp_path / "dags", "example_branch_operator", source)
    assert run(db, scheduler, "example_branch_operator") == "failed"
    found = states(db, "example_branch_operator")
    assert found["branching"] == "failed"
    assert {found[f"branch_{x}"] for x in "abcd"} == {"upstream_failed"}
    (failed,) = tries_of(db, task_instances(db, "example_branch_operator", "r1")["branching"].id)
    assert failed.error is not None
    assert "returned 'branch_z', which is no task or task group" in failed.error


def test_example_short_circuit_decorator_skips_all_or_lets_trigger_rules_decide(
    db: Database, scheduler: Scheduler, tmp_path: Path
) -> None:
    dag_id = "example_short_circuit_decorator"
    push_dag(
        db, tmp_path / "dags", "example_short_circuit_decorator", EXAMPLE_SHORT_CIRCUIT_DECORATOR
    )
    assert run(db, scheduler, dag_id) == "success"
    assert states(db, dag_id) == {
        "condition_is_true": "success",
        "true_1": "success",
        "true_2": "success",
        "condition_is_false": "success",
        "false_1": "skipped",  # ignore_downstream_trigger_rules=True: everything after it
        "false_2": "skipped",
        "task_1": "success",
        "task_2": "success",
        "short_circuit": "success",
        "task_3": "success",
        "task_4": "skipped",  # the direct downstream of short_circuit
        "task_5": "success",
        "task_6": "skipped",  # all_success: its upstream was skipped
        "task_7": "success",  # all_done: the trigger rule decides, not the short circuit
    }
    assert xcom(db, dag_id, "condition_is_true") is True
    assert xcom(db, dag_id, "condition_is_false") is False


def test_short_circuit_operators_skip_downstream_but_not_a_teardown(
    db: Database, scheduler: Scheduler, tmp_path: Path
) -> None:
    dag_id = "example_short_circuit_operator"
    push_dag(db, tmp_path / "dags", dag_id, EXAMPLE_SHORT_CIRCUIT_OPERATOR)
    assert run(db, scheduler, dag_id) == "success"
    assert states(db, dag_id) == {
        "condition_is_True": "success",
        "true_1": "success",
        "true_2": "success",
        "prepare": "success",
        "condition_is_False": "success",
        "false_1": "skipped",
        "false_2": "skipped",
        "cleanup": "success",  # a teardown: never skipped by a short circuit
    }


def test_example_setup_teardown_taskflow_runs_setups_work_and_teardowns(
    db: Database, scheduler: Scheduler, tmp_path: Path
) -> None:
    dag_id = "example_setup_teardown_taskflow"
    push_dag(db, tmp_path / "dags", dag_id, EXAMPLE_SETUP_TEARDOWN_TASKFLOW)
    assert run(db, scheduler, dag_id) == "success"
    found = states(db, dag_id)
    assert len(found) == 9
    assert set(found.values()) == {"success"}
    assert xcom(db, dag_id, "outer_teardown") == "Tearing down cluster: some cluster id"
    inner = "section_1.inner_teardown"
    assert xcom(db, dag_id, inner) == "Tearing down cluster: some_cluster_id"


def push_all(db: Database, folder: Path, module: str, source: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{module}.py").write_text(source)
    for compiled in compile_path(folder):
        register_snapshot(db, compiled.spec, compiled.bundle, actor="tester")


def test_teardowns_run_after_failures_and_fail_the_run_only_when_told(
    db: Database, scheduler: Scheduler, tmp_path: Path
) -> None:
    push_all(db, tmp_path / "dags", "setup_teardown_failures", SETUP_TEARDOWN_FAILURES)
    # the work failed, its setup ran: the teardown runs, the run fails (the work failed)
    assert run(db, scheduler, "failed_work") == "failed"
    assert states(db, "failed_work") == {
        "create_cluster": "success",
        "work": "failed",
        "delete_cluster": "success",
    }
    assert xcom(db, "failed_work", "delete_cluster") == "deleted cluster-1"
    # clearing the work clears its setup and teardown too; they all run again
    cleared = clear_task_instances(
        db, "failed_work", actor="tester", task_ids=["work"], dag_run_id="r1", only_failed=False
    )
    assert sorted(t for _, t in cleared.cleared_task_ids) == [
        "create_cluster",
        "delete_cluster",
        "work",
    ]
    scheduler.wake()
    assert scheduler.drain(60.0)
    assert run_state(db, "failed_work", "r1") == "failed"
    for ti in task_instances(db, "failed_work", "r1").values():
        assert len(tries_of(db, ti.id)) == 2
    # a teardown's failure does not fail the run...
    assert run(db, scheduler, "failed_teardown") == "success"
    assert states(db, "failed_teardown")["broken_delete"] == "failed"
    # ...unless on_failure_fail_dagrun=True
    assert run(db, scheduler, "failed_strict_teardown") == "failed"
    assert states(db, "failed_strict_teardown")["strict_delete"] == "failed"
    # no setup succeeded: nothing to tear down
    assert run(db, scheduler, "failed_setup") == "failed"
    assert states(db, "failed_setup") == {
        "no_cluster": "failed",
        "fine": "upstream_failed",
        "delete_cluster": "upstream_failed",
    }


def test_mapped_outputs_leave_out_elements_that_returned_none_or_were_skipped(
    db: Database, scheduler: Scheduler, tmp_path: Path
) -> None:
    dag_id = "mapped_filtering"
    push_dag(db, tmp_path / "dags", dag_id, MAPPED_FILTERING)
    assert run(db, scheduler, dag_id) == "success"
    assert xcom(db, dag_id, "collect_none") == [1, 3, 5]  # as Airflow: None is not passed on
    assert xcom(db, dag_id, "collect_skipped") == [1, 3, 5]  # skipped elements pushed nothing
    assert xcom(db, dag_id, "collect_doubled") == [2, 6, 10]
    assert mapped_states(db, dag_id, "odd_or_none") == ["success"] * 5
    assert mapped_states(db, dag_id, "double") == ["success"] * 3  # mapped over 3 values, not 5
    assert mapped_states(db, dag_id, "odd_or_skip") == ["success", "skipped"] * 2 + ["success"]


def mapped_states(db: Database, dag_id: str, task_id: str) -> list[str]:
    with db.read() as s:
        rows = s.execute(
            select(TaskInstance.state)
            .join(DagRun, DagRun.id == TaskInstance.run_pk)
            .where(DagRun.dag_id == dag_id, TaskInstance.task_id == task_id)
            .order_by(TaskInstance.map_index)
        )
        return [state for (state,) in rows]


def test_a_custom_operator_executes_and_its_return_value_is_the_xcom(
    db: Database, scheduler: Scheduler, tmp_path: Path
) -> None:
    push_dag(db, tmp_path / "dags", "custom_operator", CUSTOM_OPERATOR)
    assert run(db, scheduler, "custom_operator") == "success"
    assert set(states(db, "custom_operator").values()) == {"success"}
    hello = "Hello foo_bar! (sample_task of custom_operator)"
    assert xcom(db, "custom_operator", "sample_task") == hello
    assert xcom(db, "custom_operator", "shout") == hello.upper()
    assert xcom(db, "custom_operator", "from_upstream") == (
        "Hello world? (from_upstream of custom_operator)"
    )
    assert mapped_states(db, "custom_operator", "mapped_hello") == ["success"] * 3
    assert xcom(db, "custom_operator", "greetings") == [
        f"Hello {name}. (mapped_hello of custom_operator)" for name in ("ada", "bob", "cy")
    ]
