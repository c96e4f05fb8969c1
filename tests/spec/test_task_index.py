"""``DagSpec.task``: an index built once per spec, invisible to dumps, digests and equality."""

from __future__ import annotations

import pickle

from pinflow.spec.canonical import snapshot_digest, spec_to_dict, spec_to_json
from pinflow.spec.models import DagSpec, TaskSpec
from pinflow.testing import make_spec


def _spec() -> DagSpec:
    return make_spec("indexed", {"a": [], "b": ["a"], "c": ["b"]})


def test_lookup_by_id() -> None:
    spec = _spec()
    assert spec.task("b") is spec.tasks[1]
    assert spec.task("missing") is None
    assert list(spec.tasks_by_id) == ["a", "b", "c"]


def test_a_repeated_id_finds_the_first_task_as_a_scan_would() -> None:
    spec = DagSpec.model_validate(
        {"dag_id": "draft", "tasks": [{"task_id": "a", "doc": "first"}, {"task_id": "a"}]}
    )
    found = spec.task("a")
    assert found is not None
    assert found.doc == "first"


def test_the_index_changes_nothing_a_spec_is_compared_or_stored_by() -> None:
    fresh, used = _spec(), _spec()
    before = (spec_to_dict(used), spec_to_json(used), snapshot_digest(used), repr(used))
    assert used.task("a") is not None
    assert (spec_to_dict(used), spec_to_json(used), snapshot_digest(used), repr(used)) == before
    assert used.model_dump() == fresh.model_dump()
    assert used == fresh
    assert fresh == used
    assert used != make_spec("indexed", {"a": [], "b": ["a"]})
    restored = pickle.loads(pickle.dumps(used))
    assert restored == fresh
    assert restored.task("c") is restored.tasks[2]


def test_a_copy_with_other_tasks_does_not_keep_the_old_index() -> None:
    spec = _spec()
    assert spec.task("a") is not None  # built, then copied along by model_copy
    copy = spec.model_copy(update={"tasks": [TaskSpec(task_id="z")]})
    assert copy.task("a") is None
    assert copy.task("z") is copy.tasks[0]
    assert spec.task("a") is spec.tasks[0]
