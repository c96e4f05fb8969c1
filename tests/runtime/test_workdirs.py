"""The try folders' sweep: a folder outlives its process only until someone notices it is gone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pinflow.runtime.workdirs import WORKDIR_PREFIX, sweep_workdirs


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _folder(base: Path, name: str) -> Path:
    folder = base / name
    folder.mkdir(mode=0o700)
    (folder / "scratch").write_text("left behind")
    return folder


def test_at_start_up_the_folders_of_processes_that_are_gone_are_swept(tmp_path: Path) -> None:
    dead = _folder(tmp_path, f"{WORKDIR_PREFIX}{_dead_pid()}-abc")
    live = _folder(tmp_path, f"{WORKDIR_PREFIX}{os.getpid()}-abc")
    legacy = _folder(tmp_path, f"{WORKDIR_PREFIX}abc")  # no owner in the name: left alone
    other = _folder(tmp_path, "someone-else")
    assert sweep_workdirs(base=tmp_path) == [dead]
    assert not dead.exists()
    assert all(f.exists() for f in (live, legacy, other))


def test_a_reaped_childs_folders_are_swept_and_only_those(tmp_path: Path) -> None:
    pid = _dead_pid()
    mine = _folder(tmp_path, f"{WORKDIR_PREFIX}{pid}-abc")
    longer = _folder(tmp_path, f"{WORKDIR_PREFIX}{pid}0-abc")  # another pid's that starts alike
    assert sweep_workdirs(pid, base=tmp_path) == [mine]
    assert longer.exists()
