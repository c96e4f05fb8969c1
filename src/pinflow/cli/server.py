"""Production roles: ``pinflow db migrate``, ``pinflow api-server``, ``pinflow scheduler``.

Each reads its configuration from ``PINFLOW_*`` variables and the TOML file (see
``pinflow.settings``); ``PINFLOW_DATABASE_URL=postgresql://…`` switches the store.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pinflow.cli.common import ExitCode, err, fail

if TYPE_CHECKING:  # imported when a command runs: `pinflow --help` stays fast
    from pinflow.settings import Settings

HOME_OPTION = click.option(
    "--home",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="PINFLOW_HOME: config file, SQLite database, logs (default: $PINFLOW_HOME or ~/.pinflow).",
)


def load_settings(home: Path | None) -> Settings:
    """The settings, with ``--home`` exported so child processes (workers, tasks) agree."""
    from pinflow.settings import Settings

    if home is not None:
        os.environ["PINFLOW_HOME"] = str(home.resolve())
    return Settings()


def safe_url(url: str) -> str:
    """The database URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@click.group()
def db() -> None:
    """The metadata database."""


@db.command("migrate")
@HOME_OPTION
def migrate_cmd(home: Path | None) -> None:
    """Create or upgrade the schema to the latest version (safe to run on every deploy).

    \b
    Examples:
      pinflow db migrate
      PINFLOW_DATABASE_URL=postgresql://pinflow@db/pinflow pinflow db migrate
    """
    from pinflow.store import migrate
    from pinflow.store.db import Database

    settings = load_settings(home)
    settings.home.mkdir(parents=True, exist_ok=True)
    database = Database(settings.database_url)
    try:
        before = migrate.current_revision(database)
        migrate.upgrade(database)
        after = migrate.current_revision(database)
    finally:
        database.dispose()
    where = safe_url(settings.database_url)
    if before == after:
        err.print(f"{where}: already at {after}")
    else:
        err.print(f"{where}: migrated {before or 'empty'} -> {after}")


@db.command("create-user")
@click.argument("username")
@click.option("--superuser", is_flag=True, help="An instance superuser (the first admin).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@HOME_OPTION
def create_user_cmd(
    username: str, superuser: bool, password_stdin: bool, home: Path | None
) -> None:
    """Create a user directly in the database: how a production install gets its first admin
    (later users: `pinflow users create` through the API).

    \b
    Examples:
      pinflow db create-user admin --superuser
      echo "$ADMIN_PASSWORD" | pinflow db create-user admin --superuser --password-stdin
    """
    import sys

    from pinflow.services.commands import users
    from pinflow.store.db import Database

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    settings = load_settings(home)
    require_migrated(settings)
    database = Database(settings.database_url)
    try:
        users.create_user(database, username, password, actor="cli", is_superuser=superuser)
    finally:
        database.dispose()
    err.print(f"User {username} created{' (superuser)' if superuser else ''}.")


def require_migrated(settings: Settings) -> None:
    from sqlalchemy.exc import SQLAlchemyError

    from pinflow.store import migrate
    from pinflow.store.db import Database

    database = Database(settings.database_url)
    try:
        current, head = migrate.current_revision(database), migrate.head_revision()
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        fail(
            f"Cannot open the database {safe_url(settings.database_url)}: {cause}",
            ExitCode.FAILURE,
            hint="Check PINFLOW_DATABASE_URL / PINFLOW_HOME, then run `pinflow db migrate`.",
        )
    finally:
        database.dispose()
    if current != head:
        fail(
            f"The database {safe_url(settings.database_url)} is at {current or 'no schema'}, "
            f"not {head}.",
            ExitCode.FAILURE,
            hint="Run `pinflow db migrate` first.",
        )


@click.command("api-server")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64))
@HOME_OPTION
def api_server(host: str, port: int, workers: int, home: Path | None) -> None:
    """Serve the REST API and the web UI (run as many as you like behind a load balancer).

    The schema must be migrated first (`pinflow db migrate`); API servers never migrate.

    \b
    Examples:
      pinflow api-server --host 0.0.0.0 --port 8080 --workers 4
    """
    import uvicorn

    settings = load_settings(home)
    require_migrated(settings)
    err.print(f"Pinflow API on http://{host}:{port} ({workers} worker(s))")
    uvicorn.run(
        "pinflow.api.app:build_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        proxy_headers=False,  # PINFLOW_TRUSTED_PROXIES decides (api.app.trust_proxies)
    )


@click.command("scheduler")
@click.option("--until-idle", is_flag=True, help="Exit once nothing is left to run.")
@click.option("--timeout", default=3600.0, show_default=True, help="Seconds, with --until-idle.")
@HOME_OPTION
def scheduler(until_idle: bool, timeout: float, home: Path | None) -> None:
    """Run a scheduler with the configured executor (PINFLOW_EXECUTOR: local or celery).

    SIGTERM or Ctrl-C stops it gracefully: live tasks are ended and recorded.

    \b
    Examples:
      pinflow scheduler
      PINFLOW_PARALLELISM=8 pinflow scheduler --home /srv/pinflow
    """
    from pinflow.scheduler.main import main

    settings = load_settings(home)
    require_migrated(settings)
    argv = ["--until-idle", "--timeout", str(timeout)] if until_idle else []
    raise click.exceptions.Exit(main(argv))
