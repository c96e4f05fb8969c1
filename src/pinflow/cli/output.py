"""Rendering results as a table (for people), JSON or YAML (for scripts).

JSON and YAML print what the server answered, untouched, so scripts see the API's fields;
tables show chosen columns with states coloured and times shortened.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from rich.markup import escape
from rich.table import Table

from pinflow.cli.common import options, out

STATE_STYLES = {
    "success": "green",
    "active": "green",
    "failed": "red",
    "upstream_failed": "red",
    "deprecated": "red",
    "running": "yellow",
    "queued": "cyan",
    "scheduled": "cyan",
    "up_for_retry": "yellow",
    "up_for_reschedule": "cyan",
    "deferred": "magenta",
    "draft": "blue",
    "skipped": "magenta",
    "removed": "dim",
}


@dataclass(frozen=True)
class Column:
    """A table column: its header and how to get the cell from a row (a key or a function)."""

    header: str
    get: str | Callable[[dict[str, Any]], Any]
    style: str | None = None

    def cell(self, row: dict[str, Any]) -> str:
        value = self.get(row) if callable(self.get) else row.get(self.get)
        return styled(value)


def short_time(value: Any) -> str:
    """``2026-05-23T10:11:12.123456+00:00`` -> ``2026-05-23 10:11:12``."""
    if not value:
        return ""
    text = str(value).replace("T", " ")
    return text[:19]


def short_digest(value: Any) -> str:
    return str(value)[:12] if value else ""


def styled(value: Any) -> str:
    """A cell: states in their colour, booleans as yes/no, ``None`` as blank, markup escaped."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return escape(", ".join(str(v) for v in value))
    text = escape(str(value))
    style = STATE_STYLES.get(str(value))
    return f"[{style}]{text}[/]" if style else text


def to_text(data: Any, fmt: str) -> str:
    """``data`` as JSON or YAML text (what ``--output json|yaml`` prints)."""
    if fmt == "yaml":
        return yaml.safe_dump(json.loads(json.dumps(data, default=str)), sort_keys=False).rstrip()
    return json.dumps(data, indent=2, default=str)


def table_of(rows: Sequence[dict[str, Any]], columns: Sequence[Column], title: str = "") -> Table:
    table = Table(title=title or None, title_justify="left", header_style="bold")
    for column in columns:
        table.add_column(column.header, style=column.style, overflow="fold")
    for row in rows:
        table.add_row(*(column.cell(row) for column in columns))
    return table


def emit_list(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[Column],
    *,
    raw: Any = None,
    title: str = "",
    empty: str = "Nothing to show.",
) -> None:
    """Rows as a table, or ``raw`` (default: the rows) as JSON/YAML."""
    fmt = options().output
    if fmt != "table":
        out.out(to_text(rows if raw is None else raw, fmt), highlight=False)
        return
    if not rows:
        out.print(f"[dim]{escape(empty)}[/]")
        return
    out.print(table_of(rows, columns, title))


def emit_record(record: dict[str, Any], fields: Sequence[Column], *, raw: Any = None) -> None:
    """One object: a two-column table of chosen fields, or ``raw`` as JSON/YAML."""
    fmt = options().output
    if fmt != "table":
        out.out(to_text(record if raw is None else raw, fmt), highlight=False)
        return
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for column in fields:
        table.add_row(column.header, column.cell(record))
    out.print(table)


def emit_message(message: str, *, raw: Any = None) -> None:
    """A confirmation for people; for scripts, ``raw`` (or ``{"message": …}``)."""
    fmt = options().output
    if fmt != "table":
        out.out(to_text({"message": message} if raw is None else raw, fmt), highlight=False)
        return
    out.print(message)
