"""``pinflow runs …`` and ``pinflow tasks …``: watch runs, clear and re-run, read logs."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import click
from rich.markup import escape

from pinflow.cli.common import ExitCode, client, client_options, fail, options, out
from pinflow.cli.dags import finish_wait
from pinflow.cli.output import (
    Column,
    emit_list,
    emit_record,
    short_digest,
    short_time,
    table_of,
    to_text,
)
from pinflow.cli.waiting import follow_log, task_label, wait_for_run
from pinflow.client import JSON


def _pinned_version(run: dict[str, Any]) -> str:
    for version in run.get("dag_versions") or []:
        if version.get("id") == run.get("version_id"):
            return f"v{version['version_number']} ({version.get('status')})"
    return ""


RUN_COLUMNS = (
    Column("DAG", "dag_id", style="bold"),
    Column("Run", "dag_run_id"),
    Column("State", "state"),
    Column("Type", "run_type"),
    Column("Version", _pinned_version),
    Column("Snapshot", lambda r: short_digest(r.get("snapshot_digest"))),
    Column("Started", lambda r: short_time(r.get("start_date"))),
    Column("Ended", lambda r: short_time(r.get("end_date"))),
    Column("Clears", "clear_number"),
)
RUN_FIELDS = (*RUN_COLUMNS, Column("Conf", "conf"), Column("Note", "note"))
TI_COLUMNS = (
    Column("Task", task_label, style="bold"),
    Column("State", lambda t: t.get("state") or "none"),
    Column("Try", "try_number"),
    Column("Operator", "operator"),
    Column("Started", lambda t: short_time(t.get("start_date"))),
    Column("Duration", lambda t: f"{t['duration']:.2f}s" if t.get("duration") else ""),
    Column("Snapshot", lambda t: short_digest(t.get("snapshot_digest"))),
)
PLAN_COLUMNS = (
    Column("Task", "task_id", style="bold"),
    Column("Action", "action"),
    Column("State before", lambda t: t.get("state_before") or "none"),
    Column("In target version", "in_target_version"),
)
TASK_COLUMNS = (
    Column("Task", "task_id", style="bold"),
    Column("Operator", "operator_name"),
    Column("Trigger rule", "trigger_rule"),
    Column("Retries", "retries"),
    Column("Pool", "pool"),
    Column("Queue", "queue"),
    Column("Mapped", "is_mapped"),
    Column("Downstream", lambda t: ", ".join(t.get("downstream_task_ids") or [])),
)
WAIT_HELP = "Wait for the run to finish (exit 0 success, 1 failed, 7 timed out)."


@click.group()
def runs() -> None:
    """DAG runs: list, show, clear (re-run on the current version)."""


@runs.command("list")
@click.argument("dag_id", default="~")
@click.option("--state", multiple=True, help="Only runs in this state (repeatable).")
@click.option("--limit", default=25, show_default=True, type=click.IntRange(1, 1000))
@client_options
def list_cmd(dag_id: str, state: tuple[str, ...], limit: int) -> None:
    """List runs, newest first (of every DAG without DAG_ID).

    \b
    Examples:
      pinflow runs list
      pinflow runs list example_etl --state failed -o json
    """
    with client() as api:
        raw = api.list_runs(dag_id, limit=limit, state=list(state) or None)
    emit_list(raw["dag_runs"], RUN_COLUMNS, raw=raw, empty="No runs.")


@runs.command("show")
@click.argument("dag_id")
@click.argument("run_id")
@click.option("--wait", is_flag=True, help=WAIT_HELP)
@click.option("--timeout", default=3600.0, show_default=True, help="Seconds --wait waits.")
@client_options
def show_cmd(dag_id: str, run_id: str, wait: bool, timeout: float) -> None:
    """Show a run and its task instances; --wait follows it to the end.

    \b
    Examples:
      pinflow runs show example_etl manual__2026-05-23T10:00:00+00:00
      pinflow runs show example_etl <run_id> --wait
    """
    with client() as api:
        if wait:
            run, code = wait_for_run(api, dag_id, run_id, timeout=timeout)
        else:
            run, code = api.get_run(dag_id, run_id), ExitCode.OK
        tis = api.list_task_instances(dag_id, run_id)["task_instances"]
    if options().output != "table":
        out.out(to_text({**run, "task_instances": tis}, options().output))
    else:
        emit_record(run, RUN_FIELDS)
        out.print(table_of(tis, TI_COLUMNS))
    if code != ExitCode.OK:
        raise click.exceptions.Exit(int(code))


def print_plan(plans: list[dict[str, Any]], *, dry_run: bool) -> None:
    """The clear plan per run: the version move, then what happens to each task."""
    for plan in plans:
        move = (
            f"re-binds {short_digest(plan['from_snapshot'])} -> {short_digest(plan['to_snapshot'])}"
            f" (version {plan.get('from_version_id')} -> {plan.get('to_version_id')})"
            if plan.get("rebinds")
            else f"stays on {short_digest(plan['from_snapshot'])}"
        )
        verb = "would be cleared" if dry_run else "cleared"
        out.print(f"Run [bold]{escape(plan['dag_run_id'])}[/] {verb}; {escape(move)}")
        out.print(table_of(plan.get("tasks") or [], PLAN_COLUMNS))


def _after_clear(api: Any, dag_id: str, answer: JSON, *, dry_run: bool, wait: bool) -> None:
    if options().output != "table":
        out.out(to_text(answer, options().output))
    else:
        print_plan(answer.get("plan") or [], dry_run=dry_run)
        if dry_run:
            out.print("[dim]Dry run: nothing changed. Run again without --dry-run to clear.[/]")
    if wait and not dry_run:
        for plan in answer.get("plan") or []:
            run, code = wait_for_run(api, dag_id, plan["dag_run_id"], timeout=3600.0)
            finish_wait(run, code, 3600.0)


@runs.command("clear")
@click.argument("dag_id")
@click.argument("run_id")
@click.option("--only-failed", is_flag=True, help="Only the failed tasks (default: every task).")
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@click.option("--wait", is_flag=True, help=WAIT_HELP)
@client_options
def clear_cmd(dag_id: str, run_id: str, only_failed: bool, dry_run: bool, wait: bool) -> None:
    """Clear a run's tasks: it re-runs on the DAG's current version.

    \b
    Examples:
      pinflow runs clear example_failing <run_id> --only-failed --dry-run
      pinflow runs clear example_failing <run_id> --only-failed --wait
    """
    with client() as api:
        plan = api.clear_run(dag_id, run_id, dry_run=True, only_failed=only_failed)
        if not dry_run:
            api.clear_run(dag_id, run_id, dry_run=False, only_failed=only_failed)
        answer = {**plan, "dry_run": dry_run}
        _after_clear(api, dag_id, answer, dry_run=dry_run, wait=wait)


@click.group()
def tasks() -> None:
    """A DAG's tasks (list) and task instances: clear (with a plan) and logs."""


