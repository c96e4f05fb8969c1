"""Deleting environments of the cache (``pinflow envs prune``; ADR 0032).

An environment is removed under its key's lock, symlink first, so that a task process either
finds it whole or builds it again; a build in progress (its lock held) is never touched.
Folders that no ``<key>`` points to (a builder killed mid-build) are removed too.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pinflow.runtime.envs import USED_FILE, list_envs


@dataclass(frozen=True)
class Pruned:
    key: str
    what: str  # "environment" | "unfinished build" | "failure record"


def prune_envs(
    venv_dir: Path,
    *,
    unused_for: float | None = None,
    failed: bool = False,
    now: float | None = None,
) -> list[Pruned]:
    """Remove every environment not used for ``unused_for`` seconds (``0``: all of them),
    every unfinished build, and with ``failed`` every recorded failure."""
    if not venv_dir.is_dir():
        return []
    now = time.time() if now is None else now
    pruned: list[Pruned] = []
    if unused_for is not None:
        for env in list_envs(venv_dir):
            if now - float(env["last_used"] or 0) >= unused_for:
                key = str(env["key"])
                with _try_lock(venv_dir, key) as locked:
                    if locked and _remove_env(venv_dir, key, now, unused_for):
                        pruned.append(Pruned(key, "environment"))
    pruned += _remove_unfinished(venv_dir)
    if failed:
        for marker in venv_dir.glob(".*.failed"):
            marker.unlink(missing_ok=True)
            pruned.append(Pruned(marker.name[1:].removesuffix(".failed"), "failure record"))
    return pruned


def _remove_env(venv_dir: Path, key: str, now: float, unused_for: float) -> bool:
    link = venv_dir / key
    used = link / USED_FILE
    with contextlib.suppress(OSError):  # used again since it was listed: keep it
        if now - used.stat().st_mtime < unused_for:
            return False
    target = link.resolve()
    link.unlink(missing_ok=True)
    shutil.rmtree(target, ignore_errors=True)
    return True


def _remove_unfinished(venv_dir: Path) -> list[Pruned]:
    live = {p.resolve() for p in venv_dir.iterdir() if p.is_symlink()}
    pruned = []
    for folder in venv_dir.glob(".*.*"):
        if not folder.is_dir() or folder.is_symlink() or folder.resolve() in live:
            continue
        key = folder.name[1:].split(".", 1)[0]
        with _try_lock(venv_dir, key) as locked:
            if locked and folder.resolve() not in {p.resolve() for p in _links(venv_dir)}:
                shutil.rmtree(folder, ignore_errors=True)
                pruned.append(Pruned(key, "unfinished build"))
    return pruned


def _links(venv_dir: Path) -> list[Path]:
    return [p for p in venv_dir.iterdir() if p.is_symlink()]


@contextlib.contextmanager
def _try_lock(venv_dir: Path, key: str) -> Iterator[bool]:
    """The key's build lock if nobody holds it (a builder at work is left alone)."""
    path = venv_dir / f".{key}.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)
