"""``pinflow dags policy show|set|preview DAG_ID``: a DAG's retirement policy (ADR 0031), and
``pinflow dags lineage DAG_ID``: its versions as a timeline."""

from __future__ import annotations

from typing import Any

import click
from rich.markup import escape

from pinflow.cli.common import client, client_options, options, out
from pinflow.cli.output import Column, emit_list, emit_record, to_text
from pinflow.client import JSON

NONE = "none"


def _or_none(value: Any) -> str:
    return "—" if value is None else str(value)


POLICY_FIELDS = (
    Column("DAG", "dagId", style="bold"),
    Column("Keep active", lambda p: _or_none(p["keepActive"])),
    Column("Deprecate previous on publish", "deprecatePreviousOnPublish"),
    Column("Purge deprecated after", lambda p: _or_none(p["purgeDeprecatedAfter"])),
    Column("Set", lambda p: f"by {p['updatedBy']} at {p['updatedAt']}" if p["isSet"] else "no"),
)
ACTION_COLUMNS = (
    Column("When", lambda a: a["status"] if a["dueAt"] is None else f"{a['status']} {a['dueAt']}"),
    Column("Action", "kind", style="bold"),
    Column("Version", lambda a: f"v{a['version']}"),
    Column("Rule", "rule"),
    Column("Reason", "reason"),
)
LINEAGE_COLUMNS = (
    Column("Version", lambda v: f"v{v['version']}" + (" (current)" if v["isCurrent"] else "")),
    Column("Status", lambda v: v["status"] + (" deleted" if v["deletedAt"] else "")),
    Column("From", lambda v: v["sourceWorkflowId"] or ""),
    Column("Created", lambda v: f"{v['createdAt']} by {v['createdBy']}"),
    Column("Published", lambda v: _when(v["publishedAt"], v["publishedBy"])),
    Column("Deprecated", lambda v: _when(v["deprecatedAt"], v["deprecatedBy"])),
    Column("Runs", lambda v: v["runs"]["total"]),
    Column("Success", lambda v: _percent(v["runs"]["successRate"])),
    Column("Id", "id"),
)


def _when(at: str | None, by: str | None) -> str:
    return "" if at is None else f"{at} by {by}"


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.0f}%"


@click.group("policy")
def policy() -> None:
    """A DAG's retirement policy: what the scheduler deprecates and purges by itself."""


@policy.command("show")
@click.argument("dag_id")
@client_options
def show_cmd(dag_id: str) -> None:
    """Show the DAG's retirement policy.

    \b
    Example:
      pinflow dags policy show example_etl
    """
    with client() as api:
        emit_record(api.retirement_policy(dag_id), POLICY_FIELDS)


def _keep_active(value: str | None) -> int | None:
    if value is None or value.lower() == NONE:
        return None
    try:
        return int(value)
    except ValueError:
        raise click.BadParameter(f"{value!r}: give a number of versions, or none.") from None


@policy.command("set")
@click.argument("dag_id")
@click.option("--keep-active", metavar="N|none", help="Keep at most N active versions.")
@click.option(
    "--deprecate-previous-on-publish/--no-deprecate-previous-on-publish",
    "deprecate_previous",
    default=None,
    help="Deprecate a version once a version created from it is published.",
)
@click.option(
    "--purge-deprecated-after",
    metavar="DURATION|none",
    help="Soft-delete deprecated versions this long after deprecation or their last run "
    "(30d, 12h, 2w), once no run is in flight.",
)
@client_options
def set_cmd(
    dag_id: str,
    keep_active: str | None,
    deprecate_previous: bool | None,
    purge_deprecated_after: str | None,
) -> None:
    """Change the DAG's retirement policy; options not given keep their value.

    Prints the policy and what it will do next (the preview).

    \b
    Examples:
      pinflow dags policy set example_etl --keep-active 2 --purge-deprecated-after 30d
      pinflow dags policy set example_etl --deprecate-previous-on-publish
      pinflow dags policy set example_etl --keep-active none --purge-deprecated-after none
    """
    with client() as api:
        current = api.retirement_policy(dag_id)
        body: JSON = {
            "keepActive": current["keepActive"],
            "deprecatePreviousOnPublish": current["deprecatePreviousOnPublish"],
            "purgeDeprecatedAfter": current["purgeDeprecatedAfter"],
        }
        if keep_active is not None:
            body["keepActive"] = _keep_active(keep_active)
        if deprecate_previous is not None:
            body["deprecatePreviousOnPublish"] = deprecate_previous
        if purge_deprecated_after is not None:
            after = purge_deprecated_after
            body["purgeDeprecatedAfter"] = None if after.lower() == NONE else after
        api.set_retirement_policy(dag_id, body)
        preview = api.retirement_preview(dag_id)
    _show_preview(preview)


def _show_preview(preview: JSON) -> None:
    if options().output != "table":
        out.out(to_text(preview, options().output), highlight=False)
        return
    emit_record(preview["policy"], POLICY_FIELDS)
    if preview["actions"]:
        emit_list(preview["actions"], ACTION_COLUMNS, title="Next")
    else:
        out.print("[dim]Nothing to retire: the policy has nothing to do.[/]")


@policy.command("preview")
@click.argument("dag_id")
@client_options
def preview_cmd(dag_id: str) -> None:
    """What the policy will do next and when (changes nothing).

    \b
    due: at the scheduler's next pass; scheduled: at the date shown;
    blocked: waits for the version's runs in flight.

    \b
    Example:
      pinflow dags policy preview example_etl
    """
    with client() as api:
        _show_preview(api.retirement_preview(dag_id))


@click.command("lineage")
@click.argument("dag_id")
@client_options
def lineage_cmd(dag_id: str) -> None:
    """The DAG's versions, oldest first: where each came from, who published and deprecated
    it, and its runs.

    \b
    Example:
      pinflow dags lineage example_etl
    """
    with client() as api:
        body = api.lineage(dag_id)
    if options().output != "table":
        out.out(to_text(body, options().output), highlight=False)
        return
    emit_list(body["versions"], LINEAGE_COLUMNS, title=f"Lineage of {dag_id}")
    for p in body["purged"]:
        line = f"v{p['version']} purged at {p['purgedAt']} by {p['purgedBy']}"
        out.print(f"[dim]{escape(line)}[/]")
