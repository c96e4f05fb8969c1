"""The rules a pushed code bundle (a zip) must follow, checked entry by entry at push time.

A bundle is unpacked on every host that runs one of its tasks, so an entry that would land
outside its folder (``../``, ``/etc/x``, ``C:\\x``), a symlink pointing anywhere, or a zip bomb
is refused when it is pushed, with the entry named, not when a task first runs. The task
runtime checks again before unpacking (defence in depth: a bundle stored before these rules).

Pure: no I/O beyond the zip object in memory. Sizes are checked twice: the sizes the zip
*declares*, then the bytes each entry really inflates to, read with a cap, because a crafted
archive can declare 1 KiB and inflate to gigabytes.

The spec's own limits (tasks per DAG, JSON size, text no database can store) are here too:
one module holds everything a push is measured against, for the server and the CLI alike.
"""

from __future__ import annotations

import io
import stat
import unicodedata
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from pinflow.errors import InvalidInputError, Problem
from pinflow.spec.canonical import spec_to_dict, spec_to_json
from pinflow.spec.locations import format_location
from pinflow.spec.models import DagSpec

MIB = 1024 * 1024
DEFAULT_MAX_BUNDLE_BYTES = 16 * MIB
DEFAULT_MAX_FILE_BYTES = 8 * MIB
DEFAULT_MAX_BUNDLE_FILES = 5000
DEFAULT_MAX_SPEC_BYTES = 8 * MIB
DEFAULT_MAX_TASKS_PER_DAG = 5000

_UTF8_FLAG = 0x800  # general purpose bit 11: the name is UTF-8 (APPNOTE 4.4.4)
_UNIX = 3
_CHUNK = 64 * 1024
_FIX = "Remove or rename it in the bundle folder and push again."


@dataclass(frozen=True)
class BundleLimits:
    """What one pushed snapshot may hold (the ``PINFLOW_MAX_*`` settings)."""

    max_bundle_bytes: int = DEFAULT_MAX_BUNDLE_BYTES
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    max_bundle_files: int = DEFAULT_MAX_BUNDLE_FILES
    max_spec_bytes: int = DEFAULT_MAX_SPEC_BYTES
    max_tasks_per_dag: int = DEFAULT_MAX_TASKS_PER_DAG


DEFAULT_LIMITS = BundleLimits()


def check_bundle(bundle: bytes, limits: BundleLimits = DEFAULT_LIMITS) -> None:
    """Refuse ``bundle`` (an empty one is fine: a spec without code) unless every entry follows
    the rules; the error lists each offending entry with what to do."""
    if not bundle:
        return
    with _open(bundle) as archive:
        infos = archive.infolist()
        if len(infos) > limits.max_bundle_files:
            raise _refused(
                f"The code bundle has {len(infos)} entries, more than the limit of "
                f"{limits.max_bundle_files} (PINFLOW_MAX_BUNDLE_FILES). Push fewer files "
                "(leave data and virtual environments out of the bundle folder).",
                [],
            )
        problems = list(entry_problems(infos))
        if problems:
            raise _refused(
                f"The code bundle has {len(problems)} unsafe or invalid entr"
                f"{'y' if len(problems) == 1 else 'ies'}, first {problems[0].location!r}: "
                f"{problems[0].message}. {_FIX}",
                problems,
            )
        _check_sizes(archive, infos, limits)


def entry_problems(infos: list[zipfile.ZipInfo]) -> Iterator[Problem]:
    """What is wrong with each entry's name and kind (sizes aside), in archive order."""
    seen: set[str] = set()
    for info in infos:
        problem = name_problem(info) or kind_problem(info)
        if problem is None:
            # ``a/./b`` and ``a//b`` land where ``a/b`` does
            parts = [p for p in info.filename.split("/") if p not in ("", ".")]
            key = unicodedata.normalize("NFC", "/".join(parts))
            if key in seen:
                problem = "duplicate entry: the archive holds this name twice"
            seen.add(key)
        if problem is not None:
            yield Problem(_shown(info.filename), problem)


