"""``pinflow pools …`` (Airflow's ``airflow pools``) and ``pinflow dags list-import-errors``,
over the ``/api/v2`` routes."""

from __future__ import annotations

from urllib.parse import quote

import click
from rich.markup import escape

from pinflow.cli.common import client, client_options
from pinflow.cli.output import Column, emit_list, emit_message, emit_record, short_time
from pinflow.cli.resources import create_or_update, every
from pinflow.client import JSON

POOL_COLUMNS = (
    Column("Pool", "name", style="bold"),
    Column("Slots", lambda p: "unlimited" if p.get("slots") == -1 else p.get("slots")),
    Column("Running", "running_slots"),
    Column("Queued", "queued_slots"),
    Column("Open", lambda p: "unlimited" if p.get("open_slots") == -1 else p.get("open_slots")),
    Column("Project", "project"),
    Column("Description", "description"),
)
IMPORT_ERROR_COLUMNS = (
    Column("File", "filename", style="bold"),
    Column("Project", "project"),
    Column("When", lambda e: short_time(e.get("timestamp"))),
    Column("Error", lambda e: (e.get("stack_trace") or "").strip().splitlines()[-1:]),
)


@click.group()
def pools() -> None:
    """Pools (Airflow's ``airflow pools``): list, get, set, delete."""


@pools.command("list")
@client_options
def pools_list_cmd() -> None:
    """List the pools and their slots in use.

    \b
    Example:
      pinflow pools list
    """
    with client() as api:
        rows = list(every(api, "/api/v2/pools", "pools"))
    emit_list(rows, POOL_COLUMNS, empty="No pools.")


@pools.command("get")
@click.argument("name")
@client_options
def pools_get_cmd(name: str) -> None:
    """Show one pool.

    \b
    Example:
      pinflow pools get default_pool
    """
    with client() as api:
        found = api.get(f"/api/v2/pools/{quote(name, safe='')}")
    emit_record(found, POOL_COLUMNS)


@pools.command("set")
@click.argument("name")
@click.argument("slots", type=click.IntRange(-1))
@click.argument("description", default="")
@click.option("--include-deferred", is_flag=True, help="Deferred tasks take slots too.")
@click.option("--project", default=None, help="Its project (new pools; default instance-wide).")
@client_options
def pools_set_cmd(
    name: str, slots: int, description: str, include_deferred: bool, project: str | None
) -> None:
    """Create a pool, or change its slots and description (Airflow's ``pools set NAME SLOTS
    DESCRIPTION``; -1 slots: unlimited).

    \b
    Example:
      pinflow pools set warehouse 4 "Connections to the warehouse"
    """
    patch: JSON = {"slots": slots, "description": description, "include_deferred": include_deferred}
    body = dict(patch)
    if project is not None:
        body["project"] = project
    with client() as api:
        answer, created = create_or_update(
            api, "/api/v2/pools", name, {"name": name, **body}, patch
        )
    emit_message(f"Pool {escape(name)} {'created' if created else 'updated'}", raw=answer)


@pools.command("delete")
@click.argument("name")
@client_options
def pools_delete_cmd(name: str) -> None:
    """Delete a pool.

    \b
    Example:
      pinflow pools delete warehouse
    """
    with client() as api:
        api.request("DELETE", f"/api/v2/pools/{quote(name, safe='')}")
    emit_message(f"Pool {escape(name)} deleted", raw={"name": name, "deleted": True})


@click.command("list-import-errors")
@client_options
def list_import_errors_cmd() -> None:
    """List the DAG files that failed to import (Airflow's ``dags list-import-errors``).

    \b
    Example:
      pinflow dags list-import-errors -o json
    """
    with client() as api:
        rows = list(every(api, "/api/v2/importErrors", "import_errors"))
    emit_list(rows, IMPORT_ERROR_COLUMNS, raw=rows, empty="No import errors.")
