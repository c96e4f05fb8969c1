"""``pinflow db backup``, ``pinflow db restore`` and ``pinflow db clean``: the database's upkeep.

They talk to the database directly (like ``pinflow db migrate``), not to the API: an operator
runs them on a host that has the database URL.
"""

from __future__ import annotations

import getpass
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pinflow.cli.common import ExitCode, err, fail
from pinflow.cli.server import HOME_OPTION, load_settings, require_migrated, safe_url

if TYPE_CHECKING:  # imported when a command runs: `pinflow --help` stays fast
    from pinflow.services.commands import retention


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@HOME_OPTION
def backup_cmd(path: Path, home: Path | None) -> None:
    """Write a backup of the database to PATH (a new file, mode 0600: it holds every secret).

    SQLite: the online backup API, safe while the server runs. PostgreSQL: pg_dump -Fc (the
    PostgreSQL client tools must be on PATH).

    \b
    Examples:
      pinflow db backup /backups/pinflow-$(date +%F).db
      PINFLOW_DATABASE_URL=postgresql://pinflow@db/pinflow pinflow db backup pinflow.dump
    """
    from pinflow.store import backup
    from pinflow.store.db import Database

    settings = load_settings(home)
    database = Database(settings.database_url)
    try:
        info = backup.backup(database, path)
    finally:
        database.dispose()
    err.print(
        f"Backed up {safe_url(settings.database_url)} (schema {info.revision or 'none'}) "
        f"to {info.path}"
    )


@click.command("restore")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Replace the database's current content.")
@HOME_OPTION
def restore_cmd(path: Path, yes: bool, home: Path | None) -> None:
    """Replace the database's content with the backup at PATH. Stop the API servers and
    schedulers first, and start them after.

    A backup made by a newer Pinflow is refused; an older one needs `pinflow db migrate` after.

    \b
    Examples:
      pinflow db restore /backups/pinflow-2026-12-01.db --yes
    """
    from pinflow.store import backup
    from pinflow.store.db import Database

    settings = load_settings(home)
    settings.home.mkdir(parents=True, exist_ok=True)
    database = Database(settings.database_url)
    where = safe_url(settings.database_url)
    try:
        plan = backup.plan_restore(database, path)
        if not yes and not backup.is_empty(database):
            fail(
                f"{where} has data; restoring {path} would replace all of it.",
                ExitCode.CONFLICT,
                hint="Take a backup of it first if you may need it, then add --yes.",
            )
        backup.restore(database, path)
    finally:
        database.dispose()
    err.print(f"Restored {path} (schema {plan.revision or 'none'}) into {where}")
    if plan.needs_migrate:
        err.print(
            f"The schema is older than this Pinflow's ({plan.head}): run `pinflow db migrate`."
        )


def cut_off(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    """ISO 8601 (``2026-01-01``, ``2026-01-01T06:00+02:00``); without a zone it is UTC."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a date: use ISO 8601, e.g. 2026-01-01 or 2026-01-01T06:00+02:00"
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _print_counts(title: str, counts: dict[str, int]) -> None:
    """On standard output: what a script reads (progress and prompts go to standard error)."""
    click.echo(title)
    for table, count in counts.items():
        click.echo(f"  {table:<20} {count:>10}")


@click.command("clean")
@click.option("--before", required=True, callback=cut_off, help="Delete runs that ended before.")
@click.option("--dag", "dag_id", default=None, help="Only the runs of this DAG.")
@click.option(
    "--dry-run", is_flag=True, help="Print what would be deleted, per table; delete nothing."
)
@click.option("--yes", is_flag=True, help="Delete without asking.")
@click.option(
    "--batch-size",
    default=1000,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="Runs deleted per transaction.",
)
@HOME_OPTION
def clean_cmd(
    *,
    before: datetime, dag_id: str | None, dry_run: bool, yes: bool, batch_size: int,
    home: Path | None,
) -> None:  # fmt: skip
    """Delete finished runs (success or failed) that ended before --before, with their task
    instances, tries, XComs, logs, artifacts and staging dirs. Queued and running runs are
    never deleted. Each batch is one transaction with its own `db.cleaned` audit entry.

    \b
    Examples:
      pinflow db clean --before 2026-01-01 --dry-run
      pinflow db clean --before "$(date -d '90 days ago' +%F)" --yes
      pinflow db clean --before 2026-06-01 --dag example_etl --batch-size 200 --yes
    """
    from pinflow.runtime.artifacts import open_store
    from pinflow.services.commands import retention
    from pinflow.store.db import Database

    settings = load_settings(home)
    require_migrated(settings)
    database = Database(settings.database_url)
    try:
        preview = retention.plan(database, before=before, dag_id=dag_id)
        scope = f"of {dag_id} " if dag_id else ""
        _print_counts(
            f"Finished runs {scope}that ended before {before.isoformat()}:", preview.counts
        )
        if dry_run or preview.counts["dag_run"] == 0:
            return
        if not yes:
            if not sys.stdin.isatty():
                fail("Nothing deleted.", ExitCode.USAGE, hint="Add --yes to delete them.")
            click.confirm("Delete them?", abort=True, err=True)
        roots = retention.FileRoots(
            settings.logs_dir,
            settings.staging_dir,
            open_store(settings.artifacts_uri),
            settings.shared_store_url,
        )
        done = retention.clean(
            database, before=before, actor=_actor(), roots=roots, dag_id=dag_id,
            batch_size=batch_size,
            on_batch=_progress,
        )  # fmt: skip
    finally:
        database.dispose()
    _print_counts(f"Deleted in {done.batches} batch(es), and {done.files} file(s):", done.counts)


def _progress(totals: retention.CleanResult) -> None:
    err.print(f"  batch {totals.batches}: {totals.counts['dag_run']} run(s) deleted so far")


def _actor() -> str:
    """Who ran the command, for the audit log: the OS user (there is no API login here)."""
    return f"cli:{getpass.getuser()}"
