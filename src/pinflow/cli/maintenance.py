"""``pinflow db backup``, ``pinflow db restore`` and ``pinflow db clean``: the database's upkeep.

They talk to the database directly (like ``pinflow db migrate``), not to the API: an operator
runs them on a host that has the database URL.
"""

from __future__ import annotations

from pathlib import Path

import click

from pinflow.cli.common import ExitCode, err, fail
from pinflow.cli.server import HOME_OPTION, load_settings, safe_url


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
