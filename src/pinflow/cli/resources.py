"""``pinflow variables …`` and ``pinflow connections …``: Airflow's CLI habits over the
``/api/v2`` routes.

Secrets stay on the server: the API masks sensitive variable values and never returns a
connection's password, and these commands print and export what it answers, nothing more. An
export therefore leaves out what the API masked (said on stderr), so that importing the file
back never overwrites a secret with ``***``. Files are Airflow's JSON: variables as
``{"key": value}`` (or ``{"key": {"value": …, "description": …}}``), connections as
``{"conn_id": {"conn_type": …, "host": …, …}}``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import click
from rich.markup import escape

from pinflow.cli.common import ExitCode, client, client_options, err, fail, options, out
from pinflow.cli.output import Column, emit_list, emit_message, emit_record
from pinflow.client import JSON, ClientError, PinflowClient

MASK = "***"
PAGE = 1000
VARIABLE_COLUMNS = (
    Column("Key", "key", style="bold"),
    Column("Value", "value"),
    Column("Project", "project"),
    Column("Description", "description"),
)
CONNECTION_COLUMNS = (
    Column("Conn id", "connection_id", style="bold"),
    Column("Type", "conn_type"),
    Column("Host", "host"),
    Column("Port", "port"),
    Column("Login", "login"),
    Column("Schema", "schema"),
    Column("Password", lambda c: MASK if c.get("has_password") else ""),
    Column("Project", "project"),
)
CONNECTION_FIELDS = (
    *CONNECTION_COLUMNS,
    Column("Extra", "extra"),
    Column("Description", "description"),
)
_CONN_KEYS = ("conn_type", "description", "host", "login", "password", "schema", "port", "extra")


def every(api: PinflowClient, path: str, key: str) -> Iterator[JSON]:
    """Every item of a paged ``/api/v2`` collection."""
    offset = 0
    while True:
        page = api.get(path, limit=PAGE, offset=offset)
        yield from page[key]
        offset += len(page[key])
        if not page[key] or offset >= page["total_entries"]:
            return


def read_json_file(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        fail(f"{path} is not a readable JSON file: {exc}", ExitCode.USAGE)
    if not isinstance(data, dict):
        fail(f"{path} must hold a JSON object (Airflow's export format)", ExitCode.USAGE)
    return data


def write_json_file(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=4, sort_keys=True) + "\n")


def create_or_update(
    api: PinflowClient, path: str, item_id: str, body: JSON, patch: JSON | None = None
) -> tuple[JSON, bool]:
    """POST ``body``; if it exists (409), PATCH ``patch`` (default: ``body`` without its
    project, which cannot move), changing only the fields it names. (answer, created)."""
    try:
        return api.post(path, body), True
    except ClientError as exc:
        if exc.status != 409:
            raise
    update = patch if patch is not None else {k: v for k, v in body.items() if k != "project"}
    fields = [k for k in update if k not in ("key", "connection_id")]
    answer = api.request(
        "PATCH", f"{path}/{quote(item_id, safe='')}", json=update, params={"update_mask": fields}
    )
    return answer, False


def _exists(exc: ClientError) -> bool:
    return exc.status == 409


# --- variables ---------------------------------------------------------------------------------


@click.group()
def variables() -> None:
    """Variables (Airflow's ``airflow variables``): list, get, set, delete, import, export."""


@variables.command("list")
@client_options
def variables_list_cmd() -> None:
    """List the variables you may see (sensitive values shown as ***).

    \b
    Example:
      pinflow variables list -o json
    """
    with client() as api:
        rows = list(every(api, "/api/v2/variables", "variables"))
    emit_list(
        rows, VARIABLE_COLUMNS, empty="No variables. Add one: pinflow variables set KEY VALUE"
    )


def _variable_value(raw: str | None, as_json: bool) -> Any:
    if not as_json or raw is None:
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        fail("The value is not JSON; drop --json to see it as text", ExitCode.FAILURE)


@variables.command("get")
@click.argument("key")
@click.option("-j", "--json", "as_json", is_flag=True, help="Decode the value as JSON.")
@click.option("-d", "--default", "default", default=None, help="Printed if there is no such key.")
@client_options
def variables_get_cmd(key: str, as_json: bool, default: str | None) -> None:
    """Print a variable's value (sensitive ones as ***).

    \b
    Examples:
      pinflow variables get region
      pinflow variables get settings --json -o json
    """
    with client() as api:
        try:
            found = api.get(f"/api/v2/variables/{quote(key, safe='')}")
        except ClientError as exc:
            if exc.status != 404 or default is None:
                raise
            found = {"key": key, "value": default}
    value = _variable_value(found.get("value"), as_json)
    if options().output == "table":
        out.out(value if isinstance(value, str) else json.dumps(value), highlight=False)
        return
    emit_record(found, VARIABLE_COLUMNS, raw={**found, "value": value})


@variables.command("set")
@click.argument("key")
@click.argument("value")
@click.option("-j", "--json", "as_json", is_flag=True, help="VALUE is JSON: store it as such.")
@click.option("--description", default=None, help="What the variable is for.")
@click.option("--project", default=None, help="Its project (new variables; default instance-wide).")
@client_options
def variables_set_cmd(
    key: str, value: str, as_json: bool, description: str | None, project: str | None
) -> None:
    """Create a variable, or change its value.

    \b
    Examples:
      pinflow variables set region eu-west-1
      pinflow variables set limits '{"rows": 10}' --json --project sales
    """
    stored: Any = value
    if as_json:
        try:
            stored = json.loads(value)
        except ValueError as exc:
            fail(f"VALUE is not valid JSON: {exc}", ExitCode.USAGE)
    body: JSON = {"key": key, "value": stored}
    if description is not None:
        body["description"] = description
    if project is not None:
        body["project"] = project
    with client() as api:
        answer, created = create_or_update(api, "/api/v2/variables", key, body)
    emit_message(f"Variable {escape(key)} {'created' if created else 'updated'}", raw=answer)


@variables.command("delete")
@click.argument("key")
@client_options
def variables_delete_cmd(key: str) -> None:
    """Delete a variable.

    \b
    Example:
      pinflow variables delete region
    """
    with client() as api:
        api.request("DELETE", f"/api/v2/variables/{quote(key, safe='')}")
    emit_message(f"Variable {escape(key)} deleted", raw={"key": key, "deleted": True})


_ON_EXISTING = click.Choice(["overwrite", "fail", "skip"])


@variables.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "-a",
    "--action-on-existing-key",
    type=_ON_EXISTING,
    default="overwrite",
    show_default=True,
    help="What to do with a key that exists already.",
)
@click.option("--project", default=None, help="The project of the variables it creates.")
@client_options
def variables_import_cmd(file: Path, action_on_existing_key: str, project: str | None) -> None:
    """Create or update the variables of an Airflow export file.

    \b
    Example:
      pinflow variables import variables.json --action-on-existing-key skip
    """
    data = read_json_file(file)
    done: dict[str, list[str]] = {"created": [], "updated": [], "skipped": []}
    with client() as api:
        for key, item in data.items():
            body = _variable_body(key, item, project)
            try:
                api.post("/api/v2/variables", body)
                done["created"].append(key)
                continue
            except ClientError as exc:
                if not _exists(exc):
                    raise
            if action_on_existing_key == "fail":
                fail(f"Variable {key!r} exists already", ExitCode.CONFLICT, hint="-a overwrite")
            if action_on_existing_key == "skip":
                done["skipped"].append(key)
                continue
            create_or_update(api, "/api/v2/variables", key, body)
            done["updated"].append(key)
    summary = ", ".join(f"{len(v)} {k}" for k, v in done.items())
    emit_message(f"{escape(str(file))}: {summary}", raw=done)


