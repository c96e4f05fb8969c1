"""Parsing, strict checks for publish, graph helpers and run ``conf`` against params."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pinflow.errors import InvalidInputError, Problem
from pinflow.spec.models import DagSpec, HttpRequestSpec, ParamSpec, ParamType, TaskSpec
from pinflow.spec.validation import (
    SCHEDULE_PRESETS,
    check_spec,
    downstream_of,
    draft_warnings,
    format_location,
    parse_spec,
    topological_order,
    upstream_of,
    validate_conf,
    validate_for_publish,
)


def py(task_id: str, *depends_on: str, **fields: Any) -> dict[str, Any]:
    return {"task_id": task_id, "callable": "jobs:run", "depends_on": list(depends_on), **fields}


def dag(*tasks: dict[str, Any], **fields: Any) -> DagSpec:
    return DagSpec.model_validate({"dag_id": "d", "tasks": list(tasks), **fields})


def problems_of(spec: DagSpec) -> list[str]:
    return [str(problem) for problem in check_spec(spec)]


# --- parse_spec --------------------------------------------------------------------------------


def test_parse_spec_accepts_a_dict_text_and_bytes() -> None:
    data = {"dag_id": "d", "tasks": [py("a")]}
    expected = DagSpec.model_validate(data)
    assert parse_spec(data) == expected
    assert parse_spec(json.dumps(data)) == expected
    assert parse_spec(json.dumps(data).encode()) == expected


def test_parse_spec_reports_every_type_problem_with_a_readable_location() -> None:
    data = {
        "dag_id": "not valid!",
        "tasks": [py("a"), py("b"), py("c", retries=-1, inputs={"my arg": {"key": 1}})],
        "params": {"n": {"type": "int"}},
        "unknown": 1,
    }
    with pytest.raises(InvalidInputError) as caught:
        parse_spec(data)
    error = caught.value
    locations = [problem.location for problem in error.problems]
    assert locations == [
        "dag_id",
        "params.n.type",
        "tasks[2].retries",
        'tasks[2].inputs["my arg"].task_id',
        'tasks[2].inputs["my arg"].key',
        "unknown",
    ]
    assert error.message == "The DAG spec is invalid: 6 problem(s)"
    assert (
        Problem("tasks[2].retries", "Input should be greater than or equal to 0") in error.problems
    )
    assert Problem("unknown", "Extra inputs are not permitted") in error.problems


def test_parse_spec_names_line_and_column_of_invalid_json() -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_spec('{\n  "dag_id": "d",\n  "tasks": [,]\n}')
    [problem] = caught.value.problems
    assert problem.location == ""
    assert problem.message.startswith("invalid JSON at line 3, column 13: ")
    assert caught.value.message == "The DAG spec is invalid: 1 problem(s)"


def test_parse_spec_refuses_bytes_that_are_not_text() -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_spec(b"\x80{}")
    assert caught.value.problems[0].message.startswith("invalid JSON: not Unicode text")


@pytest.mark.parametrize(("text", "kind"), [("[]", "array"), ("null", "null"), ('"x"', "string")])
def test_parse_spec_needs_an_object(text: str, kind: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        parse_spec(text)
    assert caught.value.problems == [Problem("", f"expected a JSON object, got {kind}")]


def test_parsing_is_lenient_about_the_graph() -> None:
    spec = parse_spec({"dag_id": "d", "tasks": [py("a", "ghost"), {"task_id": "b", "kind": "??"}]})
    assert spec.task_ids == ["a", "b"]


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ((), ""),
        (("tasks", 2, "retries"), "tasks[2].retries"),
        (("params", "my param", "default"), 'params["my param"].default'),
        (("conf", "n"), "conf.n"),
        ((0,), "[0]"),
    ],
)
def test_format_location(parts: tuple[str | int, ...], expected: str) -> None:
    assert format_location(*parts) == expected


# --- check_spec: the graph ---------------------------------------------------------------------


def test_a_well_formed_dag_has_no_problems() -> None:
    spec = dag(py("a"), py("b", "a"), {"task_id": "c", "kind": "bash", "bash_command": "true"})
    assert check_spec(spec) == []
    assert draft_warnings(spec) == []
    validate_for_publish(spec)


def test_no_tasks() -> None:
    assert problems_of(dag()) == ["tasks: the DAG has no tasks"]


def test_duplicate_task_ids_point_at_the_first() -> None:
    spec = dag(py("x"), py("y"), py("x"), py("x"))
    assert problems_of(spec) == [
        "tasks[2].task_id: duplicate task id 'x' (first at tasks[0])",
        "tasks[3].task_id: duplicate task id 'x' (first at tasks[0])",
    ]


def test_unknown_references_in_depends_on_inputs_and_expand() -> None:
    spec = dag(
        py("a"),
        py(
            "b",
            "a",
            "foo",
            inputs={"rows": {"task_id": "bar"}},
            expand={"item": {"task_id": "baz"}},
        ),
    )
    assert problems_of(spec) == [
        "tasks[1].depends_on[1]: unknown task 'foo'",
        "tasks[1].inputs.rows.task_id: unknown task 'bar'",
        "tasks[1].expand.item.task_id: unknown task 'baz'",
    ]


def test_self_dependency() -> None:
    spec = dag(py("a", "a"), py("b", inputs={"x": {"task_id": "b"}}))
    assert problems_of(spec) == [
        "tasks[0].depends_on[0]: task 'a' depends on itself",
        "tasks[1].inputs.x.task_id: task 'b' depends on itself",
    ]


def test_a_cycle_is_named_with_its_path_in_run_order() -> None:
    # a waits for c, b for a, c for b: a runs before b, b before c, c before a.
    spec = dag(py("a", "c"), py("b", "a"), py("c", "b"), py("d", "c"))
    assert check_spec(spec) == [Problem("tasks", "cycle: a -> b -> c -> a")]


def test_each_cycle_is_reported_once() -> None:
    spec = dag(
        py("start"),
        py("a", "start", "b"),
        py("b", "a"),
        py("x", "z"),
        py("y", "x"),
        py("z", "y", "x"),  # two loops (x y z, x z) in one component: the shortest is named
    )
    assert problems_of(spec) == [
        "tasks: cycle: a -> b -> a",
        "tasks: cycle: x -> z -> x",
    ]


def test_a_cycle_through_data_bindings_counts() -> None:
    spec = dag(py("a", inputs={"v": {"task_id": "b"}}), py("b", expand={"v": {"task_id": "a"}}))
    assert problems_of(spec) == ["tasks: cycle: a -> b -> a"]


def test_a_self_loop_inside_a_larger_cycle_does_not_hide_it() -> None:
    spec = dag(py("a", "a", "b"), py("b", "a"))
    assert problems_of(spec) == [
        "tasks[0].depends_on[0]: task 'a' depends on itself",
        "tasks: cycle: a -> b -> a",
    ]


# --- check_spec: tasks -------------------------------------------------------------------------


def test_unknown_task_kind() -> None:
    spec = dag({"task_id": "a", "kind": "docker"})
    assert problems_of(spec) == [
        "tasks[0].kind: unknown task kind 'docker' (expected one of: python, bash, http)"
    ]


@pytest.mark.parametrize(
    ("task", "problem"),
    [
        (
            {"task_id": "a"},
            "tasks[0].callable: a python task needs 'callable' ('module:qualname')",
        ),
        (
            {"task_id": "a", "callable": "jobs.run"},
            "tasks[0].callable: expected 'module:qualname', got 'jobs.run'",
        ),
        (
            {"task_id": "a", "callable": "jobs:run:now"},
            "tasks[0].callable: expected 'module:qualname', got 'jobs:run:now'",
        ),
        (
            {"task_id": "a", "callable": "jobs:"},
            "tasks[0].callable: expected 'module:qualname', got 'jobs:'",
        ),
        (
            {"task_id": "a", "kind": "bash"},
            "tasks[0].bash_command: a bash task needs a non-empty 'bash_command'",
        ),
        (
            {"task_id": "a", "kind": "bash", "bash_command": "  "},
            "tasks[0].bash_command: a bash task needs a non-empty 'bash_command'",
        ),
        (
            {"task_id": "a", "kind": "http"},
            "tasks[0].http: an http task needs 'http' (the request to send)",
        ),
    ],
)
def test_kind_specific_fields_are_required(task: dict[str, Any], problem: str) -> None:
    assert problems_of(dag(task)) == [problem]


@pytest.mark.parametrize("callable_", ["jobs:run", "pkg.jobs:Runner.run", "_x:_y"])
def test_valid_callables(callable_: str) -> None:
    assert check_spec(dag({"task_id": "a", "callable": callable_})) == []


def test_fields_of_another_kind_are_refused() -> None:
    request = {"url": "https://example.com"}
    spec = dag(
        py("a", bash_command="echo hi"),
        {
            "task_id": "b",
            "kind": "bash",
            "bash_command": "true",
            "callable": "m:f",
            "http": request,
        },
        {"task_id": "c", "kind": "http", "http": request, "bash_command": "x"},
    )
    assert problems_of(spec) == [
        "tasks[0].bash_command: 'bash_command' does not apply to a python task",
        "tasks[1].callable: 'callable' does not apply to a bash task",
        "tasks[1].http: 'http' does not apply to a bash task",
        "tasks[2].bash_command: 'bash_command' does not apply to a http task",
    ]


def test_an_argument_bound_twice() -> None:
    ref = {"task_id": "a"}
    spec = dag(
        py("a"),
        py("b", args={"x": 1, "y": 2}, inputs={"x": ref, "z": ref}, expand={"y": ref, "z": ref}),
    )
    assert problems_of(spec) == [
        "tasks[1].inputs.x: argument 'x' is set in both args and inputs",
        "tasks[1].expand.y: argument 'y' is set in both args and expand",
        "tasks[1].expand.z: argument 'z' is set in both inputs and expand",
    ]


def test_inputs_from_a_task_not_in_depends_on_are_fine() -> None:
    spec = dag(py("a"), py("b", inputs={"rows": {"task_id": "a"}}))
    assert check_spec(spec) == []
    assert topological_order(spec) == ["a", "b"]


# --- check_spec: trigger -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "schedule", [None, *SCHEDULE_PRESETS, "*/5 * * * *", "0 6 * * MON-FRI", "0 0 L * *"]
)
def test_valid_schedules(schedule: str | None) -> None:
    assert check_spec(dag(py("a"), trigger={"schedule": schedule})) == []


@pytest.mark.parametrize(
    ("schedule", "message"),
    [
        (
            "@continuous",
            "unknown preset '@continuous' (expected one of: @once, @hourly, @daily, @weekly, "
            "@monthly, @quarterly, @yearly, @annually)",
        ),
        (
            "* * * * * *",
            "invalid cron expression '* * * * * *': expected 5 fields "
            "(minute hour day-of-month month day-of-week), got 6",
        ),
        (
            "",
            "invalid cron expression '': expected 5 fields "
            "(minute hour day-of-month month day-of-week), got 0",
        ),
        ("61 * * * *", "invalid cron expression '61 * * * *': "),
        ("a b c d e", "invalid cron expression 'a b c d e': "),
    ],
)
def test_invalid_schedules(schedule: str, message: str) -> None:
    [problem] = check_spec(dag(py("a"), trigger={"schedule": schedule}))
    assert problem.location == "trigger.schedule"
    assert problem.message.startswith(message)


@pytest.mark.parametrize(
    "zone", ["Mars/Olympus", "utc", "", "../etc/passwd", "Europe", "x" * 300, "a\x00b"]
)
def test_unknown_timezone(zone: str) -> None:
    spec = dag(py("a"), trigger={"timezone": zone})
    assert check_spec(spec) == [Problem("trigger.timezone", f"unknown timezone '{zone}'")]


def test_end_date_before_start_date() -> None:
    trigger = {"start_date": "2024-06-01T00:00:00Z", "end_date": "2024-05-31T00:00:00Z"}
    assert problems_of(dag(py("a"), trigger=trigger)) == [
        "trigger.end_date: end_date 2024-05-31T00:00:00+00:00 is before "
        "start_date 2024-06-01T00:00:00+00:00"
    ]


def test_naive_dates_are_read_in_the_dag_timezone() -> None:
    # 01:00 in Amsterdam (summer) is 23:00 UTC the day before: the end is after the start.
    trigger = {
        "timezone": "Europe/Amsterdam",
        "start_date": datetime(2024, 5, 31, 22, 30, tzinfo=UTC),
        "end_date": datetime(2024, 6, 1, 1, 0),
    }
    assert check_spec(dag(py("a"), trigger=trigger)) == []
    trigger["start_date"] = datetime(2024, 5, 31, 23, 30, tzinfo=UTC)
    assert [p.location for p in check_spec(dag(py("a"), trigger=trigger))] == ["trigger.end_date"]


def test_equal_start_and_end_dates_are_fine() -> None:
    moment = datetime(2024, 1, 1, tzinfo=UTC)
    assert check_spec(dag(py("a"), trigger={"start_date": moment, "end_date": moment})) == []


# --- check_spec: params ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("param", "problem"),
    [
        ({"type": "integer", "default": "abc"}, "params.p.default: expected integer, got 'abc'"),
        ({"type": "integer", "default": True}, "params.p.default: expected integer, got True"),
        ({"type": "integer", "default": 1.5}, "params.p.default: expected integer, got 1.5"),
        ({"type": "boolean", "default": 1}, "params.p.default: expected boolean, got 1"),
        ({"type": "array", "default": {}}, "params.p.default: expected array, got {}"),
        ({"type": "object", "default": []}, "params.p.default: expected object, got []"),
        ({"type": "string", "default": 3}, "params.p.default: expected string, got 3"),
        (
            {"type": "string", "enum": ["a", "b"], "default": "c"},
            "params.p.default: expected one of 'a', 'b', got 'c'",
        ),
        (
            {"type": "integer", "minimum": 1, "default": 0},
            "params.p.default: expected at least 1, got 0",
        ),
        (
            {"type": "number", "maximum": 2.5, "default": 3},
            "params.p.default: expected at most 2.5, got 3",
        ),
        (
            {"type": "integer", "minimum": 5, "maximum": 1},
            "params.p.maximum: maximum 1 is less than minimum 5",
        ),
        ({"type": "string", "minimum": 1}, "params.p.minimum: 'minimum' applies only to integer "),
        ({"type": "integer", "enum": [1, "2"]}, "params.p.enum[1]: expected integer, got '2'"),
    ],
)
def test_param_problems(param: dict[str, Any], problem: str) -> None:
    [found] = problems_of(dag(py("a"), params={"p": param}))
    assert found.startswith(problem)


def test_a_param_location_quotes_odd_names() -> None:
    spec = dag(py("a"), params={"max rows": {"type": "integer", "default": "x"}})
    assert problems_of(spec) == ["params[\"max rows\"].default: expected integer, got 'x'"]


def test_a_matching_param_default_is_fine() -> None:
    param = {"type": "number", "default": 2, "minimum": 1, "maximum": 2, "enum": [1, 2.0]}
    assert check_spec(dag(py("a"), params={"p": param})) == []


# --- all together ------------------------------------------------------------------------------


def broken_spec() -> DagSpec:
    return dag(
        py("a", "c"),
        py("b", "a", "ghost"),
        py("c", "b"),
        py("a"),
        {"task_id": "e", "kind": "bash"},
        trigger={"schedule": "every day", "timezone": "Nowhere/Land"},
        params={"n": {"type": "integer", "default": "ten"}},
    )


def test_every_problem_is_reported_with_its_location() -> None:
    assert problems_of(broken_spec()) == [
        "tasks[3].task_id: duplicate task id 'a' (first at tasks[0])",
        "tasks[1].depends_on[1]: unknown task 'ghost'",
        "tasks[4].bash_command: a bash task needs a non-empty 'bash_command'",
        "tasks: cycle: a -> b -> c -> a",
        "trigger.schedule: invalid cron expression 'every day': expected 5 fields "
        "(minute hour day-of-month month day-of-week), got 2",
        "trigger.timezone: unknown timezone 'Nowhere/Land'",
        "params.n.default: expected integer, got 'ten'",
    ]


def test_publish_refuses_with_every_problem_and_names_the_first_few() -> None:
    with pytest.raises(InvalidInputError) as caught:
        validate_for_publish(broken_spec())
    error = caught.value
    assert error.problems == check_spec(broken_spec())
    assert error.message == (
        "The DAG cannot be published: 7 problem(s): "
        "tasks[3].task_id: duplicate task id 'a' (first at tasks[0]); "
        "tasks[1].depends_on[1]: unknown task 'ghost'; "
        "tasks[4].bash_command: a bash task needs a non-empty 'bash_command'; …"
    )


def test_publish_message_lists_all_problems_when_few() -> None:
    with pytest.raises(InvalidInputError) as caught:
        validate_for_publish(dag())
    assert (
        caught.value.message
        == "The DAG cannot be published: 1 problem(s): tasks: the DAG has no tasks"
    )


def test_drafts_get_the_same_problems_as_warnings() -> None:
    assert draft_warnings(broken_spec()) == check_spec(broken_spec())


# --- graph helpers -----------------------------------------------------------------------------


def diamond() -> DagSpec:
    #   a -> b -> d -> e
    #   a -> c -> d
    #   f (alone)
    return dag(py("e", "d"), py("d", "b", "c"), py("c", "a"), py("b", "a"), py("a"), py("f"))


def test_topological_order_is_stable_by_declaration_order() -> None:
    # a and f are ready first (a declared earlier); then c and b (c declared earlier)...
    assert topological_order(diamond()) == ["a", "c", "b", "d", "e", "f"]
    assert topological_order(dag(py("z"), py("y"), py("x"))) == ["z", "y", "x"]


def test_topological_order_ignores_unknown_references_and_duplicates() -> None:
    assert topological_order(dag(py("b", "a", "ghost"), py("a"), py("a"))) == ["a", "b"]


def test_topological_order_refuses_a_cycle() -> None:
    with pytest.raises(InvalidInputError) as caught:
        topological_order(dag(py("a", "b"), py("b", "a"), py("c", "c")))
    assert caught.value.message == "The DAG has a cycle: a -> b -> a; c -> c"
    assert caught.value.problems == [
        Problem("tasks", "cycle: a -> b -> a"),
        Problem("tasks", "cycle: c -> c"),
    ]


def test_topological_order_handles_long_chains() -> None:
    ids = [f"t{i}" for i in range(3000)]
    spec = dag(*(py(t, *ids[i - 1 : i]) for i, t in enumerate(ids)))
    assert topological_order(spec) == ids
    cyclic = dag(py(ids[0], ids[-1]), *(py(t, ids[i]) for i, t in enumerate(ids[1:])))
    [problem] = check_spec(cyclic)
    assert problem.message == f"cycle: {' -> '.join([*ids, ids[0]])}"


def test_downstream_of() -> None:
    spec = diamond()
    assert downstream_of(spec, ["a"]) == {"b", "c", "d", "e"}
    assert downstream_of(spec, ["c"]) == {"d", "e"}
    assert downstream_of(spec, ["b", "d"]) == {"d", "e"}  # d is reachable from b
    assert downstream_of(spec, ["e", "f", "ghost"]) == set()


def test_upstream_of() -> None:
    spec = diamond()
    assert upstream_of(spec, ["e"]) == {"a", "b", "c", "d"}
    assert upstream_of(spec, ["b", "c"]) == {"a"}
    assert upstream_of(spec, ["a", "ghost"]) == set()


def test_graph_helpers_follow_data_bindings_and_cycles() -> None:
    spec = dag(py("a"), py("b", inputs={"v": {"task_id": "a"}}), py("c", "b", "c"))
    assert downstream_of(spec, ["a"]) == {"b", "c"}
    assert upstream_of(spec, ["c"]) == {"a", "b", "c"}  # c reaches itself


# --- validate_conf -----------------------------------------------------------------------------


def params_spec(**params: dict[str, Any]) -> DagSpec:
    return dag(py("a"), params=params)


def test_conf_overlays_defaults_and_passes_undeclared_keys_through() -> None:
    spec = params_spec(
        n={"type": "integer", "default": 5},
        name={"type": "string", "default": "x"},
        tags={"type": "array"},
    )
    assert validate_conf(spec, {"n": 7, "extra": {"any": "thing"}}) == {
        "n": 7,
        "name": "x",
        "tags": None,
        "extra": {"any": "thing"},
    }
    assert validate_conf(spec, None) == {"n": 5, "name": "x", "tags": None}


def test_conf_defaults_are_copies() -> None:
    spec = params_spec(items={"type": "array", "default": [1, 2]})
    resolved = validate_conf(spec, {})
    resolved["items"].append(3)
    assert spec.params["items"].default == [1, 2]


@pytest.mark.parametrize(
    ("param", "value", "message"),
    [
        ({"type": "integer"}, "abc", "expected integer, got 'abc'"),
        ({"type": "integer"}, True, "expected integer, got True"),
        ({"type": "integer"}, 1.0, "expected integer, got 1.0"),
        ({"type": "number"}, "1", "expected number, got '1'"),
        ({"type": "number"}, False, "expected number, got False"),
        ({"type": "number"}, float("nan"), "expected number, got nan"),
        ({"type": "boolean"}, "true", "expected boolean, got 'true'"),
        ({"type": "string"}, 5, "expected string, got 5"),
        ({"type": "array"}, "a,b", "expected array, got 'a,b'"),
        ({"type": "object"}, [], "expected object, got []"),
        (
            {"type": "string", "enum": ["eu", "us"]},
            "asia",
            "expected one of 'eu', 'us', got 'asia'",
        ),
        ({"type": "integer", "enum": [1, 2]}, 3, "expected one of 1, 2, got 3"),
        ({"type": "integer", "minimum": 1}, 0, "expected at least 1, got 0"),
        ({"type": "number", "maximum": 0.5}, 0.75, "expected at most 0.5, got 0.75"),
    ],
)
def test_conf_mismatches(param: dict[str, Any], value: Any, message: str) -> None:
    spec = params_spec(p=param)
    with pytest.raises(InvalidInputError) as caught:
        validate_conf(spec, {"p": value})
    assert caught.value.problems == [Problem("conf.p", message)]
    assert caught.value.message == f"conf does not match the DAG's params: conf.p: {message}"


def test_long_values_are_shortened_in_messages() -> None:
    with pytest.raises(InvalidInputError) as caught:
        validate_conf(params_spec(p={"type": "integer"}), {"p": "x" * 100})
    assert caught.value.problems[0].message == "expected integer, got '" + "x" * 58 + "…"


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ({"type": "number"}, 3),
        ({"type": "number", "minimum": 1, "maximum": 1}, 1.0),
        ({"type": "integer", "enum": [1, 2]}, 2),
        ({"type": "number", "enum": [1, 2]}, 2.0),
        ({"type": "integer"}, 10**30),
        ({"type": "array"}, [1, "a"]),
        ({"type": "object"}, {"k": [1]}),
        ({"type": "boolean"}, False),
    ],
)
def test_conf_matches(param: dict[str, Any], value: Any) -> None:
    assert validate_conf(params_spec(p=param), {"p": value}) == {"p": value}


def test_enum_keeps_booleans_apart_from_numbers() -> None:
    spec = params_spec(p={"type": "integer", "enum": [1, 0]})
    with pytest.raises(InvalidInputError):
        validate_conf(spec, {"p": True})
    spec = params_spec(p={"type": "boolean", "enum": [True]})
    assert validate_conf(spec, {"p": True}) == {"p": True}


def test_required_params() -> None:
    spec = params_spec(
        needed={"type": "string", "required": True},
        defaulted={"type": "string", "required": True, "default": "d"},
    )
    assert validate_conf(spec, {"needed": "n"}) == {"needed": "n", "defaulted": "d"}
    with pytest.raises(InvalidInputError) as caught:
        validate_conf(spec, {"needed": None})
    assert caught.value.problems == [
        Problem("conf.needed", "required param is missing (no default)")
    ]


def test_conf_reports_every_problem() -> None:
    spec = params_spec(
        n={"type": "integer"},
        region={"type": "string", "enum": ["eu"]},
        must={"type": "boolean", "required": True},
        ok={"type": "string", "default": "fine"},
    )
    with pytest.raises(InvalidInputError) as caught:
        validate_conf(spec, {"n": "abc", "region": "us", "extra": 1})
    assert caught.value.problems == [
        Problem("conf.n", "expected integer, got 'abc'"),
        Problem("conf.region", "expected one of 'eu', got 'us'"),
        Problem("conf.must", "required param is missing (no default)"),
    ]
    assert caught.value.message.startswith("conf does not match the DAG's params: conf.n: ")


def test_conf_locations_quote_odd_names() -> None:
    spec = dag(py("a"), params={"max rows": ParamSpec(type=ParamType.INTEGER).model_dump()})
    with pytest.raises(InvalidInputError) as caught:
        validate_conf(spec, {"max rows": "x"})
    assert caught.value.problems[0].location == 'conf["max rows"]'


def test_an_http_task_built_from_models_is_valid() -> None:
    spec = DagSpec(
        dag_id="d",
        tasks=[TaskSpec(task_id="h", kind="http", http=HttpRequestSpec(url="https://x.test"))],
    )
    assert check_spec(spec) == []


# --- property: the graph helpers agree with each other -----------------------------------------

task_names = st.sampled_from(["a", "b", "c", "d", "e", "f"])
graphs = st.lists(
    st.tuples(task_names, st.lists(task_names, max_size=3)), min_size=1, max_size=6
).map(lambda tasks: dag(*(py(task_id, *ups) for task_id, ups in tasks)))


@settings(max_examples=200, deadline=None, database=None)
@given(graphs)
def test_order_cycles_and_reachability_agree(spec: DagSpec) -> None:
    known = set(spec.task_ids)
    edges = {(up, t.task_id) for t in spec.tasks for up in t.depends_on if up in known}
    cycles = [
        p.message.removeprefix("cycle: ").split(" -> ")
        for p in check_spec(spec)
        if p.message.startswith("cycle: ")
    ]
    for cycle in cycles:
        assert cycle[0] == cycle[-1]
        assert all(step in edges for step in itertools.pairwise(cycle))
    has_loop = any(task_id in downstream_of(spec, [task_id]) for task_id in spec.task_ids)
    try:
        order = topological_order(spec)
    except InvalidInputError:
        assert has_loop
        return
    assert not has_loop
    assert not cycles
    assert sorted(order) == sorted(known)
    assert all(order.index(up) < order.index(down) for up, down in edges)
    for i, task_id in enumerate(order):
        assert upstream_of(spec, [task_id]) <= set(order[:i])
        assert downstream_of(spec, [task_id]) <= set(order[i + 1 :])
