"""The Celery application both sides share: the scheduler's executor sends with it, the
worker (``pinflow celery worker``) consumes with it.

One task, ``pinflow.run_try``: its keyword arguments are a ``runner.Message`` (the try, the
execution API's URL, the try's queue token), never a database URL or any other secret of the
control plane. Configured for at-least-once delivery with fenced starts (ADR 0014):

- ``acks_late`` + ``reject_on_worker_lost``: a message is acknowledged when its try has
  ended, so a worker that dies with it leaves it to the broker to deliver again;
- ``worker_prefetch_multiplier=1``: a busy worker holds no messages an idle one could run;
- a duplicate delivery is harmless: the try's start is a compare-and-set on the task
  instance (``queued`` -> ``running`` for that try number), so a second start is a 409 and
  the message is dropped;
- running tries go on while the broker is away (they talk to the API, not the broker).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from pinflow.extras import CELERY, require

if TYPE_CHECKING:
    from celery import Celery

    from pinflow.settings import Settings

TASK_NAME = "pinflow.run_try"
log = logging.getLogger(__name__)


def make_app(settings: Settings) -> Celery:
    """The Celery app for ``settings.broker_url`` (``amqp://…`` or ``redis://…``)."""
    celery: Any = require(CELERY)
    app: Celery = celery.Celery("pinflow", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_default_queue=settings.default_queue,
        task_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        worker_prefetch_multiplier=1,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=2.0,
        # Redis: a message taken by a worker that died is delivered again after this long
        # (RabbitMQ does it as soon as the connection drops).
        broker_transport_options={"visibility_timeout": int(settings.queued_timeout)},
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        worker_disable_rate_limits=True,  # no rate limits: skip their bookkeeping per message
    )
    return app


def worker_app(settings: Settings, hostname: str) -> Celery:
    """The app with ``pinflow.run_try`` registered, as a worker runs it."""
    from celery.signals import worker_process_init, worker_process_shutdown

    from pinflow.runtime.process import set_parent_death_signal
    from pinflow.worker.runner import WorkerContext, run_message, stop_task_runners, task_runner

    app = make_app(settings)
    context = WorkerContext(
        hostname=hostname,
        home=settings.home,
        heartbeat_interval=settings.heartbeat_interval,
        run_as_user=settings.run_tasks_as_user,
        envs=settings.env_config,
    )

    @app.task(name=TASK_NAME, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
    def run_try(**message: Any) -> None:
        log.info("%s", run_message(message, context))

    @worker_process_init.connect(weak=False)
    def _die_with_the_worker(**_: Any) -> None:
        # A pool process (and so its task process) must not outlive a worker killed -9: its
        # try is then recovered by its heartbeat's age, never run on by an orphan.
        set_parent_death_signal()
        task_runner(context)  # warm before the first message (its zygote dies with us)

    @worker_process_shutdown.connect(weak=False)
    def _stop_the_task_runner(**_: Any) -> None:
        stop_task_runners()

    return app