def _not_utf8(name: str, flags: int) -> bool:
    return not flags & _UTF8_FLAG and not name.isascii()


def _control(name: str, flags: int) -> bool:
    return any(unicodedata.category(ch) in ("Cc", "Cs") for ch in name)


def _absolute(name: str, flags: int) -> bool:
    return name.startswith("/") or PurePosixPath(name).is_absolute()


def _drive(name: str, flags: int) -> bool:
    return ":" in name.split("/", maxsplit=1)[0]


def _climbs(name: str, flags: int) -> bool:
    return ".." in name.split("/")


# Named rules, in the order they are reported (the first that matches names the entry's fault).
_NAME_RULES: tuple[tuple[Callable[[str, int], bool], str], ...] = (
    (lambda name, flags: not name.strip("/"), "empty name"),
    (_not_utf8, "the name is not marked as UTF-8 (zip it with a tool that writes UTF-8 names)"),
    (_control, "the name holds a control character or invalid UTF-8"),
    (
        lambda name, flags: "\\" in name,
        "the name holds a backslash (a Windows path): use '/' between folders",
    ),
    (_absolute, "absolute path: entries must be relative to the bundle root"),
    (_drive, "the name starts with a drive or a scheme (like 'C:'): use a relative path"),
    (_climbs, "the name climbs out of the bundle with '..' (zip-slip)"),
)


def name_problem(info: zipfile.ZipInfo) -> str | None:
    """Why the entry's name is unsafe to unpack, or ``None``."""
    for rule, message in _NAME_RULES:
        if rule(info.filename, info.flag_bits):
            return message
    return None


def kind_problem(info: zipfile.ZipInfo) -> str | None:
    """Only files and folders may be unpacked: a symlink (or device) could point anywhere."""
    mode = info.external_attr >> 16
    if info.create_system != _UNIX or not stat.S_IFMT(mode):
        return None  # no Unix file type recorded (zipfile.writestr): a plain file or folder
    if stat.S_ISLNK(mode):
        return "symlink: a link may point outside the bundle; put the file itself in the bundle"
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return "not a regular file or folder (a device, socket or pipe)"
    return None


def _check_sizes(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], lim: BundleLimits) -> None:
    declared = sum(info.file_size for info in infos)
    for info in infos:
        if info.file_size > lim.max_file_bytes:
            raise _file_too_large(info, info.file_size, lim)
    if declared > lim.max_bundle_bytes:
        raise _bundle_too_large(declared, lim)
    total = 0
    for info in infos:
        if info.is_dir():
            continue
        total += _inflated_size(archive, info, lim)
        if total > lim.max_bundle_bytes:
            raise _bundle_too_large(total, lim)


def _inflated_size(archive: zipfile.ZipFile, info: zipfile.ZipInfo, lim: BundleLimits) -> int:
    """The bytes the entry really inflates to, reading no more than the file limit allows
    (zipfile also stops at the declared size and then checks the CRC)."""
    size = 0
    try:
        with archive.open(info) as entry:
            while chunk := entry.read(_CHUNK):
                size += len(chunk)
                if size > lim.max_file_bytes:
                    raise _file_too_large(info, size, lim)
    except (
        zipfile.BadZipFile,
        zlib.error,
        EOFError,
        NotImplementedError,
        ValueError,
        OSError,
    ) as exc:
        raise _refused(
            f"The code bundle's entry {_shown(info.filename)!r} cannot be read ({exc}). "
            "The archive is damaged or truncated: build it again (pinflow dags push does).",
            [Problem(_shown(info.filename), "damaged entry")],
        ) from None
    return size


def _open(bundle: bytes) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(bundle))
    except UnicodeDecodeError as exc:  # zipfile decodes names marked UTF-8 as it opens
        raw = exc.object.decode("ascii", "backslashreplace") if exc.object else "?"
        raise _refused(
            f"The code bundle's entry {raw!r} has a name that is not valid UTF-8 "
            f"({exc.reason}). {_FIX}",
            [Problem(raw, "the name is not valid UTF-8")],
        ) from None
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as exc:
        raise _refused(
            f"The code bundle is not a readable zip archive ({exc}): it may be truncated. "
            "Send the whole archive, base64-encoded.",
            [],
        ) from None


