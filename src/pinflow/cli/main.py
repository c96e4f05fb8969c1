"""The ``pinflow`` command (entry point ``pinflow.cli.main:app``)."""

from __future__ import annotations

import click

from pinflow import __version__
from pinflow.cli.admin import audit, login, logout, tokens, users
from pinflow.cli.backfills import backfill_cmd, backfills
from pinflow.cli.canary import canary_cmd
from pinflow.cli.celery import celery
from pinflow.cli.common import EXIT_CODES_HELP, PinflowGroup, client_options
from pinflow.cli.dags import dags
from pinflow.cli.dagtest import test_cmd
from pinflow.cli.dev import dev
from pinflow.cli.envs import envs
from pinflow.cli.maintenance import backup_cmd, clean_cmd, restore_cmd
from pinflow.cli.pools import list_import_errors_cmd, pools
from pinflow.cli.resources import connections, variables
from pinflow.cli.retirement import lineage_cmd, policy
from pinflow.cli.runs import runs, tasks
from pinflow.cli.server import api_server, db, scheduler
from pinflow.cli.standalone import standalone
from pinflow.cli.tasktest import task_test_cmd
from pinflow.cli.traces import traces
from pinflow.cli.version_stats import stats_cmd
from pinflow.cli.versions import versions

HELP = f"""Pinflow: workflows as immutable, versioned artifacts; every run pinned to its snapshot.

\b
Start here:
  pinflow standalone                      API, UI, scheduler, executor, examples on SQLite
  pinflow login -u admin                  store a token for the commands below
  pinflow dags list
  pinflow dags trigger example_etl --wait
\b
Ship DAGs (CI):
  pinflow dags compile dags/              offline: lists every problem
  pinflow dags push dags/                 idempotent; --deprecate-previous
  pinflow dev dags/my_dag.py              hot reload: one snapshot per save
\b
Server and token: --url/--token, else PINFLOW_URL/PINFLOW_TOKEN, else `pinflow login`.
Output: --output table|json|yaml (or PINFLOW_OUTPUT).

{EXIT_CODES_HELP}
"""


@click.group(cls=PinflowGroup, help=HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="pinflow")
@client_options
def app() -> None:
    pass


for command in (
    standalone,
    db,
    api_server,
    scheduler,
    celery,
    dags,
    dev,
    envs,
    versions,
    runs,
    tasks,
    backfills,
    variables,
    connections,
    pools,
    audit,
    traces,
    users,
    tokens,
    login,
    logout,
):
    app.add_command(command)

for maintenance in (backup_cmd, restore_cmd, clean_cmd):
    db.add_command(maintenance)
versions.add_command(stats_cmd)
dags.add_command(policy)
dags.add_command(lineage_cmd)
dags.add_command(test_cmd)
dags.add_command(list_import_errors_cmd)
dags.add_command(backfill_cmd)
tasks.add_command(task_test_cmd)
versions.add_command(canary_cmd)
