"""The code bundle: a deterministic zip of a bundle root, and its safe extraction.

Identical files give identical bytes (and so an identical snapshot digest): entries are sorted,
timestamps fixed at 1980-01-01, permissions fixed, and entries are *stored*, not deflated,
because deflate output differs between zlib builds (zlib vs zlib-ng), which would give the
same code a different digest on a developer's laptop and in CI.
"""

from __future__ import annotations

import io
import os
import stat
import zipfile
from collections.abc import Collection, Iterator
from pathlib import Path, PurePosixPath

from pinflow.errors import InvalidInputError, Problem
from pinflow.sdk.ignore import load_ignore
from pinflow.spec.bundle_rules import entry_problems

EPOCH = (1980, 1, 1, 0, 0, 0)
MAX_BUNDLE_BYTES = 64 * 1024 * 1024
EXCLUDED_DIRS = frozenset({"__pycache__"})
EXCLUDED_SUFFIXES = (".pyc", ".pyo")
_FILE_MODE = (stat.S_IFREG | 0o644) << 16
_UNIX = 3


def bundle_files(root: Path) -> Iterator[tuple[str, Path]]:
    """``(posix name, path)`` of every file in the bundle, sorted by name.

    Skipped: hidden files and folders (``.git``, ``.venv``, ``.env``...), ``__pycache__``,
    compiled bytecode, symlinks (their target may lie outside the root), and what the root's
    ``.pinflowignore`` names (``pinflow.sdk.ignore``).
    """
    ignore = load_ignore(root)
    found: list[tuple[str, Path]] = []
    for folder, dirnames, filenames in os.walk(root):
        dirnames[:] = [
            d
            for d in dirnames
            if not d.startswith(".")
            and d not in EXCLUDED_DIRS
            and not os.path.islink(os.path.join(folder, d))
        ]
        for filename in filenames:
            path = Path(folder, filename)
            if filename.startswith(".") or filename.endswith(EXCLUDED_SUFFIXES):
                continue
            if path.is_symlink() or not path.is_file():
                continue
            name = path.relative_to(root).as_posix()
            if not ignore.ignores(name):
                found.append((name, path))
    yield from sorted(found)


def make_bundle(
    root: str | Path, *, only: Collection[str] | None = None, max_bytes: int = MAX_BUNDLE_BYTES
) -> bytes:
    """Zip the bundle root deterministically (see the module docs); with ``only``, just the
    files of the root with those names (one DAG's inputs, ADR 0041)."""
    root = Path(root)
    entries = [(n, p) for n, p in bundle_files(root) if only is None or n in only]
    return zip_files(root, entries, max_bytes=max_bytes)


def zip_files(
    root: Path, entries: list[tuple[str, Path]], *, max_bytes: int = MAX_BUNDLE_BYTES
) -> bytes:
    """Zip ``(name, path)`` entries (sorted by name) deterministically."""
    buffer = io.BytesIO()
    total = 0
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, path in sorted(entries):
            data = path.read_bytes()
            total += len(data)
            if total > max_bytes:
                raise InvalidInputError(
                    f"the bundle of {root} is larger than {max_bytes} bytes",
                    problems=[Problem(name, "the bundle grew past the size limit here")],
                )
            info = zipfile.ZipInfo(name, date_time=EPOCH)
            info.external_attr = _FILE_MODE
            info.create_system = _UNIX
            info.compress_type = zipfile.ZIP_STORED
            archive.writestr(info, data)
    return buffer.getvalue()


def extract_bundle(bundle: bytes, dest: Path, *, max_bytes: int = MAX_BUNDLE_BYTES) -> None:
    """Unpack a bundle into ``dest``, refusing entries that would land outside it, links,
    and duplicates (zipfile stops each entry at its declared size, so the sum is a cap)."""
    dest = Path(dest)
    try:
        archive = zipfile.ZipFile(io.BytesIO(bundle))
    except zipfile.BadZipFile as exc:
        raise InvalidInputError(f"the code bundle is not a zip archive: {exc}") from None
    with archive:
        # Checked at push too (spec.bundle_rules); again here for bundles stored before that.
        problems = list(entry_problems(archive.infolist()))
        if problems:
            raise InvalidInputError(
                f"the code bundle has unsafe paths: {problems[0]}", problems=problems
            )
        if sum(info.file_size for info in archive.infolist()) > max_bytes:
            raise InvalidInputError(f"the code bundle unpacks to more than {max_bytes} bytes")
        for info in archive.infolist():
            target = dest.joinpath(*PurePosixPath(info.filename).parts)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(info))
