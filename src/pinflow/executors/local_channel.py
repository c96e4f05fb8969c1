"""The local executor's task channels: a try's ``Variable.get``, ``Connection.get`` and XComs,
answered by the supervising process for that try only (issue #14, point 2).

A task run by the local executor reaches the control plane the way a Celery worker's does:
over its own Unix socket (``pinflow.runtime.channel``), never with the database URL or a
secret of its own. The answers come from the services here (the scheduler's process has the
database), scoped exactly as the execution API scopes a try's token: the instance-wide
variables and connections and those of the try's own DAG's project; XComs of its own run,
pushes to its own task instance while it is the live try (ADR 0012, ADR 0017).

One thread serves every live try's socket (``select``), so a task's call waits on neither the
scheduler's loop nor another task. Its database and cipher are its own, made on first use.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from pinflow.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    PinflowError,
)
from pinflow.executors.local import LocalExecutor
from pinflow.runtime.channel import ChannelRefusal, TaskChannel
from pinflow.runtime.contract import TaskKey, TaskRequest

if TYPE_CHECKING:
    from pinflow.services.commands import Cipher
    from pinflow.services.engine import TryClaims
    from pinflow.settings import Settings
    from pinflow.store.db import Database

log = logging.getLogger(__name__)

_STATUS: tuple[tuple[type[PinflowError], int], ...] = (
    (NotFoundError, 404),
    (PermissionDeniedError, 403),
    (ConflictError, 409),
    (InvalidInputError, 400),
)


class ChannelledLocalExecutor:
    """``PINFLOW_EXECUTOR=local``: the local executor with a channel per try, served here."""

    @staticmethod
    def from_settings(settings: Settings) -> LocalExecutor:
        executor = LocalExecutor.from_settings(settings)
        executor.channels = LocalChannels(settings)
        return executor


class LocalChannels:
    """The channels of the local executor's live tries, served from one thread."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._db: Database | None = None
        self._cipher: Cipher | None = None
        self._channels: dict[TaskKey, TaskChannel] = {}
        self._lock = threading.Lock()
        self._wake_r, self._wake_w = os.pipe()
        self._thread: threading.Thread | None = None
        self._stopping = False

    # -- the executor's side ---------------------------------------------------------------

    def open(self, request: TaskRequest) -> str:
        """A channel for ``request``'s try; the path its task connects to."""
        from pinflow.services.engine import claims_of

        backend = _ServicesBackend(self, claims_of(request))
        user = self.settings.run_tasks_as_user
        channel = TaskChannel(backend, str(request.ti_id), user=user)
        with self._lock:
            self._channels[request.key] = channel
        self._ensure_thread()
        self._wake()
        return str(channel.path)

    def close(self, key: TaskKey) -> None:
        with self._lock:
            channel = self._channels.pop(key, None)
        if channel is not None:
            channel.close()

    def stop(self) -> None:
        self._stopping = True
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=5.0)
            self._thread = None
        with self._lock:
            channels, self._channels = list(self._channels.values()), {}
        for channel in channels:
            channel.close()
        if self._db is not None:
            self._db.dispose()
            self._db = None

    # -- what the backends use ---------------------------------------------------------------

    def database(self) -> Database:
        if self._db is None:
            from pinflow.store.db import Database

            self._db = Database(self.settings.database_url)
        return self._db

    def cipher(self) -> Cipher:
        if self._cipher is None:
            from pinflow.services.commands import Cipher, resources

            key = self.settings.fernet_key
            configured = key.get_secret_value() if key else None
            self._cipher = Cipher(configured or resources.load_or_create_key(self.settings.home))
        return self._cipher

    # -- the thread --------------------------------------------------------------------------

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stopping = False
            self._thread = threading.Thread(
                target=self._serve, name="pinflow-task-channels", daemon=True
            )
            self._thread.start()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"x")

    def _serve(self) -> None:
        while not self._stopping:
            with self._lock:
                fds = [fd for channel in self._channels.values() for fd in channel.fds()]
            try:
                readable, _, _ = select.select([self._wake_r, *fds], [], [], 1.0)
            except (OSError, ValueError):  # a channel closed meanwhile: look again
                continue
            if self._wake_r in readable:
                with contextlib.suppress(OSError):
                    os.read(self._wake_r, 4096)
            with self._lock:
                for channel in list(self._channels.values()):
                    mine = [fd for fd in readable if fd in channel.fds()]
                    if mine:
                        try:
                            channel.serve(mine)
                        except Exception:  # one try's bad call must not end the others'
                            log.exception("a task channel's request failed")


class _ServicesBackend:
    """One try's answers, from the services, scoped as the execution API scopes its token."""

    def __init__(self, owner: LocalChannels, claims: TryClaims) -> None:
        self.owner, self.claims = owner, claims

    def variable(self, key: str) -> str:
        from pinflow.services.commands import resources

        with _refusals():
            db, cipher = self.owner.database(), self.owner.cipher()
            return resources.variable_for_task(db, cipher, key, dag_id=self.claims.dag_id)

    def connection(self, conn_id: str) -> Any:
        from pinflow.services.commands import resources

        with _refusals():
            db, cipher = self.owner.database(), self.owner.cipher()
            return resources.connection_for_task(db, cipher, conn_id, dag_id=self.claims.dag_id)

    def push_xcom(self, key: str, value: Any) -> None:
        from pinflow.services.engine import remote_tries

        with _refusals():
            limit = self.owner.settings.xcom_db_limit
            remote_tries.push_xcom(self.owner.database(), self.claims, key, value, limit=limit)

    def rendered_fields(self, fields: dict[str, Any]) -> None:
        from pinflow.services.engine import set_rendered_fields

        with _refusals():
            set_rendered_fields(self.owner.database(), self.claims, fields)

    def pull_xcom(self, task_id: str, map_index: int, key: str) -> Any:
        from pinflow.runtime.artifacts import open_store
        from pinflow.services.engine import remote_tries

        with _refusals():
            return remote_tries.run_xcom(
                self.owner.database(),
                self.claims,
                task_id,
                map_index=map_index,
                key=key,
                artifacts=open_store(self.owner.settings.artifacts_uri),
            )


@contextlib.contextmanager
def _refusals() -> Iterator[None]:
    try:
        yield
    except PinflowError as exc:
        status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 500)
        raise ChannelRefusal(status, exc.message) from None
