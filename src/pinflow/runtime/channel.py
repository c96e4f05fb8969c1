"""A try's own channel: the Unix socket its task reads variables and connections through.

The try's supervisor serves it while the try runs; the task calls it with
``pinflow.sdk.Variable`` / ``Connection`` / ``xcom_push`` / ``xcom_pull``, and an Airflow
task reports its rendered template fields on it (``pinflow.sdk.task_api``: one JSON line
each way). What a request may read or write is the supervisor's ``ChannelBackend``'s
business, scoped to the one try: a Celery worker's asks the execution API with the try's
token (``pinflow.worker.runner``), the local executor's asks the services for that try's
own DAG (``pinflow.executors.local_channel``). Task code never holds a credential. As in
Airflow 3, where the task runner asks its supervisor and the supervisor asks the API.

Defence in depth for secrets: the channel remembers the secrets it served this try (a
connection's password and sensitive extra fields, a sensitive variable's value) and redacts
them from the rendered fields the try reports, whatever the task process did or did not mask.

The sockets live in a folder of the supervising process's own (``mkdtemp``: 0700, a short
path whatever its home), one per try, removed when the try ends. The folder is made in a
RAM-backed runtime folder when there is one (``$XDG_RUNTIME_DIR``, else ``/dev/shm``), as
sockets usually are (``/run``), and in the temporary folder otherwise: a socket is an inode
created and removed for every try, which a disk filesystem makes the scheduler pay for
(ADR 0047).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import pwd
import secrets
import shutil
import socket
import stat
import tempfile
from pathlib import Path
from typing import Any, Protocol

from pinflow.spec.masking import SecretsMasker

log = logging.getLogger(__name__)

MAX_REQUEST = 4 * 1024 * 1024  # bytes of one request line (an XCom push's JSON)
_SEND_TIMEOUT = 10.0


class ChannelRefusal(Exception):  # noqa: N818 - an answer, not a failure of the channel
    """A request the backend refuses: ``status`` (HTTP's meaning: 404, 403, 409...) and why."""

    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ChannelBackend(Protocol):
    """What a try may ask its channel, answered for that try only; refusals raise
    ``ChannelRefusal``."""

    def variable(self, key: str) -> str: ...
    def connection(self, conn_id: str) -> Any: ...
    def push_xcom(self, key: str, value: Any) -> None: ...
    def pull_xcom(self, task_id: str, map_index: int, key: str) -> Any: ...
    def rendered_fields(self, fields: dict[str, Any]) -> None: ...


class TaskChannel:
    """The channel of one try (``name`` starts its socket's file name). ``user``: the task
    runs as this user (``PINFLOW_RUN_TASKS_AS_USER``), who then owns the socket."""

    def __init__(self, backend: ChannelBackend, name: str, user: str | None = None) -> None:
        self.backend = backend
        folder = _folder()
        self.path = folder / f"{name}-{secrets.token_hex(12)}.sock"
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(str(self.path))
        os.chmod(self.path, 0o600)
        if user is not None:
            _hand_to(user, folder, self.path)
        self._listener.listen(16)
        self._listener.setblocking(False)
        self._pending: dict[int, tuple[socket.socket, bytearray]] = {}
        self.masker = SecretsMasker()  # the secrets served to this try

    def fds(self) -> list[int]:
        return [self._listener.fileno(), *self._pending]

    def serve(self, readable: list[int]) -> None:
        """Accept, read and answer whatever of the channel is in ``readable``."""
        for fd in readable:
            if fd == self._listener.fileno():
                self._accept()
            elif fd in self._pending:
                self._read(fd)

    def close(self) -> None:
        for conn, _ in self._pending.values():
            conn.close()
        self._pending.clear()
        self._listener.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    # -- plumbing ----------------------------------------------------------------------------

    def _accept(self) -> None:
        with contextlib.suppress(BlockingIOError, InterruptedError):
            while True:
                conn, _ = self._listener.accept()
                conn.setblocking(False)
                self._pending[conn.fileno()] = (conn, bytearray())

    def _read(self, fd: int) -> None:
        conn, buffer = self._pending[fd]
        try:
            data = conn.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        buffer += data
        if b"\n" not in buffer and data and len(buffer) <= MAX_REQUEST:
            return  # more to come
        del self._pending[fd]
        with conn:
            if b"\n" not in buffer:
                if data:  # too long: answer; a caller that hung up gets nothing
                    self._send(conn, _error(413, f"a request is at most {MAX_REQUEST} bytes"))
                return
            self._send(conn, self._answer(bytes(buffer).split(b"\n", 1)[0]))

    def _send(self, conn: socket.socket, reply: dict[str, Any]) -> None:
        conn.setblocking(True)
        conn.settimeout(_SEND_TIMEOUT)
        with contextlib.suppress(OSError):  # the task went away: nothing to tell it
            conn.sendall(json.dumps(reply, separators=(",", ":")).encode() + b"\n")

    def _answer(self, line: bytes) -> dict[str, Any]:
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise TypeError("a request is a JSON object")
            return {"ok": True, "value": self._value(request)}
        except ChannelRefusal as exc:
            return _error(exc.status, exc.message)
        except (ValueError, KeyError, TypeError) as exc:
            return _error(400, f"a malformed request: {exc}")

    def _value(self, request: dict[str, Any]) -> Any:
        op = request.get("op")
        if op == "variable":
            key = str(request["key"])
            value = self.backend.variable(key)
            self.masker.add(value, key)
            return value
        if op == "connection":
            fields = self.backend.connection(str(request["conn_id"]))
            if isinstance(fields, dict):
                self.masker.add_connection(fields)
            return fields
        if op == "xcom_push":
            self.backend.push_xcom(str(request["key"]), request.get("value"))
            return None
        if op == "rendered_fields":
            fields = request["fields"]
            if not isinstance(fields, dict):
                raise TypeError("fields is a JSON object")
            self.backend.rendered_fields(self.masker.redact(fields))
            return None
        if op == "xcom_pull":
            task_id, key = str(request["task_id"]), str(request.get("key", "return_value"))
            return self.backend.pull_xcom(task_id, int(request.get("map_index", -1)), key)
        raise ValueError(f"unknown request {op!r}")


_FOLDERS: dict[int, Path] = {}
# Where the socket folders go, first usable first (``None``: the temporary folder).
_RUNTIME_BASES: tuple[str | None, ...] = ("XDG_RUNTIME_DIR", "/dev/shm", None)  # noqa: S108
# A socket's path must fit ``sun_path`` (108 bytes): the base, then ``/pinflow-tries-XXXXXXXX/``
# and ``<ti_id>-<24 hex>.sock``.
_MAX_BASE = 40


def discard_folder() -> None:
    """Remove this process's socket folder (a worker process that stops)."""
    folder = _FOLDERS.pop(os.getpid(), None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def _folder() -> Path:
    """This process's folder for its tries' sockets (made once per process, 0700)."""
    folder = _FOLDERS.get(os.getpid())
    if folder is None or not folder.is_dir():
        base = runtime_base()
        folder = _FOLDERS[os.getpid()] = Path(tempfile.mkdtemp(prefix="pinflow-tries-", dir=base))
        atexit.register(shutil.rmtree, folder, True)
    return folder


def _hand_to(user: str, folder: Path, path: Path) -> None:
    """Let a task that runs as ``user`` connect to its socket, and no one else: the socket
    becomes the user's (0600: connecting needs write permission on it), and the folder may be
    passed through but not listed (0711), so another try's socket is reached only by a name of
    96 random bits that nothing lists."""
    entry = pwd.getpwnam(user)
    os.chown(path, entry.pw_uid, entry.pw_gid)
    if stat.S_IMODE(folder.stat().st_mode) != 0o711:
        os.chmod(folder, 0o711)  # noqa: S103 - traversable, never listable or writable


def runtime_base() -> str | None:
    """The first of ``_RUNTIME_BASES`` that is a folder this process may create in, with a
    path short enough for a socket in it (an environment variable's name is read as the
    variable); ``None``: the temporary folder."""
    for candidate in _RUNTIME_BASES:
        if candidate is None:
            return None
        path = os.environ.get(candidate) if not candidate.startswith("/") else candidate
        if not path or len(path) > _MAX_BASE or not os.path.isdir(path):
            continue
        if os.access(path, os.W_OK | os.X_OK):
            return path
    return None


def _error(status: int | None, message: str) -> dict[str, Any]:
    return {"ok": False, "status": status, "error": message}
