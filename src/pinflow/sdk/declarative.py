"""YAML and JSON DAG files: the spec's own shape, compiled to the same artifact as Python.

A file holds one DAG (a mapping), a list of DAGs, or, in YAML, several ``---`` documents. The
fields are ``DagSpec``'s (``dag_id``, ``trigger``, ``default_args``, ``tasks``...); durations
are seconds. PyYAML is imported only when a YAML file is compiled.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pinflow.errors import Problem
from pinflow.sdk.imports import display_path
from pinflow.spec.models import DagSpec

SPEC_SUFFIXES = (".yaml", ".yml", ".json")


class _ParseError(Exception):
    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


def load_spec_file(root: Path, path: Path) -> tuple[list[DagSpec], list[Problem]]:
    """The DAGs of one YAML/JSON file, or the problems that stop them from loading."""
    try:
        documents = _parse(path)
    except _ParseError as exc:
        return [], [Problem(display_path(root, path, exc.line), str(exc))]
    specs: list[DagSpec] = []
    problems: list[Problem] = []
    for index, document in enumerate(documents):
        where = display_path(root, path) + (f"[{index}]" if len(documents) > 1 else "")
        if not isinstance(document, dict):
            problems.append(Problem(where, "a DAG must be a mapping with dag_id, tasks..."))
            continue
        try:
            specs.append(DagSpec.model_validate(document))
        except ValueError as exc:
            problems.extend(validation_problems(where, exc))
    return specs, problems


def validation_problems(where: str, exc: ValueError) -> list[Problem]:
    """One problem per field error of a spec model (``tasks[0].retries: ...``)."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return [Problem(where, str(exc))]
    return [
        Problem(where, f"{_field_path(error.get('loc', ()))}: {error.get('msg', 'invalid')}")
        for error in errors()
    ]


def _field_path(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(root)"


def _parse(path: Path) -> list[Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _ParseError(f"cannot read the file: {exc}") from None
    documents = _parse_json(text) if path.suffix == ".json" else _parse_yaml(text)
    flat: list[Any] = []
    for document in documents:
        if isinstance(document, list):
            flat.extend(document)
        elif document is not None:
            flat.append(document)
    if not flat:
        raise _ParseError("the file holds no DAG")
    return flat


def _parse_json(text: str) -> list[Any]:
    try:
        return [json.loads(text)]
    except json.JSONDecodeError as exc:
        raise _ParseError(f"invalid JSON: {exc.msg}", exc.lineno) from None


def _parse_yaml(text: str) -> list[Any]:
    try:
        import yaml
    except ImportError:
        raise _ParseError("PyYAML is needed for YAML DAG files: pip install pyyaml") from None
    try:
        return list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise _ParseError(f"invalid YAML: {problem}", line) from None
