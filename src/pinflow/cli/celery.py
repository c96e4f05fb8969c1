"""``pinflow celery worker``: run tries on this host, taken from the Celery broker.

A worker needs the broker (``PINFLOW_BROKER_URL``) and nothing of the control plane: no
database URL, no secret. It reaches the execution API at the URL each message names (the
schedulers' ``PINFLOW_EXECUTION_API_URL``), keeps its snapshot cache, logs and staging under
its own ``PINFLOW_HOME``, and takes the queues it is given (``queue=`` on a task routes it).
"""

from __future__ import annotations

from pathlib import Path

import click

from pinflow.cli.common import ExitCode, fail
from pinflow.cli.server import HOME_OPTION, load_settings


@click.group()
def celery() -> None:
    """Celery workers (PINFLOW_EXECUTOR=celery)."""


def _queues(value: str | None) -> list[str]:
    names = [name.strip() for name in (value or "").split(",") if name.strip()]
    return list(dict.fromkeys(names))


@celery.command("worker")
@click.option(
    "-q",
    "--queues",
    default=None,
    help="Comma-separated queues to take tries from (default: PINFLOW_DEFAULT_QUEUE).",
)
@click.option(
    "-c",
    "--concurrency",
    type=click.IntRange(1, 1024),
    default=None,
    help="Tries run at once (default: PINFLOW_WORKER_CONCURRENCY, the number of CPUs).",
)
@click.option(
    "--hostname",
    default=None,
    help="The name this worker reports (default: PINFLOW_HOSTNAME, else the machine's name).",
)
@click.option("--loglevel", default="INFO", show_default=True, help="Celery's log level.")
@HOME_OPTION
def worker(
    queues: str | None,
    concurrency: int | None,
    hostname: str | None,
    loglevel: str,
    home: Path | None,
) -> None:
    """Run a Celery worker: it starts, runs and reports tries over the execution API.

    \b
    Examples:
      PINFLOW_BROKER_URL=amqp://guest:guest@broker:5672// pinflow celery worker
      pinflow celery worker --queues default,gpu --concurrency 8
    """
    from pinflow.errors import PinflowError
    from pinflow.worker.main import run_worker

    settings = load_settings(home)
    names = _queues(queues) or [settings.default_queue]
    try:
        code = run_worker(
            settings,
            queues=names,
            concurrency=concurrency or settings.worker_concurrency,
            hostname=hostname or settings.hostname,
            loglevel=loglevel,
        )
    except PinflowError as exc:
        fail(str(exc), ExitCode.FAILURE)
    raise click.exceptions.Exit(code)
