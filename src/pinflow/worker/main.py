"""Running a worker process: Celery's own worker, with Pinflow's one task registered."""

from __future__ import annotations

import logging
import socket
from typing import TYPE_CHECKING

from pinflow.executors.local import check_task_user
from pinflow.runtime.private import private_dirs
from pinflow.worker.app import worker_app

if TYPE_CHECKING:
    from pinflow.settings import Settings


def run_worker(
    settings: Settings,
    *,
    queues: list[str],
    concurrency: int,
    hostname: str | None = None,
    loglevel: str = "INFO",
) -> int:
    """Consume ``queues`` with ``concurrency`` pool processes until stopped (SIGTERM: warm
    shutdown, the running tries finish; a second SIGTERM or SIGQUIT: at once)."""
    name = hostname or socket.gethostname()
    logging.basicConfig(level=loglevel.upper(), format="%(asctime)s %(levelname)s %(message)s")
    # One line per execution API call says nothing the try's own line does not; failures are
    # logged by the client, with the try they belong to.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    private_dirs(settings.home)
    if settings.run_tasks_as_user is not None:  # refused here, not in each pool process
        check_task_user(settings.run_tasks_as_user)
    app = worker_app(settings, name)
    argv = [
        "worker",
        f"--queues={','.join(queues)}",
        f"--concurrency={concurrency}",
        f"--hostname=pinflow@{name}",
        "--pool=prefork",
        f"--loglevel={loglevel}",
        "--without-mingle",
        "--without-gossip",
    ]
    try:
        app.worker_main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
