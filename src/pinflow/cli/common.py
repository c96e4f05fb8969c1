"""What every command shares: exit codes, the ``--url``/``--token``/``--output`` options, the
client they build, and the one place where errors become a message and an exit code."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console
from rich.markup import escape

from pinflow.client import ClientError, PinflowClient, resolve
from pinflow.errors import PinflowError

F = TypeVar("F", bound=Callable[..., Any])
FORMATS = ("table", "json", "yaml")


class ExitCode(IntEnum):
    """Exit codes scripts can rely on (also in ``pinflow --help`` and docs/cli.md)."""

    OK = 0
    FAILURE = 1  # the run or task failed, compile problems, a server error
    USAGE = 2  # bad arguments, or a request the server rejected as invalid (400/422)
    NOT_FOUND = 3  # 404: no such DAG, version, run, task, user…
    CONFLICT = 4  # 409: refused in the current state (e.g. tasks still running)
    AUTH = 5  # 401/403/429: not logged in, not allowed, or throttled
    UNREACHABLE = 6  # no server answered (or it timed out)
    TIMEOUT = 7  # --wait / --timeout passed before the run finished


EXIT_CODES_HELP = """\b
Exit codes:
  0  success
  1  failure (the run or task failed, compile problems, server error)
  2  usage error, or input the server rejected as invalid (HTTP 400/422)
  3  not found (HTTP 404)
  4  conflict: refused in the current state (HTTP 409)
  5  not authenticated or not allowed (HTTP 401/403/429)
  6  no server reachable
  7  timed out waiting"""

# Piped output (CI logs, `| grep`) is not cut to 80 columns: tables take the width they need.
_PIPED_WIDTH = 240
out = Console(soft_wrap=True, highlight=False, width=None if sys.stdout.isatty() else _PIPED_WIDTH)
err = Console(
    stderr=True,
    soft_wrap=True,
    highlight=False,
    width=None if sys.stderr.isatty() else _PIPED_WIDTH,
)


def exit_code_for(status: int | None) -> ExitCode:
    if status is None:
        return ExitCode.UNREACHABLE
    if status in (400, 422):
        return ExitCode.USAGE
    if status in (401, 403, 429):
        return ExitCode.AUTH
    if status == 404:
        return ExitCode.NOT_FOUND
    if status == 409:
        return ExitCode.CONFLICT
    return ExitCode.FAILURE


def print_problems(message: str, problems: list[dict[str, str]], hint: str | None = None) -> None:
    err.print(f"[bold red]Error:[/] {escape(message)}")
    for problem in problems:
        where = problem.get("location") or ""
        text = problem.get("message") or ""
        err.print(f"  - {escape(where)}: {escape(text)}" if where else f"  - {escape(text)}")
    if hint:
        err.print(f"[yellow]Hint:[/] {escape(hint)}")


def fail(message: str, code: ExitCode = ExitCode.FAILURE, *, hint: str | None = None) -> NoReturn:
    print_problems(message, [], hint)
    raise click.exceptions.Exit(int(code))


def _pinflow_error(exc: PinflowError) -> tuple[str, list[dict[str, str]]]:
    problems = getattr(exc, "problems", None) or []
    listed = [{"location": p.location, "message": p.message} for p in problems]
    return (exc.message if not listed else f"{len(listed)} problem(s) found:"), listed


class PinflowGroup(click.Group):
    """The root group: turns ``ClientError`` and ``PinflowError`` into a message on stderr and
    the exit code their kind maps to, instead of a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ClientError as exc:
            print_problems(exc.message, exc.problems, exc.hint)
            raise click.exceptions.Exit(int(exit_code_for(exc.status))) from None
        except PinflowError as exc:
            message, problems = _pinflow_error(exc)
            print_problems(message, problems)
            raise click.exceptions.Exit(int(ExitCode.FAILURE)) from None


# --- shared options ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    url: str | None
    token: str | None
    output: str


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    # ``meta`` is shared by every context of one invocation: ``pinflow --url X dags list`` and
    # ``pinflow dags list --url X`` both land here (the later one wins).
    if value is not None and param.name:
        ctx.meta[f"pinflow.{param.name}"] = value
    return value


def output_option(func: F) -> F:
    return click.option(
        "-o",
        "--output",
        type=click.Choice(FORMATS),
        default=None,
        expose_value=False,
        callback=_remember,
        help="Output format (default: table, or $PINFLOW_OUTPUT).",
    )(func)


def client_options(func: F) -> F:
    """``--url``, ``--token`` and ``--output`` on a command that talks to a server."""
    func = click.option(
        "--token",
        default=None,
        expose_value=False,
        callback=_remember,
        help="API token (default: $PINFLOW_TOKEN, else the one `pinflow login` stored).",
    )(func)
    func = click.option(
        "--url",
        default=None,
        expose_value=False,
        callback=_remember,
        help="Server URL (default: $PINFLOW_URL, else `pinflow login`'s, else "
        "http://127.0.0.1:8080).",
    )(func)
    return output_option(func)


def options(ctx: click.Context | None = None) -> Options:
    meta = (ctx or click.get_current_context()).meta
    output = meta.get("pinflow.output") or os.environ.get("PINFLOW_OUTPUT") or "table"
    if output not in FORMATS:
        fail(f"PINFLOW_OUTPUT={output!r} is not one of {', '.join(FORMATS)}", ExitCode.USAGE)
    return Options(meta.get("pinflow.url"), meta.get("pinflow.token"), output)


def make_client(url: str | None, token: str | None) -> PinflowClient:
    """The client for the resolved server and token (tests replace this to inject one)."""
    return PinflowClient.from_credentials(resolve(url, token))


def client(ctx: click.Context | None = None) -> PinflowClient:
    opts = options(ctx)
    return make_client(opts.url, opts.token)


def parse_json_object(value: str | None, what: str) -> dict[str, Any] | None:
    import json

    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except ValueError as exc:
        fail(f"{what} is not valid JSON: {exc}", ExitCode.USAGE)
    if not isinstance(parsed, dict):
        fail(f'{what} must be a JSON object, like \'{{"unit": "C"}}\'', ExitCode.USAGE)
    return parsed