def _variable_body(key: str, item: Any, project: str | None) -> JSON:
    body: JSON = {"key": key}
    if isinstance(item, dict) and "value" in item and set(item) <= {"value", "description"}:
        body |= item
    else:
        body["value"] = item
    if project is not None:
        body["project"] = project
    return body


@variables.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@client_options
def variables_export_cmd(file: Path) -> None:
    """Write every variable you may see to FILE as Airflow does (``{"key": value}``); values
    the API masks are left out.

    \b
    Example:
      pinflow variables export variables.json
    """
    exported: dict[str, Any] = {}
    masked: list[str] = []
    with client() as api:
        for row in every(api, "/api/v2/variables", "variables"):
            if row.get("value") == MASK:
                masked.append(row["key"])
                continue
            exported[row["key"]] = _decoded(row.get("value"))
    write_json_file(file, exported)
    if masked:
        err.print(f"[yellow]Left out (masked by the API):[/] {escape(', '.join(masked))}")
    emit_message(
        f"{len(exported)} variable(s) exported to {escape(str(file))}",
        raw={"file": str(file), "exported": sorted(exported), "masked": masked},
    )


def _decoded(value: str | None) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value


# --- connections -------------------------------------------------------------------------------


@click.group()
def connections() -> None:
    """Connections (Airflow's ``airflow connections``): list, get, add, delete, import,
    export. Passwords are never shown."""


