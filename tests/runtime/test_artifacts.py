"""The artifact store and a task process's side of large XComs, without a database."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from pinflow.errors import DataLostError
from pinflow.runtime import artifacts
from pinflow.runtime.artifacts import (
    ArtifactRef,
    FileArtifactStore,
    get,
    get_json,
    key_matches,
    open_store,
    put,
    run_prefix,
    xcom_key,
)
from pinflow.runtime.contract import StoredInput, TaskRequest, TaskResult
from pinflow.runtime.xcoms import (
    XComTooLargeError,
    encode_json,
    load_stored_inputs,
    output_fields,
)


@pytest.fixture
def store(tmp_path: Path) -> FileArtifactStore:
    return FileArtifactStore(tmp_path / "artifacts")


def request(tmp_path: Path, **fields: Any) -> TaskRequest:
    base: dict[str, Any] = {
        "ti_id": 7,
        "dag_id": "etl",
        "run_id": "manual__2026-01-01T00:00:00+00:00",
        "task_id": "extract",
        "try_number": 2,
        "snapshot_digest": "0" * 64,
        "staging_dir": str(tmp_path / "staging"),
        "log_path": str(tmp_path / "log"),
        "artifacts_uri": (tmp_path / "artifacts").as_uri(),
        "xcom_db_limit": 64,
        "xcom_max_size": 1024,
    }
    return TaskRequest(**{**base, **fields})


# --- keys -----------------------------------------------------------------------------------------


def test_keys_are_deterministic_per_try_and_escaped_like_logs() -> None:
    key = xcom_key("etl", "manual__2026-01-01T00:00:00+00:00", "load", map_index=3, try_number=2)
    dag, run, task, index, attempt = key.split("/")[1:]
    assert (dag, task, index, attempt) == ("etl", "load", "3", "attempt=2.json")
    assert run.startswith("manual__2026-01-01T00_00_00_00_00-")  # escaped, hash suffixed
    assert key.startswith(run_prefix("etl", "manual__2026-01-01T00:00:00+00:00") + "/")
    other_try = xcom_key(
        "etl", "manual__2026-01-01T00:00:00+00:00", "load", map_index=3, try_number=3
    )
    assert other_try != key
    assert xcom_key("a:b", "r", "t", map_index=-1, try_number=1) != xcom_key(
        "a_b", "r", "t", map_index=-1, try_number=1
    )
    assert ".." not in xcom_key("..", "..", "..", map_index=-1, try_number=1).split("/")


def test_key_matches_checks_the_whole_key_at_the_end_of_the_uri(store: FileArtifactStore) -> None:
    key = xcom_key("etl", "r:1", "t", map_index=-1, try_number=1)
    assert key_matches(store.uri_of(key), key)
    assert not key_matches(
        store.uri_of(key), xcom_key("etl", "r:1", "t", map_index=-1, try_number=2)
    )
    assert not key_matches("file:///etc/passwd", key)


# --- the file:// store ----------------------------------------------------------------------------


def test_put_then_get_round_trips_with_size_and_sha256(store: FileArtifactStore) -> None:
    data = b'{"rows":[1,2,3]}'
    ref = put(store, "xcom/d/r/t/-1/attempt=1.json", data)
    assert ref.size == len(data)
    assert ref.sha256 == hashlib.sha256(data).hexdigest()
    assert ref.uri == (store.path / "xcom/d/r/t/-1/attempt=1.json").as_uri()
    assert get(store, ref) == data
    assert get_json(store, ref) == {"rows": [1, 2, 3]}
    # Atomic writes leave no temporary file behind, and a rewrite replaces the whole file.
    assert [p.name for p in (store.path / "xcom/d/r/t/-1").iterdir()] == ["attempt=1.json"]
    put(store, "xcom/d/r/t/-1/attempt=1.json", b"[]")
    assert (store.path / "xcom/d/r/t/-1/attempt=1.json").read_bytes() == b"[]"


def test_an_altered_or_truncated_artifact_is_refused(store: FileArtifactStore) -> None:
    ref = put(store, "xcom/d/r/t/-1/attempt=1.json", b'"abcdef"')
    path = store.path / "xcom/d/r/t/-1/attempt=1.json"
    path.write_bytes(b'"abcdeX"')  # same size, other content
    with pytest.raises(DataLostError, match=r"is damaged.*altered or truncated outside Pinflow"):
        get(store, ref)
    path.write_bytes(b'"abc')
    with pytest.raises(DataLostError, match="holds 4 bytes"):
        get(store, ref)
    path.unlink()
    with pytest.raises(DataLostError, match="is missing: it was deleted outside Pinflow"):
        get(store, ref)


def test_references_outside_the_store_are_refused(store: FileArtifactStore, tmp_path: Path) -> None:
    secret = tmp_path / "secret.json"
    secret.write_text("[1]")
    digest = hashlib.sha256(b"[1]").hexdigest()
    with pytest.raises(DataLostError, match="is not in the artifact store"):
        get(store, ArtifactRef(secret.as_uri(), 3, digest))
    sneaky = store.path.as_uri() + "/../secret.json"
    with pytest.raises(DataLostError, match="is not in the artifact store"):
        get(store, ArtifactRef(sneaky, 3, digest))
    with pytest.raises(ValueError, match="not inside the store"):
        store.write("../escape.json", b"[]")


def test_delete_prefix_removes_a_run_and_tidies_empty_parents(store: FileArtifactStore) -> None:
    put(store, xcom_key("d", "r1", "t", map_index=-1, try_number=1), b"1")
    put(store, xcom_key("d", "r1", "t", map_index=0, try_number=2), b"2")
    put(store, xcom_key("d", "r2", "t", map_index=-1, try_number=1), b"3")
    store.delete_prefix(run_prefix("d", "r1"))
    assert not (store.path / "xcom/d/r1").exists()
    assert (store.path / "xcom/d/r2/t/-1/attempt=1.json").read_bytes() == b"3"
    store.delete_prefix(run_prefix("d", "r2"))
    store.delete_prefix(run_prefix("d", "r2"))  # already gone: fine
    assert not (store.path / "xcom").exists()
    assert store.path.is_dir()  # the root stays


def test_open_store_by_uri_and_plugging_in_a_scheme(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened = open_store((tmp_path / "a b").as_uri())
    assert isinstance(opened, FileArtifactStore)
    assert opened.path == tmp_path / "a b"
    assert opened.root == (tmp_path / "a b").as_uri()
    with pytest.raises(ValueError, match=r"unsupported artifact store 'a/b': expected a URL"):
        open_store("a/b")  # s3:// and other URLs open through fsspec: test_shared_store.py
    monkeypatch.setattr(artifacts, "_FACTORIES", dict(artifacts._FACTORIES))
    artifacts.register_scheme("mem", lambda uri: FileArtifactStore(tmp_path / "mem"))
    assert isinstance(open_store("mem://anything"), FileArtifactStore)


# --- the contract -----------------------------------------------------------------------------


def test_new_contract_fields_survive_json_and_old_documents_still_load(tmp_path: Path) -> None:
    part = StoredInput("file:///a", 10, "f" * 64, element=3)
    req = request(tmp_path, stored_inputs={"rows": [part, StoredInput("file:///b", 1, "e" * 64)]})
    again = TaskRequest.from_json(req.to_json())
    assert again == req
    assert again.stored_inputs["rows"][0] == part
    old = {k: v for k, v in req.to_dict().items() if k not in ("stored_inputs", "artifacts_uri")}
    old.pop("xcom_db_limit"), old.pop("xcom_max_size")
    assert TaskRequest.from_dict(old).artifacts_uri is None
    result = TaskResult(
        ti_id=1, try_number=1, success=True, value_uri="file:///a", value_size=3, value_length=1
    )
    assert TaskResult.from_json(result.to_json()) == result
    assert TaskResult.from_dict({"ti_id": 1, "try_number": 1, "success": True}).value_uri is None


# --- a task process's side ----------------------------------------------------------------------


def test_a_small_value_travels_inline(tmp_path: Path) -> None:
    assert output_fields(request(tmp_path), [1, 2]) == {"value": [1, 2]}
    assert not (tmp_path / "artifacts").exists()
    # Without an artifact store, every value travels inline (the scheduler applies its limit).
    big = ["x" * 100]
    assert output_fields(request(tmp_path, artifacts_uri=None), big) == {"value": big}


def test_a_large_value_goes_to_the_store_under_the_tries_key(tmp_path: Path) -> None:
    req = request(tmp_path, map_index=4)
    value = [{"id": i, "name": "é" * 5} for i in range(10)]
    fields = output_fields(req, value)
    data = encode_json(value)
    assert "value" not in fields
    assert fields["value_size"] == len(data) > req.xcom_db_limit
    assert fields["value_sha256"] == hashlib.sha256(data).hexdigest()
    assert fields["value_length"] == 10
    key = xcom_key(req.dag_id, req.run_id, "extract", map_index=4, try_number=2)
    assert fields["value_uri"] == (tmp_path / "artifacts" / key).as_uri()
    assert json.loads((tmp_path / "artifacts" / key).read_bytes()) == value
    assert output_fields(req, {"k": "v" * 100})["value_length"] is None  # not a list


def test_a_value_over_the_maximum_fails_with_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(XComTooLargeError) as caught:
        output_fields(request(tmp_path), "x" * 2000)
    assert str(caught.value) == (
        "the return value of task 'extract' is 2002 bytes as JSON, more than the 1024 bytes an "
        "XCom may have (xcom_max_size); write large data to the run's staging dir "
        "(PINFLOW_STAGING_DIR) or to your own storage and return its path instead"
    )
    with pytest.raises(TypeError, match=r"not JSON-serializable \(set\)"):
        output_fields(request(tmp_path), {1, 2})


def test_stored_inputs_are_loaded_whole_by_element_and_by_position(
    tmp_path: Path, store: FileArtifactStore
) -> None:
    rows = put(store, "xcom/d/r/rows/-1/attempt=1.json", encode_json(["a", "b", "c"]))
    doc = put(store, "xcom/d/r/doc/0/attempt=1.json", encode_json({"big": True}))

    def ref(r: ArtifactRef, **where: int) -> StoredInput:
        return StoredInput(r.uri, r.size, r.sha256, **where)

    req = request(
        tmp_path,
        inputs={"whole": None, "parts": [None, 5, None]},
        mapped={"item": None},
        stored_inputs={
            "whole": [ref(rows)],
            "parts": [ref(doc, position=0), ref(rows, position=2)],
            "item": [ref(rows, element=1)],
        },
    )
    arguments = {**req.inputs, **req.mapped}
    assert load_stored_inputs(req, arguments) == {
        "whole": ["a", "b", "c"],
        "parts": [{"big": True}, 5, ["a", "b", "c"]],
        "item": "b",
    }
    assert arguments["parts"] == [None, 5, None]  # the request's own list is not changed
    bad = request(tmp_path, stored_inputs={"item": [ref(rows, element=3)]})
    with pytest.raises(DataLostError, match="holds no element 3"):
        load_stored_inputs(bad, {})
    (store.path / "xcom/d/r/rows/-1/attempt=1.json").write_bytes(b'["a","b","X"]')
    with pytest.raises(DataLostError, match=r"argument 'whole' cannot be read: the artifact .* is"):
        load_stored_inputs(req, arguments)
