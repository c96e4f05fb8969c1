"""``pinflow versions canary DAG_ID VERSION``: re-run the last runs of another version on this
one as one action (``--dry-run``: the plan only), and ``--report``: how they compare."""

from __future__ import annotations

import click
from rich.markup import escape

from pinflow.cli.common import client, client_options, options, out
from pinflow.cli.output import Column, table_of, to_text
from pinflow.cli.versions import resolve_version
from pinflow.client import JSON

PLAN_COLUMNS = (
    Column("Task", "taskId", style="bold"),
    Column("Action", "action"),
    Column("Why", "reason"),
)
RUN_COLUMNS = (
    Column("Source run", "sourceRunId", style="bold"),
    Column("Was", "sourceState"),
    Column("Canary run", "canaryRunId"),
    Column("Now", "canaryState"),
    Column("Outcome", lambda r: r["outcome"].replace("_", " ")),
)


def _show_plan(plan: JSON) -> None:
    head = f"{plan['targetLabel']} replaying {len(plan['runs'])} run(s) of {plan['sourceLabel']}"
    changed = ", ".join(plan["changedTasks"]) or "none"
    out.print(f"[bold]{escape(head)}[/] (changed tasks: {escape(changed)})")
    for run in plan["runs"]:
        title = f"{run['sourceRunId']} ({run['sourceState']}) -> {run['canaryRunId']}"
        out.print(table_of(run["tasks"], PLAN_COLUMNS, title))
        if run["problem"]:
            out.print(f"[red]cannot be replayed: {escape(run['problem'])}[/]")
    if plan["dryRun"]:
        out.print("[dim]Dry run: nothing was started. Run again without --dry-run to start.[/]")
    else:
        out.print(f"Canary {plan['batchId']} started: {len(plan['runs'])} run(s).")


def _show_report(report: JSON) -> None:
    out.print(f"[bold]{escape(report['summary'])}[/]")
    out.print(table_of(report["runs"], RUN_COLUMNS, f"Canary {report['batchId']}"))
    for run in report["runs"]:
        for task in run["tasks"]:
            if task["change"] in ("same", "reused"):
                continue
            was = (task["source"] or {}).get("state", "-")
            now = (task["canary"] or {}).get("state", "-")
            line = f"  {run['canaryRunId']} {task['taskId']}: {task['change']} ({was} -> {now})"
            out.print(escape(line))


@click.command("canary")
@click.argument("dag_id")
@click.argument("version", default="draft")
@click.option("--from", "source", metavar="VERSION", help="Replay this version's runs.")
@click.option("--last", type=click.IntRange(1, 50), default=5, show_default=True)
@click.option("--failed", is_flag=True, help="Only the failed runs.")
@click.option("--dry-run", is_flag=True, help="Show the plan; start nothing.")
@click.option("--no-reuse", is_flag=True, help="Run every task again (reuse nothing).")
@click.option("--report", is_flag=True, help="Compare the latest canary's outcomes instead.")
@client_options
def canary_cmd(  # click passes every option by name
    *,
    dag_id: str,
    version: str,
    source: str | None,
    last: int,
    failed: bool,
    dry_run: bool,
    no_reuse: bool,
    report: bool,
) -> None:
    """Re-run the last runs of a previous version on VERSION (default: the newest draft),
    with the same conf and logical dates; unchanged tasks that succeeded reuse their results.

    \b
    VERSION and --from: a number (3), current, draft, dev, or a version id. Without --from:
    the version VERSION was cloned from, else the DAG's current one.

    \b
    Examples:
      pinflow versions canary example_etl draft --failed --last 5 --dry-run
      pinflow versions canary example_etl draft --failed --last 5
      pinflow versions canary example_etl draft --report
    """
    with client() as api:
        target = resolve_version(api, dag_id, version)["id"]
        if report:
            body = api.canary_report(target)
        else:
            request: JSON = {"last": last, "failedOnly": failed, "dryRun": dry_run}
            request["reuse"] = not no_reuse
            if source is not None:
                request["fromVersionId"] = resolve_version(api, dag_id, source)["id"]
            body = api.canary(target, request)
    if options().output != "table":
        out.out(to_text(body, options().output), highlight=False)
    elif report:
        _show_report(body)
    else:
        _show_plan(body)
