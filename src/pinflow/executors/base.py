"""The executor seam: the ``Executor`` protocol the scheduler drives, and the executors by name.

The scheduler knows this module only, never an implementation: ``load_executor`` imports the
one the settings name (like Airflow's ``[core] executor``), so the local executor's pipes and
Celery's client are loaded only where they are used. What travels through an executor (a
``TaskRequest`` out, a ``TaskResult`` back) is the runtime contract,
``pinflow.runtime.contract``, which the task processes share.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Literal, Protocol, TypeGuard

from pinflow.errors import InvalidInputError
from pinflow.extras import EXTRAS, require
from pinflow.runtime.contract import TaskKey, TaskRequest, TaskResult

if TYPE_CHECKING:
    from pinflow.services.engine import ClaimedTask
    from pinflow.settings import Settings

EXECUTORS = {
    "local": "pinflow.executors.local_channel:ChannelledLocalExecutor",
    "celery": "pinflow.executors.celery:CeleryExecutor",
}


class Executor(Protocol):
    """What the scheduler drives. One executor instance is used by one scheduler thread.

    ``submit`` never blocks on the task; ``poll`` waits at most ``timeout`` seconds for results
    (``0`` = only what is ready). Every submitted request yields exactly one result, including
    when the task process is killed, times out, or the executor stops (then the result is a
    failure saying so). ``fileno`` is readable when ``poll`` has something, so the scheduler
    can wait on the executor and its own wake-ups together.
    """

    def start(self) -> None: ...

    def free_slots(self) -> int: ...

    def submit(self, request: TaskRequest) -> None: ...

    def poll(self, timeout: float = 0.0) -> list[TaskResult]: ...

    def fileno(self) -> int: ...

    def live(self) -> list[TaskKey]:
        """The tries whose process is alive (or about to start): what the scheduler heartbeats."""
        ...

    def kill(self, key: TaskKey, reason: str) -> None:
        """End a try now; its result is a failure carrying ``reason``."""
        ...

    def stop(self, *, graceful: bool = True) -> list[TaskResult]:
        """End every live try (SIGTERM then SIGKILL when graceful) and return their results."""
        ...


class RemoteExecutor(Executor, Protocol):
    """An executor whose tries run elsewhere (Celery): the scheduler only claims them
    (``scheduled`` -> ``queued``) and hands each claim to ``enqueue``; the worker starts the try
    and reports it through the execution API, so nothing comes back through ``poll``, and
    ``live`` is empty (the workers heartbeat their own tries)."""

    remote: Literal[True]

    def enqueue(self, task: ClaimedTask) -> None:
        """Send the claimed try on its way; never blocks on the broker."""
        ...


def is_remote(executor: Executor) -> TypeGuard[RemoteExecutor]:
    return getattr(executor, "remote", False) is True


def load_executor(settings: Settings) -> Executor:
    """The executor the settings name, built with its ``from_settings`` factory.

    ``settings.executor`` is a name of ``EXECUTORS`` or ``package.module:Class``. One that
    cannot be loaded is one clear error (``InvalidInputError``, or ``MissingExtraError``
    naming the extra to install), never an import traceback.
    """
    path = EXECUTORS.get(settings.executor, settings.executor)
    module_name, _, attribute = path.partition(":")
    if settings.executor in EXTRAS:  # an executor that comes with an extra: say which
        require(EXTRAS[settings.executor])
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise InvalidInputError(
            f"PINFLOW_EXECUTOR={settings.executor!r} names {path!r}, which cannot be loaded "
            f"({exc}). Use one of {', '.join(sorted(EXECUTORS))}, or 'package.module:Class' "
            "with a from_settings(settings) factory."
        ) from None
    executor: Executor = factory.from_settings(settings)
    return executor