@tasks.command("list")
@click.argument("dag_id")
@click.option(
    "--version", "version", type=click.IntRange(0), default=None, help="A published version."
)
@client_options
def tasks_list_cmd(dag_id: str, version: int | None) -> None:
    """List the tasks of a DAG's current version (or of --version N), defaults applied.

    \b
    Examples:
      pinflow tasks list example_etl
      pinflow tasks list example_etl --version 1 -o json
    """
    params = {} if version is None else {"version": version}
    with client() as api:
        raw = api.get(f"/api/v2/dags/{quote(dag_id, safe='')}/tasks", **params)
    emit_list(raw["tasks"], TASK_COLUMNS, raw=raw, empty=f"DAG {escape(dag_id)} has no tasks.")


@tasks.command("clear")
@click.argument("dag_id")
@click.argument("run_id")
@click.argument("task_ids", nargs=-1)
@click.option(
    "--dry-run", is_flag=True, help="Print the plan (reused / re-executed / new / removed)."
)
@click.option(
    "--any-state", is_flag=True, help="Clear the tasks whatever their state (default: failed)."
)
@click.option("--upstream", is_flag=True, help="Also clear their upstream tasks.")
@click.option("--downstream", is_flag=True, help="Also clear their downstream tasks.")
@click.option("--wait", is_flag=True, help=WAIT_HELP)
@client_options
def tasks_clear_cmd(
    *,
    dag_id: str,
    run_id: str,
    task_ids: tuple[str, ...],
    dry_run: bool,
    any_state: bool,
    upstream: bool,
    downstream: bool,
    wait: bool,
) -> None:
    """Clear task instances (the failed ones, unless --any-state) so they run again, on the
    DAG's current version: "fix the DAG, clear the failed task, watch it pass".

    \b
    Examples:
      pinflow tasks clear example_failing <run_id> divide --dry-run
      pinflow tasks clear example_failing <run_id> divide --wait
    """
    with client() as api:
        answer = api.clear_task_instances(
            dag_id,
            dry_run=dry_run,
            task_ids=list(task_ids) or None,
            run_id=run_id,
            only_failed=not any_state,
            include_upstream=upstream,
            include_downstream=downstream,
        )
        if not answer.get("task_instances") and not dry_run:
            fail(
                "Nothing to clear.",
                ExitCode.NOT_FOUND,
                hint="--any-state clears tasks in any state.",
            )
        _after_clear(api, dag_id, answer, dry_run=dry_run, wait=wait)


@tasks.command("logs")
@click.argument("dag_id")
@click.argument("run_id")
@click.argument("task_id")
@click.option("--try", "try_number", type=int, default=None, help="Which try (default: latest).")
@click.option("--map-index", type=int, default=-1, help="A mapped task's index.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing until the try ends.")
@click.option("--timeout", default=3600.0, show_default=True, help="Seconds --follow follows.")
@client_options
def logs_cmd(
    *,
    dag_id: str,
    run_id: str,
    task_id: str,
    try_number: int | None,
    map_index: int,
    follow: bool,
    timeout: float,
) -> None:
    """Print a task's log (its latest try unless --try).

    \b
    Examples:
      pinflow tasks logs example_failing <run_id> divide
      pinflow tasks logs example_etl <run_id> load --follow
    """
    with client() as api:
        if try_number is None:
            ti = api.get_task_instance(dag_id, run_id, task_id, map_index)
            try_number = max(1, int(ti.get("try_number") or 1))
        ref = (dag_id, run_id, task_id, map_index)
        ended = follow_log(api, ref, try_number, follow=follow, timeout=timeout, emit=click.echo)
    if not ended:
        raise click.exceptions.Exit(int(ExitCode.TIMEOUT))
