"""Settings precedence, deterministic paths, the bundle cache and the pipe framing."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from pinflow.runtime.paths import log_path, path_component, staging_path
from pinflow.runtime.process import FrameReader, encode_frame
from pinflow.runtime.task_process import ensure_bundle
from pinflow.sdk.bundle import make_bundle
from pinflow.settings import Settings


def test_settings_env_beats_the_toml_file_which_beats_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.startswith("PINFLOW_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PINFLOW_HOME", str(tmp_path))
    (tmp_path / "pinflow.toml").write_text("parallelism = 7\nheartbeat_interval = 2.5\n")
    monkeypatch.setenv("PINFLOW_HEARTBEAT_INTERVAL", "1.5")
    settings = Settings()
    assert settings.parallelism == 7  # file
    assert settings.heartbeat_interval == 1.5  # environment over file
    assert settings.database_url == f"sqlite:///{tmp_path / 'pinflow.db'}"
    assert settings.logs_dir == tmp_path / "logs"
    assert settings.staging_dir == tmp_path / "staging"
    assert settings.snapshot_cache_dir == tmp_path / "snapshots"
    assert Settings(parallelism=3).parallelism == 3  # arguments over everything

    other = tmp_path / "elsewhere.toml"
    other.write_text('executor = "celery"\n')
    monkeypatch.setenv("PINFLOW_CONFIG", str(other))
    assert Settings().executor == "celery"


def test_paths_are_deterministic_and_never_collide(tmp_path: Path) -> None:
    run_id = "manual__2026-01-01T00:00:00+00:00"
    first = staging_path(tmp_path, "etl", run_id)
    assert first == staging_path(tmp_path, "etl", run_id)  # a re-run re-attaches it
    assert first.parent == tmp_path / "etl"
    assert ":" not in first.name
    assert path_component("a:b") != path_component("a_b")
    assert path_component("..") not in (".", "..")
    assert path_component("plain_id-1.2") == "plain_id-1.2"
    log = log_path(tmp_path, "etl", "r1", "load", map_index=-1, try_number=2)
    assert log == tmp_path / "etl" / "r1" / "load" / "-1" / "attempt=2.log"


def test_concurrent_first_uses_of_a_bundle_extract_it_once_and_atomically(
    tmp_path: Path,
) -> None:
    source = tmp_path / "src"
    (source / "pkg").mkdir(parents=True)
    (source / "pkg" / "__init__.py").write_text("VALUE = 1\n")
    (source / "job.py").write_text("from pkg import VALUE\n")
    archive = tmp_path / "bundle.zip"
    archive.write_bytes(make_bundle(source))
    cache = tmp_path / "cache"
    results: list[Path] = []
    threads = [
        threading.Thread(
            target=lambda: results.append(ensure_bundle(cache, "d" * 64, archive.as_uri()))
        )
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert results == [cache / ("d" * 64)] * 8
    assert (cache / ("d" * 64) / "pkg" / "__init__.py").read_text() == "VALUE = 1\n"
    assert list((cache / ("d" * 64)).glob("__pycache__/job.*.pyc"))  # compiled once, up front
    assert sorted(p.name for p in cache.iterdir()) == [f".{'d' * 64}.lock", "d" * 64]
    assert ensure_bundle(cache, "e" * 64, None).is_dir()  # a snapshot without code


def test_frames_survive_arbitrary_splits() -> None:
    data = encode_frame({"a": 1}) + encode_frame({"b": [1, 2, "ü"]})
    reader = FrameReader()
    messages = [m for i in range(len(data)) for m in reader.feed(data[i : i + 1])]
    assert messages == [{"a": 1}, {"b": [1, 2, "ü"]}]
    assert reader.pending == 0
