"""A DAG version's Python requirements (issue #18, point 4; ADR 0032): PEP 508, normalised.

Normalising is what makes the list part of a snapshot's identity: ``PFDemo == 1.0`` and
``pfdemo==1.0`` are the same requirement, so they give the same spec, the same digest and the
same cached environment. Each entry is parsed by ``packaging`` (the parser pip itself uses),
its project name canonicalised (PEP 503), its extras and version specifiers sorted; the list is
deduplicated and sorted. Anything pip would read differently from what the spec says is refused
here, at compile, with what to change: options (``-r``, ``--hash``, ``--index-url``) belong to
the installation's ``PINFLOW_PIP_ARGS``, not to a DAG.
"""

from __future__ import annotations

from collections.abc import Iterable

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

REQUIREMENTS_FILE = "requirements.txt"
MAX_REQUIREMENTS = 500
MAX_REQUIREMENT_CHARS = 1000
# Provided by the worker itself (a .pth at the end of the environment's path): a DAG that
# pinned it would run a runtime the scheduler does not speak to.
PROVIDED = frozenset({"pinflow"})


class RequirementsError(ValueError):
    """A requirement list pip would not read as the spec says; the message says what to do."""


def normalize_requirement(text: str) -> str:
    """One PEP 508 requirement in its canonical text (``PFDemo >= 1.0`` -> ``pfdemo>=1.0``)."""
    stripped = text.strip()
    if not stripped:
        raise RequirementsError("a requirement must not be blank")
    if len(stripped) > MAX_REQUIREMENT_CHARS:
        raise RequirementsError(f"a requirement is longer than {MAX_REQUIREMENT_CHARS} characters")
    if stripped.startswith("-"):
        raise RequirementsError(
            f"{stripped!r} is a pip option, not a requirement; give pip options to the "
            "installation (PINFLOW_PIP_ARGS), list only PEP 508 requirements"
        )
    try:
        req = Requirement(stripped)
    except InvalidRequirement as exc:
        raise RequirementsError(
            f"{stripped!r} is not a PEP 508 requirement ({exc}); write it like 'pandas==2.2.1'"
        ) from None
    name = canonicalize_name(req.name)
    if name in PROVIDED:
        raise RequirementsError(
            f"{stripped!r}: {name} is provided by the worker that runs the task; remove it"
        )
    extras = sorted({canonicalize_name(extra) for extra in req.extras})
    text = name + (f"[{','.join(extras)}]" if extras else "")
    text += f" @ {req.url}" if req.url else str(req.specifier)
    if req.marker is not None:
        text += f"; {req.marker}"
    return text


def normalize_requirements(items: Iterable[str]) -> list[str]:
    """The canonical list: each entry normalised, duplicates dropped, sorted; a project named
    twice with different versions (under the same marker) is refused, as pip would refuse it."""
    if isinstance(items, str):
        raise RequirementsError("requirements must be a list of strings, not one string")
    entries = list(items)
    if len(entries) > MAX_REQUIREMENTS:
        raise RequirementsError(f"at most {MAX_REQUIREMENTS} requirements per DAG")
    normalized: dict[str, None] = {}
    for entry in entries:
        if not isinstance(entry, str):
            raise RequirementsError(f"a requirement must be a string, got {type(entry).__name__}")
        normalized.setdefault(normalize_requirement(entry), None)
    _refuse_conflicts(list(normalized))
    return sorted(normalized)


def _refuse_conflicts(entries: list[str]) -> None:
    seen: dict[tuple[str, str], str] = {}
    for entry in entries:
        req = Requirement(entry)
        key = (canonicalize_name(req.name), str(req.marker or ""))
        earlier = seen.setdefault(key, entry)
        if earlier != entry:
            raise RequirementsError(
                f"{key[0]} is required twice ({earlier!r} and {entry!r}); keep one"
            )


def parse_requirements_text(text: str) -> list[tuple[int, str]]:
    """The requirements of a ``requirements.txt`` as ``(line number, text)``: comments and
    blank lines dropped, ``\\``-continued lines joined. Not normalised (the caller locates
    each problem by its line)."""
    found: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw if raw.lstrip().startswith("#") else raw.split(" #", 1)[0]
        line = "" if line.lstrip().startswith("#") else line
        if not pending:
            start = number
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        entry = (pending + line).strip()
        pending = ""
        if entry:
            found.append((start, entry))
    if pending.strip():
        found.append((start, pending.strip()))
    return found
