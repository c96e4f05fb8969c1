"""The canary plan: which tasks of each replayed run are reused, re-run, new or removed."""

from __future__ import annotations

from typing import Any

from pinflow.lifecycle.canary import (
    CanaryAction,
    Outcome,
    SourceRun,
    SourceTask,
    VersionSide,
    canary_run_id,
    outcome,
    plan_canary,
    summary,
    task_digest,
    version_label,
)
from pinflow.lifecycle.states import RunState, TaskState
from pinflow.testing import make_spec

R = CanaryAction.REUSED
X = CanaryAction.RERUN

V6 = make_spec("etl", {"extract": [], "transform": ["extract"], "load": ["transform"]})


def side(spec: Any, code: str = "c1", version_id: str = "v6", label: str = "v6") -> VersionSide:
    return VersionSide(version_id, label, spec, code)


def run(states: dict[str, TaskState], **extra: Any) -> SourceRun:
    fields: dict[str, Any] = {
        "run_pk": 1,
        "run_id": "manual__1",
        "state": RunState.FAILED if TaskState.FAILED in states.values() else RunState.SUCCESS,
        "params": {},
        "tasks": {t: SourceTask(s) for t, s in states.items()},
        "canary_params": {},
    }
    return SourceRun(**(fields | extra))


OK, FAIL, UF = TaskState.SUCCESS, TaskState.FAILED, TaskState.UPSTREAM_FAILED
FAILED_AT_LOAD = {"extract": OK, "transform": OK, "load": FAIL}


def actions(plan: Any, n: int = 0) -> dict[str, CanaryAction]:
    return {t.task_id: t.action for t in plan.runs[n].tasks}


def test_a_fix_in_the_failing_task_reuses_everything_upstream_of_it() -> None:
    v7 = make_spec(
        "etl",
        {"extract": [], "transform": ["extract"], "load": ["transform"]},
        task_fields={"load": {"bash_command": "echo fixed"}},
    )
    plan = plan_canary(side(V6), side(v7, "c1", "v7", "v7"), [run(FAILED_AT_LOAD)])
    assert actions(plan) == {"extract": R, "transform": R, "load": X}
    assert plan.changed_tasks == ("load",)
    reasons = {t.task_id: t.reason for t in plan.runs[0].tasks}
    assert reasons["load"] == "changed in the target version"
    assert plan.runs[0].canary_run_id == "canary__manual__1__1"
    assert plan.problems == []


def test_a_change_upstream_re_runs_everything_downstream_of_it() -> None:
    v7 = make_spec(
        "etl",
        {"extract": [], "transform": ["extract"], "load": ["transform"]},
        task_fields={"transform": {"retries": 2}},
    )
    plan = plan_canary(side(V6), side(v7), [run({"extract": OK, "transform": OK, "load": OK})])
    assert actions(plan) == {"extract": R, "transform": X, "load": X}
    assert plan.runs[0].tasks[2].reason == "upstream 'transform' is re-run"


def test_a_task_that_did_not_succeed_in_the_source_run_is_re_run() -> None:
    states = {"extract": OK, "transform": FAIL, "load": UF}
    plan = plan_canary(side(V6), side(V6, "c1", "v7"), [run(states)])
    assert actions(plan) == {"extract": R, "transform": X, "load": X}
    assert plan.runs[0].tasks[1].reason == "it ended failed in the source run"


def test_new_code_bundle_re_runs_every_task_that_can_read_it() -> None:
    http = {"ping": {"kind": "http", "bash_command": None, "http": {"url": "http://x"}}}
    v6 = make_spec("etl", {"ping": [], "extract": []}, task_fields=http)
    plan = plan_canary(side(v6, "c1"), side(v6, "c2"), [run({"ping": OK, "extract": OK})])
    assert actions(plan) == {"ping": R, "extract": X}


def test_new_and_removed_tasks() -> None:
    v7 = make_spec("etl", {"extract": [], "transform": ["extract"], "publish": ["transform"]})
    plan = plan_canary(side(V6), side(v7), [run(FAILED_AT_LOAD)])
    assert actions(plan) == {
        "extract": R,
        "transform": R,
        "publish": CanaryAction.NEW,
        "load": CanaryAction.REMOVED,
    }


def test_a_new_dependency_is_a_change() -> None:
    v7 = make_spec("etl", {"extract": [], "transform": [], "load": ["transform", "extract"]})
    plan = plan_canary(side(V6), side(v7), [run(FAILED_AT_LOAD)])
    assert actions(plan) == {"extract": R, "transform": X, "load": X}