@connections.command("list")
@client_options
def connections_list_cmd() -> None:
    """List the connections you may see (passwords never shown).

    \b
    Example:
      pinflow connections list
    """
    with client() as api:
        rows = list(every(api, "/api/v2/connections", "connections"))
    emit_list(rows, CONNECTION_COLUMNS, empty="No connections. Add one: pinflow connections add")


@connections.command("get")
@click.argument("conn_id")
@client_options
def connections_get_cmd(conn_id: str) -> None:
    """Show a connection (its password never shown; sensitive extras as ***).

    \b
    Example:
      pinflow connections get warehouse -o json
    """
    with client() as api:
        found = api.get(f"/api/v2/connections/{quote(conn_id, safe='')}")
    emit_record(found, CONNECTION_FIELDS)


def parse_uri(uri: str) -> JSON:
    """Airflow's connection URI, ``type://login:password@host:port/schema?extra=…``."""
    parts = urlsplit(uri)
    if not parts.scheme:
        fail(
            "--conn-uri needs a type: TYPE://[login[:password]@]host[:port][/schema]",
            ExitCode.USAGE,
        )
    fields: JSON = {"conn_type": parts.scheme.replace("-", "_")}
    try:
        port = parts.port
    except ValueError as exc:
        fail(f"--conn-uri has a bad port: {exc}", ExitCode.USAGE)
    values = {
        "host": unquote(parts.hostname) if parts.hostname else None,
        "login": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
        "schema": unquote(parts.path.lstrip("/")) or None,
        "port": port,
    }
    fields |= {k: v for k, v in values.items() if v is not None}
    if parts.query:
        from urllib.parse import parse_qsl

        fields["extra"] = json.dumps(dict(parse_qsl(parts.query)))
    return fields


@connections.command("add")
@click.argument("conn_id")
@click.option(
    "--conn-uri", default=None, help="All of it as a URI: type://login:pass@host:port/schema."
)
@click.option("--conn-json", default=None, help='All of it as JSON: {"conn_type": …, "host": …}.')
@click.option("--conn-type", default=None)
@click.option("--conn-host", default=None)
@click.option("--conn-login", default=None)
@click.option("--conn-password", default=None, help="Stored encrypted; never shown again.")
@click.option("--conn-schema", default=None)
@click.option("--conn-port", default=None, type=click.IntRange(0, 65535))
@click.option("--conn-extra", default=None, help="Extra fields as a JSON object.")
@click.option("--conn-description", default=None)
@click.option("--project", default=None, help="Its project (default instance-wide).")
@client_options
def connections_add_cmd(
    conn_id: str, conn_uri: str | None, conn_json: str | None, project: str | None, **given: Any
) -> None:
    """Add a connection, Airflow style: --conn-uri, --conn-json, or --conn-* fields.

    \b
    Examples:
      pinflow connections add warehouse --conn-uri 'postgres://etl:s3cret@db:5432/sales'
      pinflow connections add api --conn-type http --conn-host api.example.com
    """
    fields = _conn_fields(
        conn_uri, conn_json, {k.removeprefix("conn_"): v for k, v in given.items()}
    )
    body: JSON = {"connection_id": conn_id, **fields}
    if project is not None:
        body["project"] = project
    with client() as api:
        answer = api.post("/api/v2/connections", body)
    emit_message(f"Connection {escape(conn_id)} added", raw=answer)


