"""The designer's YAML check: what can be saved, what must be fixed, what is refused."""

from __future__ import annotations

from pinflow.spec.validation import parse_spec
from pinflow.testing import make_spec
from pinflow.ui.designer import MAX_YAML, check_yaml, spec_yaml

GOOD = """\
dag_id: etl
tasks:
- task_id: extract
  kind: bash
  bash_command: echo extract
- task_id: load
  kind: bash
  bash_command: echo load
  depends_on: [extract]
"""


def test_the_shown_yaml_reads_back_as_the_same_spec() -> None:
    spec = make_spec("etl", {"a": [], "b": ["a"]}, trigger={"schedule": "@daily"}, params={"d": {}})
    text = spec_yaml(spec)
    assert "retry_delay" not in text  # defaults are left out
    checked = check_yaml(text)
    assert checked.spec == spec
    assert parse_spec(checked.spec.model_dump(mode="json")) == spec


def test_a_valid_definition_has_no_problems() -> None:
    checked = check_yaml(GOOD, "etl")
    assert checked.spec is not None
    assert checked.errors == []
    assert checked.warnings == []


def test_graph_problems_are_warnings_a_draft_may_be_saved_with() -> None:
    checked = check_yaml(GOOD.replace("[extract]", "[extract, ghost]"))
    assert checked.spec is not None
    assert [w.location for w in checked.warnings] == ["tasks[1].depends_on[1]"]


def test_type_problems_are_errors_with_their_location() -> None:
    checked = check_yaml(GOOD + "max_active_runs: lots\n")
    assert checked.spec is None
    assert [e.location for e in checked.errors] == ["max_active_runs"]


def test_yaml_syntax_errors_name_the_line() -> None:
    checked = check_yaml("dag_id: [unfinished\n")
    assert checked.spec is None
    assert checked.errors[0].message.startswith("line 2, column 1: ")


def test_aliases_are_refused_before_they_expand() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    checked = check_yaml(bomb)
    assert checked.spec is None
    assert "aliases" in checked.errors[0].message


def test_a_definition_must_be_a_mapping_within_the_size_limit() -> None:
    assert check_yaml("- just\n- a list\n").errors[0].message == (
        "the definition must be a YAML mapping"
    )
    assert "over" in check_yaml("x" * (MAX_YAML + 1)).errors[0].message


def test_the_dag_id_cannot_change_in_a_new_snapshot() -> None:
    checked = check_yaml(GOOD, "other")
    assert checked.spec is None
    assert checked.errors[0].location == "dag_id"
