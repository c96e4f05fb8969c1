"""Dynamic task mapping as data: expansion plans, the product's order, how planning waits."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from pinflow.lifecycle.mapping import (
    MAX_MAP_LENGTH,
    MISSING,
    ExpandInput,
    Expansion,
    RunInstances,
    StoredElement,
    StoredValue,
    element,
    expansion_for,
    map_length,
    plan_expansion,
    upstream_output,
)
from pinflow.lifecycle.run_planning import plan_run
from pinflow.lifecycle.states import RunState, TaskState
from pinflow.spec.models import ErrorStrategy
from pinflow.testing import make_spec

N = TaskState.NONE
SC = TaskState.SCHEDULED
R = TaskState.RUNNING
S = TaskState.SUCCESS
F = TaskState.FAILED
UF = TaskState.UPSTREAM_FAILED
SK = TaskState.SKIPPED

CONTINUE = ErrorStrategy.CONTINUE

# list -> square (mapped over list) -> total (reduce)
FAN_OUT = make_spec(
    "fan",
    {"list": [], "square": [], "total": ["square"]},
    task_fields={"square": {"expand": {"x": {"task_id": "list"}}}},
)


def arg(value: Any, *, ok: bool = True, upstream: str = "up") -> ExpandInput:
    return ExpandInput(upstream, value, ok)


# --- plan_expansion -----------------------------------------------------------------------------


def test_a_list_expands_into_one_element_per_value() -> None:
    assert plan_expansion("m", {"x": arg([1, 2, 3])}) == Expansion("m", SC, count=3)


def test_several_arguments_expand_over_their_product() -> None:
    plan = plan_expansion("m", {"x": arg([1, 2]), "y": arg(["a", "b", "c"])})
    assert plan == Expansion("m", SC, count=6)


@pytest.mark.parametrize("inputs", [{"x": []}, {"x": [1, 2], "y": []}])
def test_an_empty_input_skips_the_task(inputs: dict[str, list[int]]) -> None:
    expansion = plan_expansion("m", {name: arg(v) for name, v in inputs.items()})
    assert expansion == Expansion("m", SK)


@pytest.mark.parametrize(
    ("value", "got"), [({"a": 1}, "dict"), ("abc", "str"), (3, "int"), (None, "NoneType")]
)
def test_a_value_that_is_not_a_list_fails_the_task(value: Any, got: str) -> None:
    expansion = plan_expansion("m", {"x": arg(value, upstream="src")})
    assert expansion.state == F
    assert expansion.count == 0
    assert expansion.error == f"expand argument 'x' must be a list; task 'src' returned {got}"


def test_an_upstream_that_succeeded_without_a_value_fails_the_task() -> None:
    expansion = plan_expansion("m", {"x": arg(MISSING, ok=True, upstream="src")})
    assert expansion.state == F
    assert expansion.error == "expand argument 'x' must be a list; task 'src' returned nothing"


def test_a_missing_value_of_an_upstream_that_did_not_succeed_is_an_upstream_failure() -> None:
    # Airflow: "Cannot expand ... missing upstream values" -> upstream_failed; checked first.
    inputs = {"x": arg("not a list"), "y": arg(MISSING, ok=False, upstream="src")}
    expansion = plan_expansion("m", inputs)
    assert expansion.state == UF
    assert expansion.error == "expand argument 'y': task 'src' left no value"


def test_a_product_over_the_limit_fails_the_task() -> None:
    assert plan_expansion("m", {"x": arg(list(range(MAX_MAP_LENGTH)))}).state == SC
    too_many = plan_expansion("m", {"x": arg(list(range(101))), "y": arg(list(range(100)))})
    assert too_many.state == F
    assert (too_many.error or "").startswith(
        f"expand would create 10100 task instances of 'm'; at most {MAX_MAP_LENGTH} are allowed "
        "(PINFLOW_MAX_MAP_LENGTH)"
    )
    assert plan_expansion("m", {"x": arg([1, 2, 3])}, max_length=2).state == F


# --- the product's order ------------------------------------------------------------------------


def test_element_follows_itertools_product_with_the_last_argument_fastest() -> None:
    lists: dict[str, list[Any]] = {"x": [1, 2], "y": ["a", "b", "c"], "z": [True, False]}
    expected = [
        dict(zip(lists, combo, strict=True)) for combo in itertools.product(*lists.values())
    ]
    assert map_length(list(lists.values())) == len(expected) == 12
    assert [element(lists, i) for i in range(12)] == expected
    with pytest.raises(IndexError):
        element(lists, 12)
    with pytest.raises(IndexError):
        element(lists, -1)


# --- reading upstream outputs -------------------------------------------------------------------


def test_upstream_output_of_a_mapped_and_of_a_plain_upstream() -> None:
    # Airflow's lazy XCom sequence: an element that stored nothing (failed, skipped, returned
    # None) is left out, not a None in its place (ADR 0033)
    assert upstream_output({0: "a", 2: "c"}, 3, mapped=True) == ["a", "c"]
    assert upstream_output({}, 0, mapped=True) == []
    assert upstream_output({-1: [1, 2]}, 0, mapped=False) == [1, 2]
    assert upstream_output({-1: None}, 0, mapped=False) is None
    assert upstream_output({}, 0, mapped=False) is MISSING


def test_run_instances_group_states_and_count_elements() -> None:
    groups = [
        ("a", "success", 1, -1, 1),
        ("m", "running", 1, 0, None),
        ("m", "success", 2, 3, None),
        ("m", "scheduled", 1, 1, None),
        ("n", "none", 1, -1, 7),
    ]
    found = RunInstances.of(groups)
    assert found.states == {"a": [S], "m": [R, S, S, SC], "n": [N]}
    assert found.elements == {"m": 4}
    assert found.placeholders == {"a": 1, "n": 7}


def test_expansion_for_reads_the_upstream_value_by_key() -> None:
    spec = make_spec(
        "keys",
        {"src": [], "m": []},
        task_fields={"m": {"expand": {"x": {"task_id": "src", "key": "files"}}}},
    )
    task = spec.task("m")
    assert task is not None
    xcoms = {("src", "files"): {-1: ["f1", "f2"]}, ("src", "return_value"): {-1: 7}}
    states = {"src": [S], "m": [N]}
    assert expansion_for(spec, task, states, {}, xcoms) == Expansion("m", SC, count=2)
    assert expansion_for(spec, task, {"src": [SK], "m": [N]}, {}, {}).state == UF


def test_expansion_over_a_mapped_upstream_counts_its_elements_once_it_is_done() -> None:
    spec = make_spec(
        "chain",
        {"list": [], "a": [], "b": []},
        task_fields={
            "a": {"expand": {"x": {"task_id": "list"}}},
            "b": {"expand": {"y": {"task_id": "a"}}, "trigger_rule": "all_done"},
        },
    )
    b = spec.task("b")
    assert b is not None
    xcoms = {("a", "return_value"): {0: 10, 2: 30}}
    done = expansion_for(spec, b, {"a": [S, F, S]}, {"a": 3}, xcoms)
    assert done == Expansion("b", SC, count=2)  # element 1 stored nothing: left out, as Airflow
    assert expansion_for(spec, b, {"a": [SK]}, {}, {}) == Expansion("b", SK)  # a expanded to []
    assert expansion_for(spec, b, {"a": [S, R]}, {"a": 2}, xcoms).state == UF  # not done yet


def test_a_stored_list_expands_by_its_length_and_yields_references_to_its_elements() -> None:
    """A list in the artifact store is never loaded to plan: its length is enough."""
    stored = StoredValue("artifact-1", length=4)
    assert plan_expansion("m", {"x": arg(stored)}) == Expansion("m", SC, count=4)
    assert plan_expansion("m", {"x": arg(stored), "y": arg([1, 2])}).count == 8
    assert plan_expansion("m", {"x": arg(StoredValue("a", length=0))}).state == SK
    too_long = plan_expansion("m", {"x": arg(StoredValue("a", length=MAX_MAP_LENGTH + 1))})
    assert too_long.state == F
    not_a_list = plan_expansion("m", {"x": arg(StoredValue("a"), upstream="src")})
    assert not_a_list.state == F
    assert not_a_list.error == (
        "expand argument 'x' must be a list; task 'src' returned a large value that is not a list"
    )
    assert element({"x": stored, "y": [1, 2]}, 5) == {"x": StoredElement("artifact-1", 2), "y": 2}
    # A mapped upstream's outputs are a list, some of whose items may be stored.
    assert element({"x": ["a", StoredValue("b")]}, 1) == {"x": StoredValue("b")}


# --- planning a run with a mapped task ----------------------------------------------------------


def test_a_ready_mapped_task_is_expanded_not_scheduled_and_its_downstream_waits() -> None:
    plan = plan_run(FAN_OUT, {"list": S, "square": N, "total": N}, CONTINUE)
    assert plan.moves == ()
    assert plan.expand == ("square",)
    assert plan.states["square"] == (N,)
    assert plan.outcome is None


def test_a_mapped_task_that_is_not_ready_is_not_expanded() -> None:
    assert plan_run(FAN_OUT, {"list": R, "square": N, "total": N}, CONTINUE).expand == ()
    plan = plan_run(FAN_OUT, {"list": N, "square": N, "total": N}, CONTINUE)
    assert plan.scheduled == ["list"]
    assert plan.expand == ()


def test_a_mapped_task_whose_upstream_failed_is_not_expanded_and_the_failure_cascades() -> None:
    plan = plan_run(FAN_OUT, {"list": F, "square": N, "total": N}, CONTINUE)
    assert plan.expand == ()
    assert plan.upstream_failed == ["square", "total"]
    assert plan.outcome == RunState.FAILED


def test_the_reduce_waits_for_every_element_and_sees_each_state() -> None:
    waiting = plan_run(FAN_OUT, {"list": S, "square": [S, R, S], "total": N}, CONTINUE)
    assert waiting.moves == ()
    done = plan_run(FAN_OUT, {"list": S, "square": [S, S, S], "total": N}, CONTINUE)
    assert done.scheduled == ["total"]
    one_failed = plan_run(FAN_OUT, {"list": S, "square": [S, F, S], "total": N}, CONTINUE)
    assert one_failed.upstream_failed == ["total"]


def test_fail_fast_stops_a_mapped_task_before_it_expands() -> None:
    states = {"list": S, "other": F, "square": N, "total": N}
    spec = make_spec(
        "ff",
        {"list": [], "other": [], "square": [], "total": ["square"]},
        task_fields={"square": {"expand": {"x": {"task_id": "list"}}}},
    )
    plan = plan_run(spec, states, ErrorStrategy.FAIL_FAST)
    assert plan.expand == ()
    assert plan.upstream_failed == ["square", "total"]


def test_a_long_skip_cascade_is_settled_in_one_call() -> None:
    size = 2000
    chain = make_spec("long", {f"t{i}": [f"t{i - 1}"] if i else [] for i in range(size)})
    states = {f"t{i}": N for i in range(size)}
    plan = plan_run(chain, {**states, "t0": SK}, CONTINUE)
    assert len(plan.skipped) == size - 1
    assert plan.outcome == RunState.SUCCESS
