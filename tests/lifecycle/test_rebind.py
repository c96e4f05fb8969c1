"""The clear plan (seed 000's amendment), decided purely from states and graphs."""

from __future__ import annotations

from pinflow.lifecycle.rebind import (
    ClearSelection,
    Graph,
    PlanAction,
    plan_clear,
    select_tasks,
)
from pinflow.lifecycle.states import TaskState

S = TaskState
CHAIN = Graph({"a": [], "b": ["a"], "c": ["b"]})


def plan(states: dict[str, TaskState], selected: set[str], target: Graph) -> dict[str, PlanAction]:
    p = plan_clear(
        states=states,
        selected=selected,
        target=target,
        from_version_id="v1",
        to_version_id="v2",
        from_snapshot="s1",
        to_snapshot="s2",
    )
    assert p.rebinds
    return {e.task_id: e.action for e in p.entries}


def test_only_failed_selects_failed_and_resets_what_never_ran_downstream() -> None:
    states = {"a": S.SUCCESS, "b": S.FAILED, "c": S.UPSTREAM_FAILED}
    chosen = select_tasks(CHAIN, states, ClearSelection(task_ids=["b"], only_failed=True))
    assert chosen == {"b", "c"}


def test_include_upstream_and_downstream() -> None:
    states = dict.fromkeys("abc", S.SUCCESS)
    up = select_tasks(CHAIN, states, ClearSelection(task_ids=["b"], include_upstream=True))
    down = select_tasks(CHAIN, states, ClearSelection(task_ids=["b"], include_downstream=True))
    assert up == {"a", "b"}
    assert down == {"b", "c"}


def test_only_failed_filters_out_successful_tasks() -> None:
    states = {"a": S.SUCCESS, "b": S.SUCCESS, "c": S.FAILED}
    sel = ClearSelection(task_ids=None, only_failed=True)
    assert select_tasks(CHAIN, states, sel) == {"c"}


def test_unknown_task_ids_select_nothing() -> None:
    states = dict.fromkeys("abc", S.SUCCESS)
    assert select_tasks(CHAIN, states, ClearSelection(task_ids=["zzz"])) == set()


def test_same_graph_reexecutes_selected_and_reuses_the_rest() -> None:
    got = plan({"a": S.SUCCESS, "b": S.FAILED}, {"b"}, Graph({"a": [], "b": ["a"]}))
    assert got == {"a": PlanAction.REUSED, "b": PlanAction.RE_EXECUTED}


def test_target_removed_the_cleared_task() -> None:
    got = plan({"a": S.SUCCESS, "b": S.FAILED}, {"b"}, Graph({"a": []}))
    assert got == {"a": PlanAction.REUSED, "b": PlanAction.REMOVED}


def test_target_added_a_task() -> None:
    got = plan({"a": S.SUCCESS, "b": S.FAILED}, {"b"}, Graph({"a": [], "b": ["a"], "c": ["b"]}))
    assert got == {"a": PlanAction.REUSED, "b": PlanAction.RE_EXECUTED, "c": PlanAction.NEW}


def test_unfinished_task_missing_from_target_is_removed_but_finished_one_is_kept() -> None:
    states = {"a": S.SUCCESS, "x": S.SUCCESS, "y": S.NONE, "b": S.FAILED}
    got = plan(states, {"b"}, Graph({"a": [], "b": ["a"]}))
    assert got["x"] == PlanAction.REUSED
    assert got["y"] == PlanAction.REMOVED


def test_plan_lists_tasks_by_action() -> None:
    p = plan_clear(
        states={"a": S.SUCCESS, "b": S.FAILED},
        selected={"b"},
        target=Graph({"a": [], "b": ["a"], "c": ["b"]}),
        from_version_id="v1",
        to_version_id="v1",
        from_snapshot="s",
        to_snapshot="s",
    )
    assert not p.rebinds
    assert p.task_ids(PlanAction.NEW) == ["c"]
    assert p.task_ids(PlanAction.RE_EXECUTED) == ["b"]


def test_clearing_work_clears_its_setup_and_teardown() -> None:
    # create >> work >> delete, create >> delete (teardown); other is unrelated
    graph = Graph(
        {"create": [], "work": ["create"], "delete": ["create", "work"], "other": []},
        setups=frozenset({"create"}),
        teardowns=frozenset({"delete"}),
    )
    states = {"create": S.SUCCESS, "work": S.FAILED, "delete": S.SUCCESS, "other": S.SUCCESS}
    chosen = select_tasks(graph, states, ClearSelection(task_ids=["work"], only_failed=False))
    assert chosen == {"create", "work", "delete"}
    failed_only = select_tasks(graph, states, ClearSelection(only_failed=True))
    assert failed_only == {"create", "work", "delete"}
    assert select_tasks(graph, states, ClearSelection(task_ids=["other"])) == {"other"}
