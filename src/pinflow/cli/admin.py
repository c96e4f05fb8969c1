"""``pinflow login``, ``audit``, ``users`` and ``tokens``."""

from __future__ import annotations

import socket
import sys
from datetime import UTC, datetime

import click
from rich.markup import escape

from pinflow.cli import common
from pinflow.cli.common import ExitCode, client, client_options, err, fail, options
from pinflow.cli.output import Column, emit_list, emit_message, short_time
from pinflow.client import credentials, resolve

ROLES = ("viewer", "operator", "editor", "admin")


def _read_password(password: str | None, from_stdin: bool, *, confirm: bool = False) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    if password is not None:
        return password
    if not sys.stdin.isatty():
        fail("No password given.", ExitCode.USAGE, hint="Use --password-stdin in scripts.")
    value: str = click.prompt("Password", hide_input=True, confirmation_prompt=confirm, err=True)
    return value


@click.command("login")
@click.option("--username", "-u", default=None, help="Log in with this user's password…")
@click.option("--password", default=None, help="…given here (prefer the prompt)…")
@click.option("--password-stdin", is_flag=True, help="…or read from standard input.")
@click.option("--token-name", default=None, help="Name of the API token created for this login.")
@client_options
def login(
    username: str | None, password: str | None, password_stdin: bool, token_name: str | None
) -> None:
    """Store a server URL and an API token in $PINFLOW_HOME/credentials.json (mode 0600).

    With a username, the password buys a new API token for this machine; with --token, that
    token is checked and stored as it is. Later commands use them when neither flags nor
    PINFLOW_URL / PINFLOW_TOKEN say otherwise.

    \b
    Examples:
      pinflow login --url http://127.0.0.1:8080 -u admin
      pinflow login --url https://pinflow.example.com --token pf_…
    """
    opts = options()
    creds = resolve(opts.url, opts.token if opts.token else None)
    if opts.token is None:
        if username is None:
            username = click.prompt("Username", err=True) if sys.stdin.isatty() else None
        if not username:
            fail("Give --username (and a password) or --token.", ExitCode.USAGE)
        secret = _read_password(password, password_stdin)
        with common.make_client(creds.url, None) as anonymous:
            jwt = anonymous.login(username, secret)
        name = token_name or f"pinflow login on {socket.gethostname()} at {_now()}"
        with common.make_client(creds.url, jwt) as api:
            token = str(api.create_token(name)["token"])
    else:
        token = opts.token
    with common.make_client(creds.url, token) as api:
        who = api.list_tokens()
    user = who[0]["username"] if who else username
    path = credentials.save(creds.url, token, username=user)
    emit_message(
        f"Logged in to {escape(creds.url)} as {escape(str(user))}; token stored in {path}",
        raw={"url": creds.url, "username": user, "credentials_file": str(path)},
    )


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M")


@click.command("logout")
@click.option(
    "--revoke",
    is_flag=True,
    help="Also revoke the stored API token on the server, so that no copy of it works.",
)
def logout(revoke: bool) -> None:
    """Forget the stored credentials; with --revoke, first revoke the stored API token on the
    server (without it, the token stays valid: `pinflow tokens revoke` can end it later).

    \b
    Examples:
      pinflow logout
      pinflow logout --revoke
    """
    saved = credentials.load_saved()
    if revoke and saved.get("url") and saved.get("token"):
        with common.make_client(str(saved["url"]), str(saved["token"])) as api:
            api.logout()
        err.print("The stored API token was revoked on the server.")
    if credentials.forget():
        err.print("Stored credentials removed.")
    else:
        err.print("No stored credentials.")


# --- audit -------------------------------------------------------------------------------------

EVENT_COLUMNS = (
    Column("When", lambda e: short_time(e.get("when"))),
    Column("Event", "event", style="bold"),
    Column("Actor", "owner"),
    Column("DAG", "dag_id"),
    Column("Target", lambda e: f"{e.get('target_type')}:{e.get('target_id')}"),
    Column("Details", lambda e: _clip(e.get("extra"))),
)


def _clip(text: str | None, limit: int = 100) -> str | None:
    """Tables show the start of an event's metadata; -o json shows all of it."""
    return text if text is None or len(text) <= limit else text[: limit - 1] + "…"


@click.group()
def audit() -> None:
    """The audit log: who did what, to what, when."""


