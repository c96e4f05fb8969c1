"""The structural diff between two versions' specs: tasks, dependencies, schedule, variables."""

from __future__ import annotations

from typing import Any

from pinflow.lifecycle.diff import Edge, FieldChange, diff_specs, field_changes
from pinflow.spec.models import DagSpec


def spec(tasks: dict[str, Any] | None = None, **fields: Any) -> DagSpec:
    """``tasks``: ``{task_id: [upstream ids]}`` or ``{task_id: {field: value}}``."""
    built = []
    for task_id, value in (tasks or {"extract": [], "load": ["extract"]}).items():
        extra = value if isinstance(value, dict) else {"depends_on": value}
        built.append({"task_id": task_id, "kind": "bash", "bash_command": "true", **extra})
    return DagSpec.model_validate({"dag_id": "etl", "tasks": built, **fields})


def test_identical_specs_have_an_empty_diff() -> None:
    assert diff_specs(spec(), spec()).is_empty


def test_tasks_added_and_removed_keep_declaration_order() -> None:
    old = spec({"a": [], "b": ["a"], "c": ["b"]})
    new = spec({"a": [], "z": ["a"], "y": ["z"]})
    d = diff_specs(old, new)
    assert d.tasks_added == ("z", "y")
    assert d.tasks_removed == ("b", "c")
    assert d.tasks_changed == ()


def test_changed_task_lists_each_changed_field_by_dotted_path() -> None:
    old = spec({"get": {"kind": "http", "http": {"url": "https://a", "method": "GET"}}})
    new = spec(
        {"get": {"kind": "http", "http": {"url": "https://b", "method": "GET"}, "retries": 3}}
    )
    (change,) = diff_specs(old, new).tasks_changed
    assert change.task_id == "get"
    assert set(change.changes) == {
        FieldChange("http.url", "https://a", "https://b"),
        FieldChange("retries", None, 3),
    }


def test_dependency_changes_are_edges_not_task_field_changes() -> None:
    old = spec({"a": [], "b": [], "c": ["a"]})
    new = spec({"a": [], "b": [], "c": ["b"]})
    d = diff_specs(old, new)
    assert d.dependencies_added == (Edge("b", "c"),)
    assert d.dependencies_removed == (Edge("a", "c"),)
    assert d.tasks_changed == ()
    assert str(d.dependencies_added[0]) == "b -> c"


def test_a_data_binding_is_a_dependency_and_a_field_change() -> None:
    old = spec({"a": [], "b": []})
    new = spec({"a": [], "b": {"inputs": {"rows": {"task_id": "a"}}}})
    d = diff_specs(old, new)
    assert d.dependencies_added == (Edge("a", "b"),)
    (change,) = d.tasks_changed
    assert change.changes == (
        FieldChange("inputs.rows", None, {"task_id": "a", "key": "return_value"}),
    )


def test_edges_of_removed_and_added_tasks_are_reported() -> None:
    d = diff_specs(spec({"a": [], "b": ["a"]}), spec({"a": [], "c": ["a"]}))
    assert d.dependencies_removed == (Edge("a", "b"),)
    assert d.dependencies_added == (Edge("a", "c"),)


def test_schedule_changes() -> None:
    old = spec(trigger={"schedule": "@daily"})
    new = spec(trigger={"schedule": "0 6 * * *", "timezone": "Europe/Paris", "catchup": True})
    d = diff_specs(old, new)
    assert d.schedule_changes == (
        FieldChange("schedule", "@daily", "0 6 * * *"),
        FieldChange("timezone", "UTC", "Europe/Paris"),
        FieldChange("catchup", False, True),
    )
    assert d.dag_changes == ()


def test_variable_changes() -> None:
    old = spec(params={"day": {"type": "string"}, "limit": {"type": "integer", "default": 10}})
    new = spec(params={"limit": {"type": "integer", "default": 20}, "dry": {"type": "boolean"}})
    d = diff_specs(old, new)
    assert d.variables_added == ("dry",)
    assert d.variables_removed == ("day",)
    (change,) = d.variables_changed
    assert change.name == "limit"
    assert change.changes == (FieldChange("default", 10, 20),)


def test_dag_level_changes_exclude_the_sections_reported_apart() -> None:
    old = spec(name="ETL", default_args={"retries": 1})
    new = spec(name="Nightly ETL", default_args={"retries": 2}, error_strategy="fail_fast")
    d = diff_specs(old, new)
    assert set(d.dag_changes) == {
        FieldChange("name", "ETL", "Nightly ETL"),
        FieldChange("error_strategy", "continue", "fail_fast"),
        FieldChange("default_args.retries", 1, 2),
    }
    assert not d.tasks_changed
    assert not d.schedule_changes


def test_field_changes_compares_lists_whole_and_walks_dicts() -> None:
    assert field_changes({"a": [1, 2]}, {"a": [2, 1]}) == [FieldChange("a", [1, 2], [2, 1])]
    assert field_changes({"a": {"b": 1}}, {"a": {"b": 1}}) == []
    assert field_changes({"a": {"b": 1}}, {"a": 5}) == [FieldChange("a", {"b": 1}, 5)]
    assert field_changes({}, {"x": None}) == [FieldChange("x", None, None)]
