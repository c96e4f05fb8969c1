"""``pinflow envs list|build|prune``: the environments of versions with requirements (ADR 0032).

They act on this host's cache (``PINFLOW_VENV_DIR``, ``$PINFLOW_HOME/venvs``): run them where
the tasks run (the scheduler's host with the local executor, each Celery worker's host).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pinflow.cli.common import ExitCode, err, fail, output_option
from pinflow.cli.output import Column, emit_list
from pinflow.cli.server import HOME_OPTION, load_settings

if TYPE_CHECKING:
    from pinflow.runtime.envs import Env, EnvConfig
    from pinflow.sdk.compiler import CompiledDag

DAY = 24 * 3600.0


def _when(stamp: object) -> str:
    if not isinstance(stamp, int | float):
        return ""
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="seconds")


ENV_COLUMNS = (
    Column("Key", lambda e: str(e["key"])[:12], style="bold"),
    Column("Requirements", lambda e: ", ".join(e["requirements"])),
    Column("MB", lambda e: f"{int(e['bytes']) / 1e6:.1f}"),
    Column("Built", lambda e: _when(e.get("built_at"))),
    Column("Last used", lambda e: _when(e.get("last_used"))),
)


@click.group()
def envs() -> None:
    """The virtualenvs that versions with requirements run in, on this host."""


@envs.command("list")
@HOME_OPTION
@output_option
def list_cmd(home: Path | None) -> None:
    """List the environments built on this host: key, requirements, size, last use.

    \b
    Examples:
      pinflow envs list
      pinflow envs list -o json
    """
    from pinflow.runtime.envs import list_envs

    settings = load_settings(home)
    found = list_envs(settings.venv_dir)
    emit_list(found, ENV_COLUMNS, title=f"{len(found)} environment(s) in {settings.venv_dir}")


@envs.command("build")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@HOME_OPTION
def build_cmd(path: Path, home: Path | None) -> None:
    """Build, ahead of the first run, the environments of the DAGs at PATH (compiled as
    `pinflow dags push` would). Exits 1 with pip's error when one cannot be built.

    \b
    Examples:
      pinflow envs build dags/
      PINFLOW_PIP_ARGS="--no-index --find-links /wheels" pinflow envs build dags/etl.py
    """
    from pinflow.cli.shipping import compile_strict

    settings = load_settings(home)
    for env in build_envs(settings.env_config, compile_strict(path)):
        err.print(f"Environment {env.key[:12]} ready: {', '.join(env.requirements)}")


def build_envs(config: EnvConfig, compiled: Sequence[CompiledDag]) -> list[Env]:
    """The environment of every distinct requirement list of ``compiled``, built when
    missing; a build failure ends the command (exit 1) with its error."""
    from pinflow.runtime.envs import EnvBuildError, ensure_env

    wanted = {tuple(item.spec.requirements): item.spec.dag_id for item in compiled}
    built = []
    for requirements, dag_id in wanted.items():
        if not requirements:
            continue
        err.print(f"Building the environment of {dag_id!r}: {', '.join(requirements)}")
        try:
            built.append(ensure_env(config, requirements))
        except EnvBuildError as exc:
            fail(f"DAG {dag_id!r}: its environment cannot be built: {exc}", ExitCode.FAILURE)
    return built


@envs.command("prune")
@click.option(
    "--unused-for",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Remove environments no task has used for this many days (0: every environment).",
)
@click.option("--failed", is_flag=True, help="Also forget recorded build failures.")
@HOME_OPTION
@output_option
def prune_cmd(unused_for: float, failed: bool, home: Path | None) -> None:
    """Delete environments not used lately, and what interrupted builds left behind.

    A pruned environment is built again by the next task that needs it. A build in progress
    is never touched.

    \b
    Examples:
      pinflow envs prune                      unused for 30 days
      pinflow envs prune --unused-for 0       every environment
      pinflow envs prune --unused-for 365 --failed
    """
    from pinflow.runtime.env_prune import prune_envs

    settings = load_settings(home)
    pruned = prune_envs(settings.venv_dir, unused_for=unused_for * DAY, failed=failed)
    rows: list[dict[str, Any]] = [{"key": p.key, "what": p.what} for p in pruned]
    columns = (Column("Key", lambda r: str(r["key"])[:12], style="bold"), Column("Removed", "what"))
    emit_list(rows, columns, title=f"{len(rows)} item(s) removed from {settings.venv_dir}")
