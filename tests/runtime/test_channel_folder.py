"""Where a try's channel socket lives: a RAM-backed runtime folder when there is one (ADR 0047)."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pinflow.runtime import channel
from pinflow.runtime.channel import TaskChannel, runtime_base


class _Backend:
    def variable(self, key: str) -> str:
        return f"value of {key}"

    def connection(self, conn_id: str) -> Any:
        raise AssertionError("not used")

    def push_xcom(self, key: str, value: Any) -> None:
        raise AssertionError("not used")

    def pull_xcom(self, task_id: str, map_index: int, key: str) -> Any:
        raise AssertionError("not used")

    def rendered_fields(self, fields: dict[str, Any]) -> None:
        raise AssertionError("not used")


@pytest.fixture
def fresh_folders(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process's socket folder is made anew (it is made once per process)."""
    monkeypatch.setattr(channel, "_FOLDERS", {})


@pytest.fixture
def short(tmp_path: Path) -> Iterator[Path]:
    """A folder with a path short enough for sockets (``tmp_path``'s may not be)."""
    folder = Path(tempfile.mkdtemp(prefix="pf-", dir="/tmp"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_the_runtime_dir_of_the_user_comes_first(
    short: Path, monkeypatch: pytest.MonkeyPatch, fresh_folders: None
) -> None:
    runtime = short / "run-user"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    assert runtime_base() == str(runtime)
    opened = TaskChannel(_Backend(), "7")
    try:
        folder = opened.path.parent
        assert folder.parent == runtime
        assert folder.name.startswith("pinflow-tries-")
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert stat.S_ISSOCK(opened.path.stat().st_mode)
        assert stat.S_IMODE(opened.path.stat().st_mode) == 0o600
    finally:
        opened.close()
    assert not opened.path.exists()


def test_without_one_the_next_usable_base_is_taken(
    short: Path, monkeypatch: pytest.MonkeyPatch, fresh_folders: None
) -> None:
    shm = short / "shm"
    shm.mkdir()
    too_long = short / ("x" * 60)
    too_long.mkdir()
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    bases = ("XDG_RUNTIME_DIR", str(short / "missing"), str(too_long), str(shm), None)
    monkeypatch.setattr(channel, "_RUNTIME_BASES", bases)
    assert runtime_base() == str(shm)
    opened = TaskChannel(_Backend(), "8")
    try:
        assert opened.path.parent.parent == shm
        assert opened._answer(b'{"op": "variable", "key": "k"}') == {
            "ok": True,
            "value": "value of k",
        }
    finally:
        opened.close()


def test_a_file_in_the_list_is_passed_over(
    short: Path, monkeypatch: pytest.MonkeyPatch, fresh_folders: None
) -> None:
    a_file = short / "not-a-folder"
    a_file.write_text("")
    monkeypatch.setattr(channel, "_RUNTIME_BASES", (str(a_file), None))
    assert runtime_base() is None


def test_with_no_runtime_folder_the_temporary_folder_is_used(
    short: Path, monkeypatch: pytest.MonkeyPatch, fresh_folders: None
) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    monkeypatch.setattr(channel, "_RUNTIME_BASES", ("XDG_RUNTIME_DIR", str(short / "no"), None))
    monkeypatch.setattr(tempfile, "tempdir", str(short))
    assert runtime_base() is None
    opened = TaskChannel(_Backend(), "9")
    try:
        assert opened.path.parent.parent == short
    finally:
        opened.close()


def test_a_channel_for_a_task_user_is_that_users_in_a_folder_it_may_pass_through(
    short: Path, monkeypatch: pytest.MonkeyPatch, fresh_folders: None, task_user: str
) -> None:
    monkeypatch.setattr(channel, "_RUNTIME_BASES", (str(short), None))
    mine = TaskChannel(_Backend(), "10")
    theirs = TaskChannel(_Backend(), "11", user=task_user)
    try:
        folder = theirs.path.parent
        assert folder == mine.path.parent
        assert stat.S_IMODE(folder.stat().st_mode) == 0o711  # passed through, never listed
        owner = pwd.getpwnam(task_user)
        assert (theirs.path.stat().st_uid, theirs.path.stat().st_gid) == (
            owner.pw_uid,
            owner.pw_gid,
        )
        assert stat.S_IMODE(theirs.path.stat().st_mode) == 0o600
        assert mine.path.stat().st_uid == os.geteuid()  # a channel without a user stays ours
    finally:
        mine.close()
        theirs.close()
