"""Files and folders only the server's user can reach (issue #14, point 2; issue #19, point 4).

Everything the server writes under ``$PINFLOW_HOME`` (secrets, the SQLite database, task
logs, staging dirs, artifacts) is created 0600 (files) / 0700 (folders), in the ``open`` or
``mkdir`` call itself: the mode is given at creation, never set by a later ``chmod`` that
would leave a window in which another user could open the file. A umask can only take bits
away, so these modes hold whatever the umask is. Existing folders are left as they are (an
operator's choice).
"""

from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dirs(path: Path) -> Path:
    """``mkdir -p`` where every folder it creates is 0700 (``Path.mkdir(parents=True)``
    creates the parents with the umask's mode, usually 0755)."""
    path = Path(path)
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, DIR_MODE)
        except FileExistsError:  # another process created it meanwhile
            if not folder.is_dir():
                raise
    return path


def open_private(path: Path, flags: int) -> int:
    """``os.open`` with mode 0600 for a file it creates, its folders created 0700."""
    private_dirs(Path(path).parent)
    return os.open(path, flags | os.O_CREAT, FILE_MODE)
