"""Process plumbing shared by the local executor, its warm interpreter and task processes.

Messages on the pipes between them are frames: a 4-byte big-endian length, then that many
bytes of UTF-8 JSON (one object). Pipes carry bytes, not messages, so a reader keeps the
partial frame it has until the rest arrives.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import json
import os
import signal
import struct
import sys
from typing import Any

_HEADER = struct.Struct(">I")
_PR_SET_PDEATHSIG = 1
MAX_FRAME_BYTES = 1 << 30


@functools.cache
def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None


def set_parent_death_signal(sig: int = signal.SIGKILL) -> bool:
    """Linux: have the kernel send ``sig`` to this process when its parent dies.

    Note the kernel's definition of "parent": the *thread* that forked this process. A
    process started from a short-lived thread gets the signal when that thread ends.
    """
    libc = _libc()
    if libc is None:
        return False
    try:
        return bool(libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0) == 0)
    except AttributeError:
        return False


def encode_frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, separators=(",", ":")).encode()
    return _HEADER.pack(len(body)) + body


def write_all(fd: int, data: bytes) -> None:
    """Write every byte to a blocking fd (``os.write`` may write only part of it)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class FrameReader:
    """Collects bytes from a pipe and hands back each complete message."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        self._buffer += data
        messages: list[dict[str, Any]] = []
        while len(self._buffer) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self._buffer)
            if size > MAX_FRAME_BYTES:
                raise ValueError(f"frame of {size} bytes is larger than {MAX_FRAME_BYTES}")
            end = _HEADER.size + size
            if len(self._buffer) < end:
                break
            messages.append(json.loads(bytes(self._buffer[_HEADER.size : end])))
            del self._buffer[:end]
        return messages

    @property
    def pending(self) -> int:
        return len(self._buffer)


def read_available(fd: int, chunk: int = 1 << 16) -> tuple[bytes, bool]:
    """Everything readable now from a non-blocking fd, and whether the writer closed it."""
    parts: list[bytes] = []
    while True:
        try:
            data = os.read(fd, chunk)
        except BlockingIOError:
            return b"".join(parts), False
        if not data:
            return b"".join(parts), True
        parts.append(data)


def read_frame(fd: int) -> dict[str, Any] | None:
    """Block until one whole message arrives on ``fd``; ``None`` if it closes first."""
    reader = FrameReader()
    while True:
        data = os.read(fd, 1 << 16)
        if not data:
            return None
        messages = reader.feed(data)
        if messages:
            return messages[0]


def describe_status(status: int) -> tuple[str, int]:
    """How a child ended (``os.waitpid``'s status): words for a message, and an exit code
    (``-signal`` when a signal killed it)."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        return f"killed by signal {signal.Signals(sig).name}", -sig
    code = os.waitstatus_to_exitcode(status)
    return f"exited with code {code}", code


def kill_group(pid: int, sig: int = signal.SIGKILL) -> None:
    """Signal the process group ``pid`` leads (a task and everything it started)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
