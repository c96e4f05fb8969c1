"""``.pinflowignore``: gitignore-style patterns for bundle files that are never shipped.

A file at the bundle root, one pattern a line: ``#`` starts a comment, ``!`` re-includes, a
trailing ``/`` matches folders only, a pattern holding a ``/`` (other than a trailing one) is
anchored at the root, one without matches a name at any depth; ``*`` and ``?`` stay inside one
path component and ``**`` crosses them, as in git. The last matching pattern wins. A path is
ignored when it, or any folder above it, is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

IGNORE_FILE = ".pinflowignore"


@dataclass(frozen=True)
class _Rule:
    pattern: re.Pattern[str]
    negated: bool
    folders_only: bool


@dataclass(frozen=True)
class IgnoreRules:
    """The parsed patterns (none: nothing is ignored)."""

    rules: tuple[_Rule, ...] = ()

    def ignores(self, name: str) -> bool:
        """Whether the posix path ``name`` (relative to the root) is never shipped."""
        if not self.rules:
            return False
        parts = name.split("/")
        for depth in range(1, len(parts) + 1):
            if self._matches("/".join(parts[:depth]), is_folder=depth < len(parts)):
                return True
        return False

    def _matches(self, path: str, *, is_folder: bool) -> bool:
        ignored = False
        for rule in self.rules:
            if rule.folders_only and not is_folder:
                continue
            if rule.pattern.fullmatch(path):
                ignored = not rule.negated
        return ignored


def parse_ignore(text: str) -> IgnoreRules:
    rules = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        line = line[1:] if negated else line
        if line.startswith("\\"):
            line = line[1:]
        folders_only = line.endswith("/")
        line = line.rstrip("/")
        if not line:
            continue
        anchored = "/" in line
        body = _translate(line.lstrip("/"))
        regex = body if anchored else f"(?:.*/)?{body}"
        rules.append(_Rule(re.compile(regex), negated, folders_only))
    return IgnoreRules(tuple(rules))


def load_ignore(root: Path) -> IgnoreRules:
    path = root / IGNORE_FILE
    if not path.is_file():
        return IgnoreRules()
    return parse_ignore(path.read_text(encoding="utf-8", errors="replace"))


def glob_names(pattern: str, names: Iterable[str]) -> list[str]:
    """The ``names`` (posix paths relative to the root) that ``pattern`` matches: anchored at
    the root, ``*`` within one component, ``**`` across them; a folder matches what it holds."""
    regex = re.compile(_translate(pattern.strip().lstrip("/").rstrip("/")) + "(?:/.*)?")
    return [name for name in names if regex.fullmatch(name)]


def _translate(pattern: str) -> str:
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("/**", i) and i + 3 == len(pattern):
            out.append("/.*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return "".join(out)
