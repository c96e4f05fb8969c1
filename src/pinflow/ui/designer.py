"""The designer's live validation: YAML text in, the spec, its problems and a graph out.

The browser has no YAML parser (no build step, nothing from a CDN), so the page's script sends
the text here as the user types; saving then ``PATCH``es ``/api/workflows/{id}`` with the
*whole* spec this returns, so that a field deleted from the text is deleted from the draft
(the PATCH merges top-level keys). The YAML is read with the safe loader, without aliases
(a few lines of ``&a``/``*a`` can expand to gigabytes) and within a size limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

import yaml
from fastapi import APIRouter
from pydantic import BaseModel, Field

from pinflow.api.auth import DbDep, authorize, require
from pinflow.errors import InvalidInputError, Problem
from pinflow.lifecycle.permissions import Permission, Principal
from pinflow.services.reads import queries
from pinflow.spec.canonical import spec_to_dict
from pinflow.spec.models import DagSpec
from pinflow.spec.validation import check_spec, parse_spec
from pinflow.ui.graph import spec_layout
from pinflow.ui.templating import render_text

MAX_YAML = 256 * 1024

router = APIRouter(prefix="/ui/api", include_in_schema=False)


class _NoAliasLoader(yaml.SafeLoader):
    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.MarkedYAMLError(
                "while reading the definition",
                None,
                "YAML aliases (*name) are not supported",
                self.get_mark(),
            )
        return super().compose_node(parent, index)


def spec_yaml(spec: DagSpec) -> str:
    """The definition as the designer shows it: defaults left out, fields in model order."""
    data = spec.model_dump(mode="json", exclude_defaults=True)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def _load_yaml(text: str) -> Any:
    if len(text.encode()) > MAX_YAML:
        raise InvalidInputError(
            "too large", problems=[Problem("", f"the definition is over {MAX_YAML} bytes")]
        )
    try:
        return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        reason = getattr(exc, "problem", None) or str(exc)
        raise InvalidInputError("invalid YAML", problems=[Problem("", where + reason)]) from None


@dataclass(frozen=True)
class Checked:
    spec: DagSpec | None
    errors: list[Problem] = field(default_factory=list)  # the draft cannot be saved
    warnings: list[Problem] = field(default_factory=list)  # it can be saved, not published


def check_yaml(text: str, dag_id: str | None = None) -> Checked:
    """Parse and check the designer's text (``dag_id``: the one it must keep)."""
    try:
        data = _load_yaml(text)
        if not isinstance(data, dict):
            raise InvalidInputError(
                "not a mapping", problems=[Problem("", "the definition must be a YAML mapping")]
            )
        spec = parse_spec(data)
    except InvalidInputError as exc:
        return Checked(None, exc.problems or [Problem("", exc.message)])
    if dag_id is not None and spec.dag_id != dag_id:
        return Checked(None, [Problem("dag_id", f"must stay {dag_id!r} in a new snapshot")])
    return Checked(spec, warnings=check_spec(spec))


class ValidateBody(BaseModel):
    yaml: str = Field(max_length=MAX_YAML * 4)
    workflow_id: str | None = Field(default=None, alias="workflowId", max_length=64)


@router.post("/designer/validate")
def validate(
    db: DbDep,
    body: ValidateBody,
    principal: Annotated[Principal, require(Permission.WORKFLOW_READ)],
) -> dict[str, Any]:
    """Always 200: problems are the answer, not a failure of the request."""
    dag_id = None
    if body.workflow_id:
        version = queries.get_version(db, body.workflow_id)
        hidden = f"Workflow version {body.workflow_id!r} was not found."
        authorize(principal, Permission.WORKFLOW_READ, version.project, hidden)
        dag_id = version.dag_id
    checked = check_yaml(body.yaml, dag_id)
    graph = (
        render_text("_graph.html", layout=spec_layout(checked.spec), link_base=None)
        if checked.spec is not None
        else ""
    )
    return {
        "valid": checked.spec is not None,
        "publishable": checked.spec is not None and not checked.warnings,
        "spec": spec_to_dict(checked.spec) if checked.spec is not None else None,
        "errors": [{"location": p.location, "message": p.message} for p in checked.errors],
        "warnings": [{"location": p.location, "message": p.message} for p in checked.warnings],
        "graph": graph,
    }
