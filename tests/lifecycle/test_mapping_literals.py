"""Mapping over literal lists and ``expand_kwargs`` as data (ADR 0039): the lists an element
is taken from, in Airflow's order, and what a ready task expands to."""

from __future__ import annotations

import itertools

import pytest

from pinflow.lifecycle.mapping import element, expansion_for, mapped_lists, upstream_refs
from pinflow.lifecycle.states import TaskState
from pinflow.runtime.xcoms import unpack_expand_kwargs
from pinflow.spec.models import EXPAND_KWARGS, DagSpec, TaskSpec, XComRef

SOURCE = TaskSpec(task_id="src", callable="m:f")


def dag(task: TaskSpec) -> DagSpec:
    return DagSpec(dag_id="d", tasks=[SOURCE, task])


def test_literal_and_upstream_lists_follow_the_order_the_arguments_were_given() -> None:
    task = TaskSpec(
        task_id="m",
        callable="m:f",
        expand={"y": XComRef(task_id="src")},
        expand_literals={"x": [1, 2]},
        expand_order=["y", "x"],
    )
    lists = mapped_lists(task, {"y": [10, 20, 30]})
    assert list(lists) == ["y", "x"]
    got = [element(lists, i) for i in range(6)]
    assert [(e["y"], e["x"]) for e in got] == list(itertools.product([10, 20, 30], [1, 2]))


def test_without_an_order_the_arguments_are_sorted() -> None:
    task = TaskSpec(task_id="m", callable="m:f", expand_literals={"b": [1], "a": [2, 3]})
    assert task.mapped_names == ["a", "b"]
    assert element(mapped_lists(task, {}), 1) == {"a": 3, "b": 1}


def test_literal_lists_expand_at_once_and_an_empty_one_skips() -> None:
    three = TaskSpec(task_id="m", callable="m:f", expand_literals={"x": [1, 2, 3]})
    expansion = expansion_for(dag(three), three, {}, {}, {})
    assert (expansion.state, expansion.count) == (TaskState.SCHEDULED, 3)
    empty = three.model_copy(update={"expand_literals": {"x": []}})
    assert expansion_for(dag(empty), empty, {}, {}, {}).state == TaskState.SKIPPED
    assert expansion_for(dag(three), three, {}, {}, {}, max_length=2).state == TaskState.FAILED


def test_expand_kwargs_counts_the_upstream_list_and_refuses_a_non_list() -> None:
    task = TaskSpec(task_id="m", callable="m:f", expand_kwargs=XComRef(task_id="src"))
    assert upstream_refs(task) == {EXPAND_KWARGS: XComRef(task_id="src")}
    states = {"src": [TaskState.SUCCESS]}
    listed = {("src", "return_value"): {-1: [{"x": 1}, 2]}}
    assert expansion_for(dag(task), task, states, {}, listed).count == 2
    scalar = {("src", "return_value"): {-1: 5}}
    failed = expansion_for(dag(task), task, states, {}, scalar)
    assert failed.state == TaskState.FAILED
    assert failed.error == "expand_kwargs() expects a list[dict], not int (task 'src')"
    assert mapped_lists(task, {EXPAND_KWARGS: [{"x": 1}]}) == {EXPAND_KWARGS: [{"x": 1}]}


def test_an_element_that_is_not_a_dict_fails_with_airflows_message() -> None:
    assert unpack_expand_kwargs({"a": 1, EXPAND_KWARGS: {"b": 2}}) == {"a": 1, "b": 2}
    assert unpack_expand_kwargs({"a": 1}) == {"a": 1}
    with pytest.raises(
        ValueError, match=r"^expand_kwargs\(\) expects a list\[dict\], not list\[None\]$"
    ):
        unpack_expand_kwargs({EXPAND_KWARGS: None})
    with pytest.raises(ValueError, match=r"not list\[int\]$"):
        unpack_expand_kwargs({EXPAND_KWARGS: 3})
