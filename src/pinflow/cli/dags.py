"""``pinflow dags …``: compile and push (CI), and operate DAGs on a server."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.markup import escape

from pinflow.cli.common import (
    ExitCode,
    client,
    client_options,
    err,
    fail,
    options,
    out,
    output_option,
    parse_json_object,
)
from pinflow.cli.output import Column, emit_list, emit_message, emit_record, short_digest, to_text
from pinflow.cli.shipping import compile_strict, push_compiled, write_snapshot
from pinflow.cli.waiting import wait_for_run

if TYPE_CHECKING:
    from pinflow.sdk.compiler import CompiledDag

DAG_COLUMNS = (
    Column("DAG", "dag_id", style="bold"),
    Column("Name", "dag_display_name"),
    Column("Project", "project"),
    Column("Current", lambda d: f"v{d['current_version']}" if d.get("current_version") else ""),
    Column("Paused", "is_paused"),
    Column("Schedule", "timetable_summary"),
)
DAG_FIELDS = (
    *DAG_COLUMNS,
    Column("Deregistered", "is_stale"),
    Column("Current version id", "current_version_id"),
    Column("Digest", lambda d: d.get("bundle_version")),
    Column("Description", "description"),
    Column("Owners", "owners"),
    Column("Tags", lambda d: [t["name"] for t in d.get("tags", [])]),
    Column("Runs in flight", "active_runs_count"),
    Column("Re-run on latest version", "rerun_with_latest_version"),
)


@click.group()
def dags() -> None:
    """Compile, push and operate DAGs."""


@dags.command("compile")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".pinflow/snapshots"),
    show_default=True,
    help="Where the snapshots are written: <dir>/<dag_id>/{spec.json,bundle.zip,digest}.",
)
@click.option(
    "--inputs",
    "show_inputs",
    is_flag=True,
    help="List each DAG's inputs: the bundle files its snapshot holds and its digest covers.",
)
@output_option
def compile_cmd(path: Path, output_dir: Path, show_inputs: bool) -> None:
    """Compile DAG files offline and check them as publishing would (no server needed).

    Lists EVERY problem with its file:line or location and exits 1 if there is any:
    the CI lint step. PATH is a DAG file or a folder (its top-level DAG files). Each DAG's
    snapshot holds only its inputs (ADR 0041); --inputs lists them.

    \b
    Examples:
      pinflow dags compile dags/
      pinflow dags compile dags/ --inputs
      pinflow dags compile dags/etl.py --output-dir build/snapshots -o json
    """
    compiled = compile_strict(path)
    warn_compiled(compiled)
    rows: list[dict[str, Any]] = []
    for item in compiled:
        target = write_snapshot(item, output_dir)
        rows.append({"dag_id": item.spec.dag_id, "digest": item.digest, "path": str(target)})
        rows[-1].update(source_file=item.source_file, inputs=list(item.inputs))
    columns = (
        Column("DAG", "dag_id", style="bold"),
        Column("File", "source_file"),
        Column("Digest", lambda r: short_digest(r["digest"])),
        *((Column("Inputs", lambda r: ", ".join(r["inputs"])),) if show_inputs else ()),
        Column("Written to", "path"),
    )
    emit_list(rows, columns, title=f"{len(rows)} DAG(s) compiled, no problems")


def warn_compiled(compiled: list[CompiledDag]) -> None:
    """What may fail at run time (a file a task names outside its DAG's inputs), on stderr."""
    for item in compiled:
        for warning in item.warnings:
            err.print(f"[yellow]warning:[/] {escape(item.source_file)}: {escape(warning)}")


@dags.command("push")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--draft", is_flag=True, help="Register new drafts instead of publishing.")
@click.option(
    "--deprecate-previous",
    is_flag=True,
    help="Deprecate the version that was current, in the same transaction as the publish.",
)
@click.option(
    "--check-requirements",
    is_flag=True,
    help="Build the environments of DAGs with requirements here first (PINFLOW_VENV_DIR, "
    "PINFLOW_PIP_ARGS); a failed build fails the push before anything is sent.",
)
@client_options
def push_cmd(path: Path, draft: bool, deprecate_previous: bool, check_requirements: bool) -> None:
    """Compile PATH and register its DAGs on the server (the GitOps step of CI).

    Idempotent: pushing the same code again changes nothing and says so. Without --draft
    each changed DAG gets a new active version that becomes current.

    \b
    Examples:
      pinflow dags push dags/
      pinflow dags push dags/ --deprecate-previous
      pinflow dags push dags/ --check-requirements
      PINFLOW_URL=https://pinflow.example.com PINFLOW_TOKEN=pf_… pinflow dags push dags/
    """
    if draft and deprecate_previous:
        fail("--deprecate-previous needs a publish; drop --draft", ExitCode.USAGE)
    compiled = compile_strict(path) if not draft else _compile_lenient(path)
    warn_compiled(compiled)
    if check_requirements:
        from pinflow.cli.envs import build_envs
        from pinflow.settings import Settings

        build_envs(Settings().env_config, compiled)
    mode = "draft" if draft else "publish"
    with client() as api:
        pushed = push_compiled(api, compiled, mode=mode, deprecate_previous=deprecate_previous)
    if options().output != "table":
        out.out(to_text([p.response for p in pushed], options().output))
        return
    for item in pushed:
        out.print(item.line)


def _compile_lenient(path: Path) -> list[CompiledDag]:
    """Drafts may have problems (the server lists them as warnings): compile only."""
    from pinflow.sdk.compiler import compile_path

    return compile_path(path)


@dags.command("list")
@click.option("--all", "include_stale", is_flag=True, help="Include deregistered DAGs.")
@click.option("--paused/--unpaused", default=None, help="Only paused (or unpaused) DAGs.")
@click.option("--search", default=None, help="DAG ids containing this text.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 1000))
@client_options
def list_cmd(include_stale: bool, paused: bool | None, search: str | None, limit: int) -> None:
    """List DAGs.

    \b
    Examples:
      pinflow dags list
      pinflow dags list --all -o json
    """
    with client() as api:
        raw = api.list_dags(
            include_stale=include_stale, limit=limit, paused=paused, dag_id_pattern=search
        )
    columns = (*DAG_COLUMNS, Column("Deregistered", "is_stale")) if include_stale else DAG_COLUMNS
    emit_list(raw["dags"], columns, raw=raw, empty="No DAGs. Push some: pinflow dags push")


@dags.command("show")
@click.argument("dag_id")
@client_options
def show_cmd(dag_id: str) -> None:
    """Show one DAG: current version, schedule, params, runs in flight.

    \b
    Example:
      pinflow dags show example_etl
    """
    with client() as api:
        details = api.get_dag(dag_id, details=True)
    emit_record(details, DAG_FIELDS)


def _set_paused(dag_id: str, paused: bool) -> None:
    with client() as api:
        dag = api.set_paused(dag_id, paused)
    emit_message(f"{escape(dag_id)}: {'paused' if paused else 'unpaused'}", raw=dag)


@dags.command("pause")
@click.argument("dag_id")
@client_options
def pause_cmd(dag_id: str) -> None:
    """Pause a DAG: no new scheduled runs start; runs in flight go on.

    \b
    Example:
      pinflow dags pause example_etl
    """
    _set_paused(dag_id, True)


@dags.command("unpause")
@click.argument("dag_id")
@client_options
def unpause_cmd(dag_id: str) -> None:
    """Unpause a DAG.

    \b
    Example:
      pinflow dags unpause example_etl
    """
    _set_paused(dag_id, False)


@dags.command("trigger")
@click.argument("dag_id")
@click.option("--conf", default=None, help='Run parameters as a JSON object: \'{"unit": "C"}\'.')
@click.option("--run-id", default=None, help="The run's id (default: generated).")
@click.option("--note", default=None, help="A note on the run.")
@click.option(
    "--version",
    "version_ref",
    default=None,
    help="Run this version instead of the current one (a draft gets a test run).",
)
@click.option("--wait", is_flag=True, help="Wait for the run to finish, showing tasks finishing.")
@click.option("--timeout", default=3600.0, show_default=True, help="Seconds --wait waits.")
@client_options
def trigger_cmd(
    *,
    dag_id: str,
    conf: str | None,
    run_id: str | None,
    note: str | None,
    version_ref: str | None,
    wait: bool,
    timeout: float,
) -> None:
    """Start a run of the DAG's current version.

    With --wait the exit code is the run's outcome: 0 success, 1 failed, 7 timed out.

    \b
    Examples:
      pinflow dags trigger example_etl --conf '{"unit": "C"}'
      pinflow dags trigger example_etl --wait
      pinflow dags trigger example_etl --version draft     # a test run of the draft
    """
    params = parse_json_object(conf, "--conf")
    with client() as api:
        if version_ref is None:
            run = api.trigger(dag_id, conf=params, run_id=run_id, note=note)
        else:
            from pinflow.cli.versions import resolve_version

            version = resolve_version(api, dag_id, version_ref)
            started = api.start_version_run(version["id"], conf=params, run_id=run_id)
            run = api.get_run(dag_id, started["run"]["runId"])
        rid = run["dag_run_id"]
        err.print(f"Triggered [bold]{escape(dag_id)}[/] run [bold]{escape(rid)}[/]")
        if not wait:
            emit_message(rid, raw=run)
            return
        final, code = wait_for_run(api, dag_id, rid, timeout=timeout)
    finish_wait(final, code, timeout)


def finish_wait(run: dict[str, Any], code: ExitCode, timeout: float) -> None:
    """Print the run's outcome and exit with it (0 success, 1 failed, 7 timed out)."""
    name = f"{escape(run['dag_id'])} / {escape(run['dag_run_id'])}"
    if code == ExitCode.TIMEOUT:
        emit_message(f"[yellow]{name} still {run.get('state')} after {timeout:g}s[/]", raw=run)
    else:
        style = "green" if code == ExitCode.OK else "red"
        emit_message(f"[{style}]{name}: {run.get('state')}[/]", raw=run)
    if code != ExitCode.OK:
        raise click.exceptions.Exit(int(code))


def _confirm(what: str, impact: dict[str, Any], yes: bool) -> None:
    in_flight = impact.get("runs_in_flight") or []
    err.print(
        f"{what}: {impact.get('runs_total', 0)} run(s), {impact.get('task_instances', 0)} task "
        f"instance(s), {impact.get('xcoms', 0)} XCom(s), {impact.get('log_files', 0)} log "
        f"file(s); in flight: {', '.join(in_flight) or 'none'}."
    )
    if yes:
        return
    if not sys.stdin.isatty():
        fail("Refusing without confirmation.", ExitCode.USAGE, hint="Pass --yes to confirm.")
    click.confirm("Go ahead?", abort=True, err=True)


@dags.command("clear-history")
@click.argument("dag_id")
@click.option("--force", is_flag=True, help="Even while tasks are running (they are failed).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@client_options
def clear_history_cmd(dag_id: str, force: bool, yes: bool) -> None:
    """Delete the DAG's runs, task instances, XComs, logs and staging dirs; keep the DAG and
    its versions (what the UI's trash button does). Shows the impact first.

    \b
    Example:
      pinflow dags clear-history example_etl --yes
    """
    with client() as api:
        _confirm(f"Clearing the history of {dag_id}", api.dag_impact(dag_id), yes)
        api.delete_dag(dag_id, force=force)
    emit_message(f"{escape(dag_id)}: history cleared", raw={"dag_id": dag_id, "cleared": True})


@dags.command("deregister")
@click.argument("dag_id")
@click.option("--force", is_flag=True, help="Even while tasks are running (they are failed).")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@client_options
def deregister_cmd(dag_id: str, force: bool, yes: bool) -> None:
    """Remove the DAG and its versions from every list and schedule (restorable with
    `pinflow dags restore`, or by pushing it again).

    \b
    Example:
      pinflow dags deregister old_dag --yes
    """
    with client() as api:
        _confirm(f"Deregistering {dag_id}", api.dag_impact(dag_id), yes)
        api.delete_dag(dag_id, deregister=True, force=force)
    emit_message(
        f"{escape(dag_id)}: deregistered (undo: pinflow dags restore {escape(dag_id)})",
        raw={"dag_id": dag_id, "deregistered": True},
    )


@dags.command("restore")
@click.argument("dag_id")
@client_options
def restore_cmd(dag_id: str) -> None:
    """Bring a deregistered DAG back.

    \b
    Example:
      pinflow dags restore old_dag
    """
    with client() as api:
        dag = api.restore_dag(dag_id)
    emit_message(f"{escape(dag_id)}: restored", raw=dag)
