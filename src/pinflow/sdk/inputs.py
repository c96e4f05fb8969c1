"""One DAG's inputs: the bundle files its snapshot holds and its digest covers (ADR 0041).

A DAG's inputs are its own DAG file (a Python one: a declarative file's content is its spec),
the bundle modules it imports (transitively), the bundle files opened while it loads, the
bundle files its spec names (a script in a ``bash_command``, a ``.sql`` in an argument), the
files its ``bundle_files=`` patterns match, and the ``__init__.py`` of every package above a
module among them. Anything else in the folder (a ``notes.txt``, another DAG's file) is not
shipped with it, so changing it makes no new version of it.

Opens are seen through an audit hook (``sys.addaudithook``), installed once per process and
idle outside ``recording()``; imports through ``sys.modules`` after the DAG file is imported
with the bundle's modules forgotten first (as each DAG file would load in a fresh process).
"""

from __future__ import annotations

import dis
import os
import re
import sys
from collections.abc import Collection, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from types import CodeType
from typing import Any

from pinflow.sdk.ignore import glob_names

_recorders: list[set[str]] = []
_hook: list[bool] = []  # [True] once the audit hook is installed in this process
_NAME_CHARS = r"[\w.\-]"


def _on_audit(event: str, args: tuple[Any, ...]) -> None:
    if event != "open" or not _recorders or not args:
        return
    path = args[0]
    if isinstance(path, str | bytes | os.PathLike):
        try:
            _recorders[-1].add(os.path.abspath(os.fsdecode(path)))
        except (TypeError, ValueError, OSError):
            return


@contextmanager
def recording() -> Iterator[set[str]]:
    """The absolute paths of every file opened inside the block (any mode)."""
    if not _hook:
        sys.addaudithook(_on_audit)  # cannot be removed: it does nothing outside this block
        _hook.append(True)
    opened: set[str] = set()
    _recorders.append(opened)
    try:
        yield opened
    finally:
        _recorders.remove(opened)


def names_in(root: Path, paths: Iterable[str | None], shipped: Collection[str]) -> set[str]:
    """The bundle names (``pkg/mod.py``) of those ``paths`` that the bundle ships."""
    found = set()
    for path in paths:
        if not path:
            continue
        try:
            name = Path(path).resolve().relative_to(root).as_posix()
        except (ValueError, OSError):
            continue
        if name in shipped:
            found.add(name)
    return found


def module_files(root: Path, shipped: Collection[str]) -> set[str]:
    """The bundle files of the modules loaded now (``sys.modules``)."""
    files = [getattr(module, "__file__", None) for module in list(sys.modules.values())]
    return names_in(root, files, shipped)


def named_in_spec(spec_json: str, shipped: Collection[str]) -> set[str]:
    """Bundle files whose path the spec spells out (``bash scripts/load.sh``, ``"q/a.sql"``),
    as a whole path: not inside a longer name."""
    found = set()
    for name in shipped:
        if name in spec_json and re.search(
            rf"(?<!{_NAME_CHARS}){re.escape(name)}(?!{_NAME_CHARS})", spec_json
        ):
            found.add(name)
    return found


def declared(patterns: Iterable[str], shipped: Collection[str]) -> tuple[set[str], list[str]]:
    """The files ``bundle_files=`` patterns match, and the patterns that match none."""
    found: set[str] = set()
    empty = []
    for pattern in patterns:
        matched = glob_names(pattern, sorted(shipped))
        if not matched:
            empty.append(pattern)
        found.update(matched)
    return found, empty


def with_packages(names: set[str], shipped: Collection[str]) -> set[str]:
    """``names`` plus the ``__init__.py`` of each package above a module among them."""
    result = set(names)
    for name in names:
        if not name.endswith(".py"):
            continue
        for parent in PurePosixPath(name).parents:
            init = (parent / "__init__.py").as_posix()
            if str(parent) != "." and init in shipped:
                result.add(init)
    return result


def named_by_code(code: CodeType, others: Collection[str]) -> set[str]:
    """Files among ``others`` that a function's string constants name (its path, a trailing
    part of it, or its file name): what it may open at run time. Nested functions too."""
    found: set[str] = set()
    todo = [code]
    while todo:
        current = todo.pop()
        for const in current.co_consts:
            if isinstance(const, CodeType):
                todo.append(const)
            elif isinstance(const, str) and "." in const and len(const) < 1000:
                found.update(n for n in others if _names(const.strip("/"), n))
    return found


def imported_by_code(code: CodeType) -> set[str]:
    """Absolute module names a function imports in its body (``import x`` inside a task runs
    at run time, so the compiler imports it too, to ship it and what it imports)."""
    found: set[str] = set()
    todo = [code]
    while todo:
        current = todo.pop()
        todo.extend(c for c in current.co_consts if isinstance(c, CodeType))
        consts: list[object] = [None, None]  # IMPORT_NAME follows level, then fromlist
        for instruction in dis.get_instructions(current):
            if instruction.opname == "LOAD_CONST":
                consts = [consts[-1], instruction.argval]
            elif instruction.opname == "IMPORT_NAME" and consts[0] == 0:
                found.add(str(instruction.argval))
    return found


def _names(text: str, name: str) -> bool:
    return PurePosixPath(name).name == text.rsplit("/", 1)[-1]
