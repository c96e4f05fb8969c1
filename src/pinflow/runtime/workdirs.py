"""The private folder of each try (``pinflow-try-<pid>-*`` in the temporary folder).

A try's process creates its folder (0700) and removes it when the task ends. A process killed
with SIGKILL (an operator's ``kill -9``, the OOM killer, a time-out's last resort) removes
nothing: its folder would stay behind, empty or with the task's scratch files. The folder's
name carries the pid of the process it belongs to, so that whoever outlives the process can
find it: the zygote sweeps a child's folders once it has reaped it, and at start-up those of
any process that is gone (a zygote killed with its children sweeps nothing itself).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

WORKDIR_PREFIX = "pinflow-try-"


def make_workdir() -> Path:
    """A new 0700 folder for this process's try (``mkdtemp`` creates it 0700)."""
    return Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-"))


def _owner(folder: Path) -> int | None:
    pid, _, rest = folder.name.removeprefix(WORKDIR_PREFIX).partition("-")
    return int(pid) if pid.isdigit() and rest else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def sweep_workdirs(pid: int | None = None, base: Path | None = None) -> list[Path]:
    """Remove the try folders left by process ``pid`` (reaped, so gone), or, without one, those
    of every process that no longer exists. Returns the folders removed."""
    base = Path(base or tempfile.gettempdir())
    pattern = f"{WORKDIR_PREFIX}{pid}-*" if pid is not None else f"{WORKDIR_PREFIX}*"
    removed = []
    for folder in base.glob(pattern):
        owner = _owner(folder)
        if owner is None or (pid is None and _alive(owner)) or not folder.is_dir():
            continue
        with contextlib.suppress(OSError):
            shutil.rmtree(folder)
            removed.append(folder)
    return removed
