"""Compiling DAG files into snapshots, writing them out, and pushing them: shared by
``dags compile``, ``dags push`` and ``dev``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from pinflow.client import JSON, PinflowClient
from pinflow.errors import InvalidInputError, Problem

if TYPE_CHECKING:
    from pinflow.sdk.compiler import CompiledDag

SPEC_FILE, BUNDLE_FILE, DIGEST_FILE = "spec.json", "bundle.zip", "digest"


@dataclass(frozen=True)
class Pushed:
    """One DAG's push: what the server answered, and the line that says it."""

    dag_id: str
    response: JSON
    line: str


def compile_strict(path: Path) -> list[CompiledDag]:
    """Compile ``path`` and check every DAG as publishing would; raise listing every problem
    of every DAG (file:line from the compiler, ``file (dag): tasks[2]…`` from the checks)."""
    from pinflow.sdk.compiler import compile_path
    from pinflow.spec.validation import check_spec

    compiled = compile_path(path)
    problems: list[Problem] = []
    for item in compiled:
        where = f"{item.source_file} (dag {item.spec.dag_id!r})"
        problems += [
            Problem(f"{where}: {p.location}" if p.location else where, p.message)
            for p in check_spec(item.spec)
        ]
    if problems:
        raise InvalidInputError(f"{len(problems)} problem(s) in {path}", problems=problems)
    return compiled


def write_snapshot(item: CompiledDag, output_dir: Path) -> Path:
    """``<output_dir>/<dag_id>/`` with ``spec.json``, ``bundle.zip`` and ``digest``: what a
    push would register, for CI to keep as an artifact."""
    from pinflow.spec.canonical import spec_to_dict

    target = output_dir / item.spec.dag_id
    target.mkdir(parents=True, exist_ok=True)
    spec_text = json.dumps(spec_to_dict(item.spec), indent=2, sort_keys=True)
    (target / SPEC_FILE).write_text(spec_text + "\n")
    (target / BUNDLE_FILE).write_bytes(item.bundle)
    (target / DIGEST_FILE).write_text(item.digest + "\n")
    return target


def describe_push(dag_id: str, answer: JSON, mode: str) -> str:
    """``created …`` or ``unchanged (already registered as v3, digest …)``, as rich markup."""
    workflow: dict[str, Any] = answer.get("workflow") or {}
    version = f"v{answer.get('version')}"
    status = workflow.get("status", "")
    digest = str(answer.get("digest", ""))[:12]
    name = f"[bold]{escape(dag_id)}[/]"
    if answer.get("noop"):
        return (
            f"{name}: unchanged (already registered as {version} {status}, digest {digest}…): "
            "none of its inputs changed"
        )
    if mode == "dev":
        what = "dev snapshot saved; the dev draft is now current"
    elif answer.get("versionCreated"):
        what = f"created {version} ({status})"
    else:
        what = f"{version} ({status}) is current again"
    parts = [f"{name}: {what}, digest {digest}…"]
    changed = [str(c) for c in answer.get("changed") or []]
    if changed:
        shown = ", ".join(escape(c) for c in changed[:5])
        more = f" and {len(changed) - 5} more" if len(changed) > 5 else ""
        parts.append(f"because {shown}{more}")
    if answer.get("dagCreated"):
        parts.append("new DAG")
    if answer.get("dagRestored"):
        parts.append("DAG restored")
    if answer.get("deprecatedPreviousVersionId"):
        parts.append(f"deprecated the previous version {answer['deprecatedPreviousVersionId']}")
    return "; ".join(parts)


def check_limits(compiled: list[CompiledDag]) -> None:
    """Refuse, before anything is uploaded, what the server would refuse: the same rules and
    messages (``pinflow.spec.bundle_rules``), with the limits of this environment's settings
    (``PINFLOW_MAX_*``; the server's own are what count in the end)."""
    from pinflow.settings import Settings
    from pinflow.spec.bundle_rules import check_bundle, check_spec_limits

    limits = Settings().bundle_limits
    for item in compiled:
        try:
            check_spec_limits(item.spec, limits)
            check_bundle(item.bundle, limits)
        except InvalidInputError as exc:  # the message names the entry; shown whole
            raise InvalidInputError(f"{item.spec.dag_id}: {exc.message}") from None


def push_compiled(
    client: PinflowClient,
    compiled: list[CompiledDag],
    *,
    mode: str,
    deprecate_previous: bool = False,
) -> list[Pushed]:
    from pinflow.spec.canonical import spec_to_dict

    check_limits(compiled)
    pushed = []
    for item in compiled:
        answer = client.push(
            spec_to_dict(item.spec), item.bundle, mode=mode, deprecate_previous=deprecate_previous
        )
        pushed.append(
            Pushed(item.spec.dag_id, answer, describe_push(item.spec.dag_id, answer, mode))
        )
    return pushed