@audit.command("list")
@click.option("--dag", "dag_id", default=None, help="Events of this DAG.")
@click.option("--event", default=None, help="Events of this kind (e.g. workflow.published).")
@click.option("--actor", default=None, help="Events by this user.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 1000))
@client_options
def audit_list(dag_id: str | None, event: str | None, actor: str | None, limit: int) -> None:
    """List audit events, newest first.

    \b
    Examples:
      pinflow audit list --dag example_etl
      pinflow audit list --event workflow.deprecated -o json
    """
    with client() as api:
        raw = api.list_events(limit=limit, dag_id=dag_id, event=event, owner=actor)
    emit_list(raw["event_logs"], EVENT_COLUMNS, raw=raw, empty="No events.")


# --- users -------------------------------------------------------------------------------------

USER_COLUMNS = (
    Column("User", "username", style="bold"),
    Column("Superuser", "isSuperuser"),
    Column("Active", "isActive"),
    Column("Roles", lambda u: [f"{p}: {r}" for p, r in sorted((u.get("roles") or {}).items())]),
    Column("Created", lambda u: short_time(u.get("createdAt"))),
)


@click.group()
def users() -> None:
    """Users and their roles per project."""


@users.command("list")
@client_options
def users_list() -> None:
    """List users with their roles.

    \b
    Example:
      pinflow users list
    """
    with client() as api:
        rows = api.list_users()
    emit_list(rows, USER_COLUMNS)


@users.command("create")
@click.argument("username")
@click.option("--superuser", is_flag=True, help="An instance superuser.")
@click.option("--token-only", is_flag=True, help="No password: the account uses API tokens.")
@click.option("--password", default=None, help="The password (default: prompt).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@client_options
def users_create(
    username: str, superuser: bool, token_only: bool, password: str | None, password_stdin: bool
) -> None:
    """Create a user (superusers only).

    \b
    Examples:
      pinflow users create alice
      pinflow users create ci-bot --token-only
    """
    secret = None if token_only else _read_password(password, password_stdin, confirm=True)
    with client() as api:
        user = api.create_user(username, secret, superuser=superuser)
    emit_message(f"User {escape(username)} created", raw=user)


@users.command("delete")
@click.argument("username")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@client_options
def users_delete(username: str, yes: bool) -> None:
    """Remove a user, their roles and API tokens (superusers only).

    Their sessions end at once and stay ended, even if a user of the same name is created
    later. The last active superuser cannot be removed.

    \b
    Examples:
      pinflow users delete alice
      pinflow users delete ci-bot --yes
    """
    if not yes and sys.stdin.isatty():
        click.confirm(f"Remove user {username!r}?", abort=True, err=True)
    with client() as api:
        api.delete_user(username)
    emit_message(f"User {escape(username)} removed", raw={"username": username})


@users.command("grant")
@click.argument("username")
@click.argument("project")
@click.argument("role", type=click.Choice(ROLES))
@client_options
def users_grant(username: str, project: str, role: str) -> None:
    """Give a user a role in a project (replacing the role held there).

    \b
    Example:
      pinflow users grant alice default editor
    """
    with client() as api:
        user = api.grant_role(username, project, role)
    emit_message(f"{escape(username)} is {role} in {escape(project)}", raw=user)


@users.command("revoke")
@click.argument("username")
@click.argument("project")
@client_options
def users_revoke(username: str, project: str) -> None:
    """Take a user's role in a project away.

    \b
    Example:
      pinflow users revoke alice default
    """
    with client() as api:
        user = api.revoke_role(username, project)
    emit_message(f"{escape(username)} has no role in {escape(project)}", raw=user)


# --- tokens ------------------------------------------------------------------------------------

TOKEN_COLUMNS = (
    Column("Id", "id", style="bold"),
    Column("Name", "name"),
    Column("Prefix", "prefix"),
    Column("Created", lambda t: short_time(t.get("createdAt"))),
    Column("Last used", lambda t: short_time(t.get("lastUsedAt"))),
    Column("Expires", lambda t: short_time(t.get("expiresAt"))),
    Column("Revoked", lambda t: short_time(t.get("revokedAt"))),
)


@click.group()
def tokens() -> None:
    """Your API tokens (for CI and scripts)."""


@tokens.command("list")
@client_options
def tokens_list() -> None:
    """List your API tokens (never their secrets).

    \b
    Example:
      pinflow tokens list
    """
    with client() as api:
        rows = api.list_tokens()
    emit_list(rows, TOKEN_COLUMNS)


@tokens.command("create")
@click.argument("name")
@click.option("--expires", default=None, help="When it expires (ISO 8601 with a timezone).")
@client_options
def tokens_create(name: str, expires: str | None) -> None:
    """Create an API token; the secret is printed once, on stdout.

    \b
    Examples:
      pinflow tokens create ci
      export PINFLOW_TOKEN=$(pinflow tokens create ci)
    """
    with client() as api:
        created = api.create_token(name, expires)
    err.print("Store this token now: it is not shown again.")
    emit_message(str(created["token"]), raw=created)


@tokens.command("revoke")
@click.argument("token_id", type=int)
@client_options
def tokens_revoke(token_id: int) -> None:
    """Revoke one of your API tokens.

    \b
    Example:
      pinflow tokens revoke 3
    """
    with client() as api:
        token = api.revoke_token(token_id)
    emit_message(f"Token {token_id} ({escape(token['name'])}) revoked", raw=token)
