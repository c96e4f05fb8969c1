"""The shared store on S3: artifacts and run staging through fsspec, against a real
S3-compatible server (moto's, on 127.0.0.1, one per test), configured as a deployment is:
by the standard AWS environment, never by the URL."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from moto.server import ThreadedMotoServer
from tests.scheduler.helpers import (
    DRAIN_TIMEOUT,
    make_settings,
    push_dag,
    run_state,
    running_scheduler,
    task_instances,
)
from tests.support.no_extras import EXTRA_PACKAGES

from pinflow.errors import DataLostError
from pinflow.extras import MissingExtraError
from pinflow.runtime import staging
from pinflow.runtime.artifacts import (
    ArtifactRef,
    FsspecArtifactStore,
    get,
    get_json,
    key_matches,
    open_store,
    put,
    run_prefix,
    xcom_key,
)
from pinflow.runtime.contract import TaskRequest
from pinflow.scheduler.requests import RequestBuilder
from pinflow.services.commands._runs import trigger_run
from pinflow.services.engine._xcom_store import discard_artifacts
from pinflow.services.xcom_values import value_of as get_xcom
from pinflow.settings import Settings
from pinflow.store.db import Database

BUCKET = "pinflow-test"
NO_EXTRAS = Path(__file__).resolve().parents[1] / "support" / "no_extras.py"


def _clear_fsspec_caches() -> None:
    """fsspec reuses a file system per set of arguments, and so an endpoint from another
    test's server (each test has its own): start every test with none."""
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture
def s3_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A fresh S3 server with one bucket; the environment points boto at it (task processes
    inherit it). Yields an s3fs file system on it, to look at the bucket directly."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    # moto keeps its buckets per process, not per server: start from none.
    httpx.post(f"http://{host}:{port}/moto-api/reset").raise_for_status()
    env = {
        "AWS_ACCESS_KEY_ID": "test-key",
        "AWS_SECRET_ACCESS_KEY": "test-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": f"http://{host}:{port}",
        # Nothing from the machine's own AWS configuration.
        "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    _clear_fsspec_caches()
    import s3fs

    fs = s3fs.S3FileSystem()
    fs.mkdir(BUCKET)
    try:
        yield fs
    finally:
        _clear_fsspec_caches()
        server.stop()


def _object(fs: Any, path: str) -> bytes:
    fs.invalidate_cache()
    data: bytes = fs.cat_file(f"{BUCKET}/{path}")
    return data


def _objects(fs: Any, prefix: str) -> dict[str, bytes]:
    fs.invalidate_cache()
    base = f"{BUCKET}/{prefix}/"
    return {name[len(base) :]: fs.cat_file(name) for name in fs.find(base)}


# --- artifacts ------------------------------------------------------------------------------------


def test_an_artifact_round_trips_through_s3_with_its_checks(s3_env: Any) -> None:
    store = open_store(f"s3://{BUCKET}/shared/artifacts/")
    assert isinstance(store, FsspecArtifactStore)
    assert store.root == f"s3://{BUCKET}/shared/artifacts"
    key = xcom_key("etl", "manual__2026-01-01T00:00:00+00:00", "load", map_index=2, try_number=1)
    data = json.dumps(["row"] * 1000).encode()

    ref = put(store, key, data)

    assert ref == ArtifactRef(
        f"s3://{BUCKET}/shared/artifacts/{key}", len(data), hashlib.sha256(data).hexdigest()
    )
    assert key_matches(ref.uri, key)
    assert _object(s3_env, f"shared/artifacts/{key}") == data
    assert get_json(open_store(store.root), ref) == ["row"] * 1000  # another process's view

    s3_env.pipe_file(f"{BUCKET}/shared/artifacts/{key}", data.replace(b"row", b"wor", 1))
    with pytest.raises(DataLostError, match=r"is damaged: it holds \d+ bytes with sha256"):
        get(store, ref)
    s3_env.pipe_file(f"{BUCKET}/shared/artifacts/{key}", data[:-1])
    with pytest.raises(DataLostError, match="is damaged"):
        get(store, ref)
    s3_env.rm_file(f"{BUCKET}/shared/artifacts/{key}")
    with pytest.raises(DataLostError, match="is missing: it was deleted outside Pinflow"):
        get(store, ref)


def test_a_reference_outside_the_store_is_refused(s3_env: Any) -> None:
    store = open_store(f"s3://{BUCKET}/shared/artifacts")
    s3_env.pipe_file(f"{BUCKET}/elsewhere/secret.json", b"1")
    for uri in (
        f"s3://{BUCKET}/elsewhere/secret.json",
        f"s3://{BUCKET}/shared/artifacts/../../elsewhere/secret.json",
        f"s3://{BUCKET}/shared/artifacts-other/x.json",
        "file:///etc/passwd",
    ):
        with pytest.raises(DataLostError, match="is not in the artifact store"):
            get(store, ArtifactRef(uri, 1, hashlib.sha256(b"1").hexdigest()))
    with pytest.raises(ValueError, match="is not inside the store"):
        store.write("xcom/../../escape.json", b"[]")


def test_removing_a_run_removes_its_artifacts_on_s3(s3_env: Any) -> None:
    store = open_store(f"s3://{BUCKET}/shared/artifacts")
    put(store, xcom_key("d", "r1", "t", map_index=-1, try_number=1), b"1")
    put(store, xcom_key("d", "r1", "t", map_index=0, try_number=2), b"2")
    put(store, xcom_key("d", "r10", "t", map_index=-1, try_number=1), b"3")

    discard_artifacts(store, "d", ["r1"])
    discard_artifacts(store, "d", ["r1", "never-ran"])  # gone already: fine

    assert _objects(s3_env, "shared/artifacts") == {"xcom/d/r10/t/-1/attempt=1.json": b"3"}
    assert not s3_env.exists(f"{BUCKET}/shared/artifacts/{run_prefix('d', 'r1')}")


def test_credentials_in_the_url_are_refused_without_showing_them() -> None:
    with pytest.raises(ValueError, match="must not carry credentials") as caught:
        open_store("s3://AKIAEXAMPLE:hunter2@bucket/prefix")
    assert "hunter2" not in str(caught.value)
    assert "AKIAEXAMPLE" not in str(caught.value)


# --- settings and requests ------------------------------------------------------------------------


def test_the_shared_store_url_names_artifacts_and_staging(tmp_path: Path) -> None:
    local = Settings(home=tmp_path)
    assert local.artifacts_uri == (tmp_path / "artifacts").as_uri()
    shared = Settings(home=tmp_path, shared_store_url=f"s3://{BUCKET}/prod/")
    assert shared.artifacts_uri == f"s3://{BUCKET}/prod/artifacts"
    assert staging.run_staging_uri(f"s3://{BUCKET}/prod/", "etl", "manual__2026-01-01") == (
        f"s3://{BUCKET}/prod/staging/etl/manual__2026-01-01"
    )
    # Escaped as logs and staging dirs are: one folder per name, never a path.
    assert staging.run_staging_uri("s3://b", "etl", "a/../b").startswith("s3://b/staging/etl/a_")


# --- staging --------------------------------------------------------------------------------------


def _request(tmp_path: Path, local: Path, staging_uri: str | None) -> TaskRequest:
    return TaskRequest(
        ti_id=1,
        dag_id="etl",
        run_id="r1",
        task_id="t",
        try_number=1,
        snapshot_digest="0" * 64,
        staging_dir=str(local),
        log_path=str(tmp_path / "log"),
        staging_uri=staging_uri,
    )


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def test_staging_travels_between_two_hosts_through_s3(s3_env: Any, tmp_path: Path) -> None:
    uri = staging.run_staging_uri(f"s3://{BUCKET}/shared", "etl", "r1")
    host_a, host_b = tmp_path / "a" / "etl" / "r1", tmp_path / "b" / "etl" / "r1"

    with staging.attached(_request(tmp_path, host_a, uri)) as here:  # the run's first try
        assert here == host_a
        assert _tree(host_a) == {}
        (host_a / "raw.csv").write_text("a,b\n1,2\n")
        (host_a / "parts" / "0").mkdir(parents=True)
        (host_a / "parts" / "0" / "rows.json").write_bytes(b"[1]")
    assert _objects(s3_env, "shared/staging/etl/r1") == {
        "raw.csv": b"a,b\n1,2\n",
        "parts/0/rows.json": b"[1]",
    }

    with staging.attached(_request(tmp_path, host_b, uri)):  # the next try, on another host
        assert _tree(host_b) == {"raw.csv": b"a,b\n1,2\n", "parts/0/rows.json": b"[1]"}
        (host_b / "raw.csv").unlink()
        (host_b / "parts" / "0" / "rows.json").write_bytes(b"[1, 2]")
        (host_b / "out.txt").write_text("done")
    assert _objects(s3_env, "shared/staging/etl/r1") == {
        "parts/0/rows.json": b"[1, 2]",
        "out.txt": b"done",
    }

    def failing_try() -> None:
        with staging.attached(_request(tmp_path, host_a, uri)):  # back on the first host
            assert _tree(host_a) == {"parts/0/rows.json": b"[1, 2]", "out.txt": b"done"}
            (host_a / "out.txt").unlink()
            (host_a / "partial.txt").write_text("half")
            raise RuntimeError("the task failed")

    with pytest.raises(RuntimeError, match="the task failed"):
        failing_try()
    # A failed try's files reach the store too: the next try may want to look at them.
    assert _objects(s3_env, "shared/staging/etl/r1") == {
        "parts/0/rows.json": b"[1, 2]",
        "partial.txt": b"half",
    }
    staging.pull(uri, host_b)
    assert _tree(host_b) == {"parts/0/rows.json": b"[1, 2]", "partial.txt": b"half"}

    staging.discard(uri)
    assert _objects(s3_env, "shared/staging/etl/r1") == {}


def test_concurrent_tries_on_one_host_keep_each_others_files(s3_env: Any, tmp_path: Path) -> None:
    """Two mapped tries of a run at once on one host, sharing its local copy: the second one's
    pull must not delete (or overwrite) what the first wrote and has not pushed yet, and each
    push sends only what changed, so neither undoes the other on the store."""
    uri = staging.run_staging_uri(f"s3://{BUCKET}/shared", "etl", "r1")
    local = tmp_path / "host" / "etl" / "r1"
    other = tmp_path / "other" / "etl" / "r1"
    staging.push(_seed(other, {"shared.txt": b"v1", "gone.txt": b"x"}), uri)

    with staging.attached(_request(tmp_path, local, uri)):
        (local / "part-0.json").write_bytes(b"[0]")
        (local / "shared.txt").write_bytes(b"mine")
        # Meanwhile another host deletes a file; then a second try starts on this host.
        (other / "gone.txt").unlink()
        staging.push(other, uri)
        with staging.attached(_request(tmp_path, local, uri)):
            assert _tree(local) == {"part-0.json": b"[0]", "shared.txt": b"mine"}
            (local / "part-1.json").write_bytes(b"[1]")
    assert _objects(s3_env, "shared/staging/etl/r1") == {
        "part-0.json": b"[0]",
        "part-1.json": b"[1]",
        "shared.txt": b"mine",
    }


def _seed(folder: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)
    return folder


def test_staging_on_a_shared_file_system_needs_no_fsspec(tmp_path: Path) -> None:
    uri = staging.run_staging_uri((tmp_path / "nfs").as_uri(), "etl", "r1")
    a, b = tmp_path / "a" / "r1", tmp_path / "b" / "r1"
    with staging.attached(_request(tmp_path, a, uri)):
        _seed(a, {"x/y.txt": b"1", "z.txt": b"2"})
    with staging.attached(_request(tmp_path, b, uri)):
        assert _tree(b) == {"x/y.txt": b"1", "z.txt": b"2"}
        (b / "x" / "y.txt").unlink()
    assert _tree(tmp_path / "nfs" / "staging" / "etl" / "r1") == {"z.txt": b"2"}
    assert not (tmp_path / "nfs" / "staging" / "etl" / "r1" / "x").exists()
    staging.pull(uri, a)
    assert _tree(a) == {"z.txt": b"2"}


def test_a_file_half_written_or_deleted_meanwhile_on_the_store_is_not_pulled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another host's push in progress (its partial copy, not yet renamed into place) is never
    listed, and a file deleted between the listing and its download is as if never listed:
    the pull goes on with the rest instead of failing the try (a race seen with 100 tries of
    one run on two workers)."""
    uri = staging.run_staging_uri((tmp_path / "nfs").as_uri(), "etl", "r1")
    store = _seed(tmp_path / "nfs" / "staging" / "etl" / "r1", {"kept.txt": b"1", "gone.txt": b"2"})
    (store / f"{staging.PARTIAL_PREFIX}abc.push").write_bytes(b"half")
    real_download = staging._download

    def download(remote: Any, rel: str, target: Path) -> str:
        if rel == "gone.txt":  # deleted by another host's push just after the listing
            (store / "gone.txt").unlink()
        return real_download(remote, rel, target)

    monkeypatch.setattr(staging, "_download", download)
    local = tmp_path / "host" / "r1"
    staging.pull(uri, local)
    assert _tree(local) == {"kept.txt": b"1"}
    staging.push(local, uri)  # nothing changed here: nothing sent, the partial copy untouched
    assert _tree(store) == {"kept.txt": b"1", f"{staging.PARTIAL_PREFIX}abc.push": b"half"}


def test_without_a_staging_uri_the_directory_is_left_alone(tmp_path: Path) -> None:
    local = _seed(tmp_path / "staging" / "r1", {"kept.txt": b"1"})
    with staging.attached(_request(tmp_path, local, None)) as here:
        assert here == local
        (local / "new.txt").write_bytes(b"2")
    assert _tree(local) == {"kept.txt": b"1", "new.txt": b"2"}
    assert sorted(p.name for p in local.parent.iterdir()) == ["r1"]  # no sync record


# --- end to end -----------------------------------------------------------------------------------

LARGE = """
    from pinflow import dag, task


    @task
    def produce():
        return [f"row-{i:05d}" for i in range(5_000)]


    @task
    def count(rows):
        return len(rows)


    @dag(dag_id="large")
    def large():
        count(produce())


    large()
"""


def test_a_large_xcom_goes_to_the_bucket_and_downstream_reads_it(
    s3_env: Any, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(
        db, tmp_path / "home", xcom_db_limit=1024, shared_store_url=f"s3://{BUCKET}/pinflow"
    )
    push_dag(db, tmp_path / "dags", "large", LARGE)
    built: list[TaskRequest] = []
    build = RequestBuilder.build

    def recording(self: RequestBuilder, *args: Any) -> TaskRequest:
        built.append(build(self, *args))
        return built[-1]

    monkeypatch.setattr(RequestBuilder, "build", recording)  # the real builder, watched
    with running_scheduler(db, settings) as scheduler:
        trigger_run(db, dag_id="large", run_id="r1", actor="tester")
        scheduler.wake()
        assert scheduler.drain(DRAIN_TIMEOUT), "the run did not finish in time"
    assert run_state(db, "large", "r1") == "success"

    tis = task_instances(db, "large", "r1")
    assert get_xcom(db, tis["count"].run_pk, "count") == 5_000
    key = xcom_key("large", "r1", "produce", map_index=-1, try_number=1)
    data = _object(s3_env, f"pinflow/artifacts/{key}")
    assert json.loads(data) == [f"row-{i:05d}" for i in range(5_000)]
    artifacts = open_store(settings.artifacts_uri)
    rows = get_xcom(db, tis["produce"].run_pk, "produce", artifacts=artifacts)
    assert rows[:2] == ["row-00000", "row-00001"]
    assert not (settings.artifacts_dir / key).exists()  # nothing went to the local folder

    assert {(r.task_id, r.artifacts_uri, r.staging_uri) for r in built} == {
        (task_id, f"s3://{BUCKET}/pinflow/artifacts", f"s3://{BUCKET}/pinflow/staging/large/r1")
        for task_id in ("produce", "count")
    }

    discard_artifacts(artifacts, "large", ["r1"])
    assert _objects(s3_env, "pinflow/artifacts") == {}


# --- without the extra ----------------------------------------------------------------------------

WITHOUT_FSSPEC = """
import sys
from pinflow.extras import MissingExtraError
from pinflow.runtime.artifacts import open_store
try:
    open_store(sys.argv[1])
except MissingExtraError as exc:
    print(exc)
"""


def test_an_s3_url_without_the_extra_is_one_line_naming_it() -> None:
    assert {"fsspec", "s3fs"} <= EXTRA_PACKAGES
    done = subprocess.run(
        [sys.executable, str(NO_EXTRAS), "-c", WITHOUT_FSSPEC, f"s3://{BUCKET}/x"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.splitlines() == [MISSING_S3]


@pytest.mark.parametrize("hidden", [("s3fs",), ("fsspec", "fsspec.core")])
def test_fsspec_or_s3fs_missing_is_the_same_line(
    hidden: tuple[str, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in hidden:
        monkeypatch.setitem(sys.modules, name, None)  # what import finds for a missing package
    with pytest.raises(MissingExtraError) as caught:
        open_store(f"s3://{BUCKET}/x")
    assert str(caught.value) == MISSING_S3
    assert caught.value.extra == "s3"


MISSING_S3 = (
    "A store on S3 (s3://…) needs the 's3' extra, which is not installed: pip install 'pinflow[s3]'"
)