def _file_too_large(info: zipfile.ZipInfo, size: int, lim: BundleLimits) -> InvalidInputError:
    name = _shown(info.filename)
    return _refused(
        f"The code bundle's file {name!r} is {size} bytes or more, over the limit of "
        f"{lim.max_file_bytes} bytes per file (PINFLOW_MAX_FILE_BYTES). Keep large data out "
        "of the bundle (read it from storage at run time) or raise the limit.",
        [Problem(name, f"larger than {lim.max_file_bytes} bytes")],
    )


def _bundle_too_large(size: int, lim: BundleLimits) -> InvalidInputError:
    return _refused(
        f"The code bundle unpacks to {size} bytes or more, over the limit of "
        f"{lim.max_bundle_bytes} bytes (PINFLOW_MAX_BUNDLE_BYTES). Leave data and virtual "
        "environments out of the bundle folder, or raise the limit.",
        [],
    )


def _refused(message: str, problems: list[Problem]) -> InvalidInputError:
    return InvalidInputError(message, problems=problems)


def _nul_location(document: Any) -> str | None:
    """Where the first string (or key) holding a NUL is, as ``tasks[0].args.x``; iterative, as
    a spec may nest as deep as its JSON parser allowed."""
    todo: list[tuple[tuple[str | int, ...], Any]] = [((), document)]
    while todo:
        path, value = todo.pop()
        if isinstance(value, str) and "\x00" in value:
            return format_location(*path)
        if isinstance(value, dict):
            for key, item in value.items():
                if "\x00" in str(key):
                    return format_location(*path, str(key))
                todo.append(((*path, str(key)), item))
        elif isinstance(value, list):
            todo.extend(((*path, i), item) for i, item in enumerate(value))
    return None


def _shown(name: str) -> str:
    """The name as it can be shown safely (control characters and surrogates escaped)."""
    return "".join(ch if ch.isprintable() else f"\\u{ord(ch):04x}" for ch in name)


# --- the spec ----------------------------------------------------------------------------------


def check_spec_limits(spec: DagSpec, limits: BundleLimits = DEFAULT_LIMITS) -> None:
    """Refuse a spec whose canonical JSON or task list is over its limit (any push mode: a
    draft is stored and loaded by every scheduler too)."""
    tasks = len(spec.tasks)
    if tasks > limits.max_tasks_per_dag:
        raise _refused(
            f"The DAG {spec.dag_id!r} has {tasks} tasks, more than the limit of "
            f"{limits.max_tasks_per_dag} per DAG (PINFLOW_MAX_TASKS_PER_DAG). Split it into "
            "several DAGs (or map one task over its inputs with expand), or raise the limit.",
            [Problem("tasks", f"more than {limits.max_tasks_per_dag} tasks")],
        )
    text = spec_to_json(spec)
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:  # JSON's "\ud800" escape parses to an unpaired surrogate
        raise _refused(
            f"The DAG spec of {spec.dag_id!r} holds text that is not valid Unicode (an unpaired "
            f"surrogate, \\u{ord(text[exc.start]):04x}): send UTF-8 text.",
            [Problem("", "an unpaired surrogate in a string")],
        ) from None
    where = _nul_location(spec_to_dict(spec))
    if where is not None:
        raise _refused(
            f"The DAG spec of {spec.dag_id!r} holds a NUL character (\\u0000) at "
            f"{where or 'its top level'}, which PostgreSQL cannot store: remove it.",
            [Problem(where, "a NUL character")],
        )
    if size > limits.max_spec_bytes:
        raise _refused(
            f"The DAG spec of {spec.dag_id!r} is {size} bytes of JSON, over the limit of "
            f"{limits.max_spec_bytes} bytes (PINFLOW_MAX_SPEC_BYTES). Move large values "
            "(args, params, docs) out of the spec into the bundle or storage, or raise the limit.",
            [Problem("", f"larger than {limits.max_spec_bytes} bytes")],
        )
