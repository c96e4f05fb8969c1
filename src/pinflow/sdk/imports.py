"""Importing DAG files in isolation, and saying where an import failed.

While the compiler runs, the bundle root is first on ``sys.path`` and modules from earlier
compiles of the same root are out of ``sys.modules`` (so an edited file is read again). After,
``sys.path`` is restored and every module loaded from the root is dropped, putting back any
that were there before. Third-party modules imported by DAG files stay loaded: dropping them
would re-import C extensions (NumPy refuses that). Bytecode is not written, so compiling never
leaves ``__pycache__`` folders behind in the user's DAG folder.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

from pinflow.errors import Problem

_NEVER_PURGED = frozenset({*sys.stdlib_module_names, "pinflow"})


def display_path(root: Path, path: Path | str, line: int | None = None) -> str:
    """``dags/etl.py:12``: the file relative to the bundle root's parent, and the line."""
    path = Path(path)
    try:
        shown = (Path(root.name) / path.resolve().relative_to(root)).as_posix()
    except ValueError:
        shown = str(path)
    return f"{shown}:{line}" if line else shown


def in_bundle(path: str | Path | None, root: Path) -> bool:
    """Whether ``path`` is a file the bundle would hold (under root, not in a hidden folder)."""
    if path is None:
        return False
    try:
        parts = Path(path).resolve().relative_to(root).parts
    except ValueError:
        return False
    return not any(part.startswith(".") or part == "__pycache__" for part in parts)


def top_level_names(root: Path) -> set[str]:
    """Module names the root provides (``etl.py`` -> ``etl``, ``pkg/`` -> ``pkg``).

    A cached module of the same name (a ``utils`` from site-packages) is set aside during the
    compile, because a worker, with the bundle root first on its path, imports the bundle's.
    The standard library and Pinflow itself are never set aside: the SDK needs them.
    """
    names = {p.stem for p in root.glob("*.py")} | {p.name for p in root.iterdir() if p.is_dir()}
    return {n for n in names if n.isidentifier() and n not in _NEVER_PURGED}


def _from_root(name: str, module: ModuleType | None, root: Path, names: set[str]) -> bool:
    if name.partition(".")[0] in names:
        return True
    return in_bundle(getattr(module, "__file__", None), root)


def forget_bundle_modules(root: Path, names: set[str]) -> None:
    """Drop the modules loaded from ``root`` (``names``: ``top_level_names(root)``), so the
    next import loads them again, as a fresh process would: what it imports is then visible
    in ``sys.modules`` (ADR 0041)."""
    for name, module in list(sys.modules.items()):
        if _from_root(name, module, root, names):
            del sys.modules[name]


@contextmanager
def isolated_imports(root: Path) -> Iterator[None]:
    """Import from ``root`` inside the block; leave ``sys`` as it was afterwards."""
    names = top_level_names(root)
    saved_path = list(sys.path)
    saved_modules = {
        name: module
        for name, module in list(sys.modules.items())
        if _from_root(name, module, root, names)
    }
    for name in saved_modules:
        del sys.modules[name]
    saved_finders = set(sys.path_importer_cache)
    saved_dont_write = sys.dont_write_bytecode
    sys.path.insert(0, str(root))
    sys.dont_write_bytecode = True
    importlib.invalidate_caches()
    try:
        yield
    finally:
        sys.path[:] = saved_path
        sys.dont_write_bytecode = saved_dont_write
        for name, module in list(sys.modules.items()):
            if _from_root(name, module, root, names):
                del sys.modules[name]
        sys.modules.update(saved_modules)
        for key in set(sys.path_importer_cache) - saved_finders:
            del sys.path_importer_cache[key]


def exception_problem(exc: BaseException, root: Path, file: Path) -> Problem:
    """A problem at the innermost line of the bundle's code that the exception passed through."""
    if isinstance(exc, SyntaxError) and exc.filename and in_bundle(exc.filename, root):
        where = display_path(root, exc.filename, exc.lineno)
        return Problem(where, f"{type(exc).__name__}: {exc.msg}")
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if in_bundle(f.filename, root)]
    if frames:
        where = display_path(root, frames[-1].filename, frames[-1].lineno)
    else:
        where = display_path(root, file)
    text = str(exc)
    return Problem(where, f"{type(exc).__name__}: {text}" if text else type(exc).__name__)
