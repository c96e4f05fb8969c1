"""Output formats, exit codes, error messages that say what to do, credentials, and --help with
examples on every command."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner
from tests.cli.helpers import free_port
from tests.cli.inprocess import Cli, make_cli

from pinflow.cli.common import ExitCode, exit_code_for
from pinflow.cli.main import app as pinflow
from pinflow.cli.output import Column, short_time, styled, table_of, to_text
from pinflow.client import credentials
from pinflow.client.errors import from_response
from pinflow.store.db import Database

# The database plays no part: the CLI's output formats.
pytestmark = pytest.mark.sqlite_enough


@pytest.fixture
def cli(db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    return make_cli(db, tmp_path, monkeypatch)


# --- pure pieces -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (None, ExitCode.UNREACHABLE),
        (400, ExitCode.USAGE),
        (422, ExitCode.USAGE),
        (401, ExitCode.AUTH),
        (403, ExitCode.AUTH),
        (429, ExitCode.AUTH),
        (404, ExitCode.NOT_FOUND),
        (409, ExitCode.CONFLICT),
        (500, ExitCode.FAILURE),
    ],
)
def test_exit_code_for_each_status(status: int | None, code: ExitCode) -> None:
    assert exit_code_for(status) == code


def test_server_errors_keep_the_servers_words() -> None:
    seed = from_response(
        400, {"message": "Confirmation name does not match the workflow name"}, "x"
    )
    assert (seed.message, seed.status, seed.hint) == (
        "Confirmation name does not match the workflow name",
        400,
        None,
    )
    airflow = from_response(404, {"detail": "DAG 'x' was not found."}, "x")
    assert airflow.message == "DAG 'x' was not found."
    fields = from_response(422, {"detail": [{"loc": ["body", "conf"], "msg": "bad"}]}, "x")
    assert fields.message == "conf: bad"
    located = from_response(
        400, {"message": "m", "problems": [{"location": "a", "message": "b"}]}, ""
    )
    assert located.problems == [{"location": "a", "message": "b"}]
    assert "pinflow login" in (from_response(401, {"detail": "no"}, "x").hint or "")
    assert from_response(502, "<html>bad gateway</html>", "x").message == "<html>bad gateway</html>"


def test_cells_are_styled_and_escaped() -> None:
    assert styled("success") == "[green]success[/]"
    assert styled("failed") == "[red]failed[/]"
    assert styled(None) == ""
    assert (styled(True), styled(False)) == ("yes", "no")
    assert styled("[bold]x") == "\\[bold]x"
    assert styled(["a", "b"]) == "a, b"
    assert short_time("2026-05-23T10:11:12.123456+00:00") == "2026-05-23 10:11:12"


def test_json_yaml_and_table_rendering() -> None:
    rows = [{"dag_id": "etl", "state": "success", "n": 2}]
    assert json.loads(to_text(rows, "json")) == rows
    assert yaml.safe_load(to_text(rows, "yaml")) == rows
    table = table_of(rows, [Column("DAG", "dag_id"), Column("Twice", lambda r: r["n"] * 2)])
    assert [c.header for c in table.columns] == ["DAG", "Twice"]
    assert list(table.columns[1].cells) == ["4"]


def test_credentials_file_is_private_and_precedence_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PINFLOW_HOME", str(tmp_path))
    monkeypatch.delenv("PINFLOW_URL", raising=False)
    monkeypatch.delenv("PINFLOW_TOKEN", raising=False)
    path = credentials.save("http://saved:1/", "pf_saved")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = credentials.resolve()
    assert (saved.url, saved.token, saved.url_source) == ("http://saved:1", "pf_saved", "login")
    monkeypatch.setenv("PINFLOW_URL", "http://env:2")
    other = credentials.resolve()
    assert (other.url, other.token) == ("http://env:2", None), "a token stays with its server"
    monkeypatch.setenv("PINFLOW_TOKEN", "pf_env")
    flags = credentials.resolve("flag:3", "pf_flag")
    assert (flags.url, flags.token, flags.url_source) == ("http://flag:3", "pf_flag", "flag")
    assert credentials.resolve().token == "pf_env"


# --- the command -------------------------------------------------------------------------------


def test_no_server_says_how_to_start_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PINFLOW_HOME", str(tmp_path))
    url = f"http://127.0.0.1:{free_port()}"
    result = CliRunner().invoke(pinflow, ["dags", "list", "--url", url])
    assert result.exit_code == ExitCode.UNREACHABLE
    assert f"No server at {url}" in result.stderr
    assert "pinflow standalone" in result.stderr
    assert "PINFLOW_URL" in result.stderr


def test_exit_codes_from_the_server(cli: Cli) -> None:
    missing = cli("dags", "show", "nope", code=ExitCode.NOT_FOUND)
    assert "nope" in missing.stderr
    cli("dags", "list", "--token", "pf_0000_bad", code=ExitCode.AUTH)
    cli("users", "create", "bob", "--token-only")
    again = cli("users", "create", "bob", "--token-only", code=ExitCode.CONFLICT)
    assert "already exists" in again.stderr
    cli("dags", "trigger", "x", "--conf", "{not json", code=ExitCode.USAGE)
    cli("dags", "trigger", "x", "--conf", "[1]", code=ExitCode.USAGE)
    cli("dags", "list", "-o", "xml", code=ExitCode.USAGE)


def test_output_formats(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    cli("users", "create", "alice", "--token-only")
    table = cli("users", "list").stdout
    assert "User" in table
    assert "alice" in table
    as_json = json.loads(cli("users", "list", "-o", "json").stdout)
    assert {u["username"] for u in as_json} == {"ci", "alice"}
    assert yaml.safe_load(cli("-o", "yaml", "users", "list").stdout) == as_json
    monkeypatch.setenv("PINFLOW_OUTPUT", "json")
    assert json.loads(cli("users", "list").stdout) == as_json
    monkeypatch.setenv("PINFLOW_OUTPUT", "xml")
    cli("users", "list", code=ExitCode.USAGE)


def test_tokens_and_grants(cli: Cli) -> None:
    secret = cli("tokens", "create", "robot").stdout.strip()
    assert secret.startswith("pf_")
    listed = json.loads(cli("tokens", "list", "-o", "json").stdout)
    robot = next(t for t in listed if t["name"] == "robot")
    cli("tokens", "revoke", str(robot["id"]))
    cli("users", "create", "carol", "--token-only")
    cli("users", "grant", "carol", "default", "editor")
    users = json.loads(cli("users", "list", "-o", "json").stdout)
    assert next(u for u in users if u["username"] == "carol")["roles"] == {"default": "editor"}


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += _commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


def test_every_command_has_help_with_an_example() -> None:
    commands = _commands(pinflow)
    assert len(commands) >= 40
    for path in commands:
        result = CliRunner().invoke(pinflow, [*path, "--help"])
        assert result.exit_code == 0, path
        assert "Example" in result.stdout, f"pinflow {' '.join(path)} --help has no example"
    assert "Exit codes" in CliRunner().invoke(pinflow, ["--help"]).stdout