def _conn_fields(uri: str | None, raw: str | None, flags: dict[str, Any]) -> JSON:
    named = {k: v for k, v in flags.items() if v is not None}
    if sum(bool(x) for x in (uri, raw, named)) != 1:
        fail("Give one of --conn-uri, --conn-json or --conn-type (with --conn-*)", ExitCode.USAGE)
    if uri:
        return parse_uri(uri)
    if raw:
        try:
            data = json.loads(raw)
        except ValueError as exc:
            fail(f"--conn-json is not valid JSON: {exc}", ExitCode.USAGE)
        if not isinstance(data, dict):
            fail("--conn-json must be a JSON object", ExitCode.USAGE)
        return _conn_body(data)
    if "type" not in named:
        fail("--conn-type is required with --conn-* fields", ExitCode.USAGE)
    return _conn_body({"conn_type" if k == "type" else k: v for k, v in named.items()})


def _conn_body(data: dict[str, Any]) -> JSON:
    body = {k: data[k] for k in _CONN_KEYS if data.get(k) is not None}
    if isinstance(body.get("extra"), dict):
        body["extra"] = json.dumps(body["extra"])
    return body


@connections.command("delete")
@click.argument("conn_id")
@client_options
def connections_delete_cmd(conn_id: str) -> None:
    """Delete a connection.

    \b
    Example:
      pinflow connections delete warehouse
    """
    with client() as api:
        api.request("DELETE", f"/api/v2/connections/{quote(conn_id, safe='')}")
    emit_message(
        f"Connection {escape(conn_id)} deleted", raw={"connection_id": conn_id, "deleted": True}
    )


@connections.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--overwrite", is_flag=True, help="Update connections that exist (else skipped).")
@click.option("--project", default=None, help="The project of the connections it creates.")
@client_options
def connections_import_cmd(file: Path, overwrite: bool, project: str | None) -> None:
    """Create the connections of an Airflow export file (``{"conn_id": {...}}``).

    \b
    Example:
      pinflow connections import connections.json --overwrite
    """
    data = read_json_file(file)
    done: dict[str, list[str]] = {"created": [], "updated": [], "skipped": []}
    with client() as api:
        for conn_id, item in data.items():
            if not isinstance(item, dict):
                fail(f"{file}: {conn_id!r} must map to an object of fields", ExitCode.USAGE)
            body: JSON = {"connection_id": conn_id, **_conn_body(item)}
            if project is not None:
                body["project"] = project
            try:
                api.post("/api/v2/connections", body)
                done["created"].append(conn_id)
            except ClientError as exc:
                if not _exists(exc):
                    raise
                if not overwrite:
                    done["skipped"].append(conn_id)
                    continue
                create_or_update(api, "/api/v2/connections", conn_id, body)
                done["updated"].append(conn_id)
    summary = ", ".join(f"{len(v)} {k}" for k, v in done.items())
    emit_message(f"{escape(str(file))}: {summary}", raw=done)


@connections.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@client_options
def connections_export_cmd(file: Path) -> None:
    """Write every connection you may see to FILE in Airflow's JSON format. Passwords are
    never exported (the API does not return them): set them again after an import.

    \b
    Example:
      pinflow connections export connections.json
    """
    exported: dict[str, Any] = {}
    masked: list[str] = []
    with client() as api:
        for row in every(api, "/api/v2/connections", "connections"):
            fields = {k: row.get(k) for k in _CONN_KEYS}
            if MASK in (fields.get("extra") or ""):
                masked.append(row["connection_id"])
                fields["extra"] = None
            exported[row["connection_id"]] = fields
    write_json_file(file, exported)
    if masked:
        err.print(f"[yellow]Extras left out (masked by the API):[/] {escape(', '.join(masked))}")
    emit_message(
        f"{len(exported)} connection(s) exported to {escape(str(file))} (passwords not included)",
        raw={"file": str(file), "exported": sorted(exported)},
    )
