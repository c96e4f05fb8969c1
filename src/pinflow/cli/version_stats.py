"""``pinflow versions stats DAG_ID VERSION [--compare-to VERSION]``: a version's run
statistics (runs, success rate, p50/p95 of runs and tasks, retries), or two side by side."""

from __future__ import annotations

from typing import Any

import click
from rich.markup import escape

from pinflow.cli.common import client, client_options, options, out
from pinflow.cli.output import Column, emit_record, table_of, to_text
from pinflow.cli.versions import resolve_version
from pinflow.client import JSON


def seconds(value: Any) -> str:
    return "" if value is None else f"{value:.1f} s"


def percent(value: Any) -> str:
    return "" if value is None else f"{value * 100:.0f}%"


RUN_FIELDS = (
    Column("Version", lambda s: f"v{s['workflow']['version']} ({s['workflow']['status']})"),
    Column("Runs", "runs"),
    Column("Finished", "finishedRuns"),
    Column("Succeeded", "succeededRuns"),
    Column("Failed", "failedRuns"),
    Column("Success rate", lambda s: percent(s["successRate"])),
    Column("p50", lambda s: seconds(s["p50Seconds"])),
    Column("p95", lambda s: seconds(s["p95Seconds"])),
    Column("First run", "firstRunAt"),
    Column("Last run", "lastRunAt"),
)
TASK_COLUMNS = (
    Column("Task", "taskId", style="bold"),
    Column("Tries", "tries"),
    Column("Retries", "retries"),
    Column("Failures", "failures"),
    Column("Failure rate", lambda t: percent(t["failureRate"])),
    Column("p50", lambda t: seconds(t["p50Seconds"])),
    Column("p95", lambda t: seconds(t["p95Seconds"])),
)


def _show_one(stats: JSON) -> None:
    emit_record(stats, RUN_FIELDS)
    if stats["tasks"]:
        out.print(table_of(stats["tasks"], TASK_COLUMNS, "Tasks"))
    else:
        out.print("[dim]No task tries yet.[/]")


def _show_comparison(body: JSON) -> None:
    old, new = body["compareTo"], body["stats"]
    head = f"v{new['workflow']['version']} vs v{old['workflow']['version']}"
    rows = [{"field": c.header, "old": c.cell(old), "new": c.cell(new)} for c in RUN_FIELDS[1:]]
    columns = (Column("", "field", style="bold"), Column("old", "old"), Column("new", "new"))
    out.print(table_of(rows, columns, head))
    for change in body["changes"]:
        if change["changed"]:
            out.print(escape(change["text"]))


@click.command("stats")
@click.argument("dag_id")
@click.argument("version")
@click.option("--compare-to", "compare_to", metavar="VERSION", help="Compare with this version.")
@client_options
def stats_cmd(dag_id: str, version: str, compare_to: str | None) -> None:
    """Run statistics of a version: runs, success rate, p50/p95 durations, per-task tries,
    retries and failures; with --compare-to, side by side with another version.

    \b
    VERSION: a number (3), current, draft, dev, or a version id.
    p50/p95 are continuous percentiles (PostgreSQL's percentile_cont).

    \b
    Examples:
      pinflow versions stats example_etl current
      pinflow versions stats example_etl 2 --compare-to 1
    """
    with client() as api:
        target = resolve_version(api, dag_id, version)["id"]
        other = None if compare_to is None else resolve_version(api, dag_id, compare_to)["id"]
        body = api.workflow_stats(target, other)
    if options().output != "table":
        out.out(to_text(body, options().output), highlight=False)
    elif body["compareTo"] is None:
        _show_one(body["stats"])
    else:
        _show_comparison(body)
