"""``pinflow dags backfill DAG --from --to`` and ``pinflow backfills list|show|pause|unpause|
cancel``, over Airflow 3's ``/api/v2/backfills`` (ADR 0040)."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from rich.markup import escape

from pinflow.cli.common import ExitCode, client, client_options, err, fail, parse_json_object
from pinflow.cli.output import Column, emit_list, emit_message, emit_record, short_time
from pinflow.client import JSON

BACKFILL_COLUMNS = (
    Column("Id", "id", style="bold"),
    Column("DAG", "dag_id"),
    Column("From", lambda b: short_time(b.get("from_date"))),
    Column("To", lambda b: short_time(b.get("to_date"))),
    Column("Reprocess", "reprocess_behavior"),
    Column("Max active", "max_active_runs"),
    Column("Paused", "is_paused"),
    Column("Completed", lambda b: short_time(b.get("completed_at"))),
)
BACKFILL_FIELDS = (
    *BACKFILL_COLUMNS,
    Column("Backwards", "run_backwards"),
    Column("Version", "version_id"),
    Column("Conf", "dag_run_conf"),
    Column("Created", lambda b: short_time(b.get("created_at"))),
)


def _date(value: str, flag: str) -> str:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{flag} {value!r} is not an ISO date", ExitCode.USAGE, hint=f"{flag} 2026-01-31")
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).isoformat()


@click.command("backfill")
@click.argument("dag_id")
@click.option(
    "--from", "from_date", required=True, help="First logical date (ISO; UTC if no zone)."
)
@click.option("--to", "to_date", required=True, help="Last logical date (ISO; UTC if no zone).")
@click.option(
    "--reprocess-behavior",
    type=click.Choice(["none", "failed", "completed"]),
    default="none",
    show_default=True,
    help="Dates that already have a run: keep them (none), re-run failed ones, or re-run all "
    "finished ones.",
)
@click.option("--max-active-runs", default=10, show_default=True, type=click.IntRange(1, 1000))
@click.option("--run-backwards", is_flag=True, help="Newest date first.")
@click.option(
    "--dry-run", is_flag=True, help="List the logical dates it would run; change nothing."
)
@click.option("--conf", default=None, help="Every run's conf, a JSON object.")
@client_options
def backfill_cmd(
    *,
    dag_id: str,
    from_date: str,
    to_date: str,
    reprocess_behavior: str,
    max_active_runs: int,
    run_backwards: bool,
    dry_run: bool,
    conf: str | None,
) -> None:
    """Run the DAG for each schedule interval whose logical date is in [--from, --to].

    The runs are created at once (run type backfill), pinned to the DAG's current version,
    and start at most --max-active-runs at a time.

    \b
    Examples:
      pinflow dags backfill etl --from 2026-01-01 --to 2026-01-31 --dry-run
      pinflow dags backfill etl --from 2026-01-01 --to 2026-01-31 --reprocess-behavior failed
    """
    body: JSON = {
        "dag_id": dag_id,
        "from_date": _date(from_date, "--from"),
        "to_date": _date(to_date, "--to"),
        "run_backwards": run_backwards,
        "dag_run_conf": parse_json_object(conf, "--conf") or {},
        "reprocess_behavior": reprocess_behavior,
        "max_active_runs": max_active_runs,
    }
    with client() as api:
        if dry_run:
            answer = api.post("/api/v2/backfills/dry_run", body)
            rows = answer["backfills"]
            columns = (Column("Logical date", lambda r: short_time(r.get("logical_date"))),)
            emit_list(rows, columns, raw=answer, empty="No dates to run in that range.")
            err.print(f"Dry run: {len(rows)} run(s) would be created or re-run; nothing changed.")
            return
        made = api.post("/api/v2/backfills", body)
    emit_message(
        f"Backfill {made['id']} of {escape(dag_id)} created (pinflow backfills show {made['id']})",
        raw=made,
    )


@click.group()
def backfills() -> None:
    """Backfills: list a DAG's, show, pause, unpause, cancel (create: pinflow dags backfill)."""


@backfills.command("list")
@click.argument("dag_id")
@client_options
def list_cmd(dag_id: str) -> None:
    """List a DAG's backfills.

    \b
    Example:
      pinflow backfills list etl
    """
    with client() as api:
        raw = api.get("/api/v2/backfills", dag_id=dag_id, limit=1000)
    emit_list(raw["backfills"], BACKFILL_COLUMNS, raw=raw, empty=f"{dag_id} has no backfills.")


@backfills.command("show")
@click.argument("backfill_id", type=click.IntRange(0))
@client_options
def show_cmd(backfill_id: int) -> None:
    """Show one backfill.

    \b
    Example:
      pinflow backfills show 3
    """
    with client() as api:
        found = api.get(f"/api/v2/backfills/{backfill_id}")
    emit_record(found, BACKFILL_FIELDS)


def _put(backfill_id: int, action: str, said: str) -> None:
    with client() as api:
        answer = api.request("PUT", f"/api/v2/backfills/{backfill_id}/{action}")
    emit_message(f"Backfill {backfill_id} {said}", raw=answer)


@backfills.command("pause")
@click.argument("backfill_id", type=click.IntRange(0))
@client_options
def pause_cmd(backfill_id: int) -> None:
    """Pause: none of its runs starts until unpaused (runs in flight go on).

    \b
    Example:
      pinflow backfills pause 3
    """
    _put(backfill_id, "pause", "paused")


@backfills.command("unpause")
@click.argument("backfill_id", type=click.IntRange(0))
@client_options
def unpause_cmd(backfill_id: int) -> None:
    """Unpause: its queued runs start again.

    \b
    Example:
      pinflow backfills unpause 3
    """
    _put(backfill_id, "unpause", "unpaused")


@backfills.command("cancel")
@click.argument("backfill_id", type=click.IntRange(0))
@client_options
def cancel_cmd(backfill_id: int) -> None:
    """Cancel: its queued runs fail, runs in flight go on, nothing new starts.

    \b
    Example:
      pinflow backfills cancel 3
    """
    _put(backfill_id, "cancel", "cancelled")