def test_doc_changes_are_not_changes_but_defaults_are() -> None:
    documented = make_spec(
        "etl",
        {"extract": [], "transform": ["extract"], "load": ["transform"]},
        task_fields={"extract": {"doc": "reads the source"}},
    )
    assert task_digest(V6, V6.tasks[0], "c") == task_digest(documented, documented.tasks[0], "c")
    pooled = make_spec(
        "etl",
        {"extract": [], "transform": ["extract"], "load": ["transform"]},
        default_args={"pool": "big"},
    )
    assert task_digest(V6, V6.tasks[0], "c") != task_digest(pooled, pooled.tasks[0], "c")


def test_params_that_differ_on_the_target_reuse_nothing() -> None:
    source = run(FAILED_AT_LOAD, params={"day": "a"}, canary_params={"day": "b"})
    plan = plan_canary(side(V6), side(V6, "c1", "v7"), [source])
    assert set(actions(plan).values()) == {X}
    assert plan.runs[0].tasks[0].reason == "the run's params differ on the target version"


def test_reuse_can_be_turned_off() -> None:
    plan = plan_canary(side(V6), side(V6, "c1", "v7"), [run(FAILED_AT_LOAD)], reuse=False)
    assert set(actions(plan).values()) == {X}


def test_mapped_and_artifact_outputs_are_re_run() -> None:
    tasks = {
        "extract": SourceTask(OK, outputs_in_artifacts=True),
        "transform": SourceTask(OK, mapped=True),
        "load": SourceTask(FAIL),
    }
    plan = plan_canary(side(V6), side(V6, "c1", "v7"), [run(FAILED_AT_LOAD, tasks=tasks)])
    reasons = {t.task_id: t.reason for t in plan.runs[0].tasks}
    assert set(actions(plan).values()) == {X}
    assert "artifact store" in reasons["extract"]
    assert "mapped" in reasons["transform"]


def test_a_conf_that_does_not_fit_the_target_is_a_problem_of_that_run() -> None:
    bad = run(FAILED_AT_LOAD, canary_params=None, conf_problem="conf.day: required")
    plan = plan_canary(side(V6), side(V6, "c1", "v7"), [bad, run(FAILED_AT_LOAD, run_pk=2)])
    assert plan.problems == ["run 'manual__1': conf.day: required"]
    assert plan.runs[1].problem is None


def test_a_cycle_in_a_draft_does_not_loop() -> None:
    cyclic = make_spec("etl", {"a": ["b"], "b": ["a"]})
    plan = plan_canary(side(cyclic), side(cyclic, "c1", "v7"), [run({"a": OK, "b": OK})])
    assert set(actions(plan).values()) == {X}


def test_canary_run_ids_count_and_fit() -> None:
    assert canary_run_id("scheduled__2026-12-01T00:00:00+00:00", 3) == (
        "canary__scheduled__2026-12-01T00:00:00+00:00__3"
    )
    long_id = canary_run_id("r" * 250, 12)
    assert len(long_id) == 250
    assert long_id.endswith("r__12")
    assert plan_canary(side(V6), side(V6), [run({}, earlier_canaries=2)]).runs[0].canary_run_id == (
        "canary__manual__1__3"
    )


def test_outcomes_and_the_summary_line() -> None:
    assert outcome(RunState.FAILED, RunState.SUCCESS) == Outcome.FIXED
    assert outcome(RunState.FAILED, RunState.FAILED) == Outcome.STILL_FAILING
    assert outcome(RunState.SUCCESS, RunState.FAILED) == Outcome.REGRESSED
    assert outcome(RunState.SUCCESS, RunState.SUCCESS) == Outcome.STILL_PASSING
    assert outcome(RunState.FAILED, RunState.RUNNING) == Outcome.PENDING
    five = [Outcome.FIXED] * 4 + [Outcome.STILL_FAILING]
    assert summary("v7", "v6", five) == "v7 vs v6 on 5 runs: 4 fixed, 1 still failing, 0 regressed"
    assert summary("draft of v6", "v6", [Outcome.STILL_PASSING, Outcome.PENDING]) == (
        "draft of v6 vs v6 on 2 runs: 0 fixed, 0 still failing, 0 regressed, "
        "1 still passing, 1 not finished"
    )
    assert version_label("active", 7) == "v7"
    assert version_label("draft", 6) == "draft of v6"
    assert version_label("draft", 0) == "draft"
