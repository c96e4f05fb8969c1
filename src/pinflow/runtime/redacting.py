"""A task process's log output, with the secrets it read masked (Airflow's secrets masker).

``redirect_output`` points fds 1 and 2 at the try's log and makes ``sys.stdout`` and
``sys.stderr`` ``RedactingWriter``s: what Python writes (``print``, tracebacks, a logging
handler on those streams) has every secret registered in ``pinflow.spec.masking.MASKER``
replaced by ``***`` as it goes to the log. Handlers that already existed when the task process
was forked (a worker's ``logging.basicConfig``) get a ``RedactingFilter``. A bash command's
output passes through the task process (``pinflow.runtime.operators.run_bash``) and is
redacted the same way.

Not covered (docs/adr/0034): bytes written to ``sys.stdout.buffer`` or straight to fds 1/2
(a C extension, a subprocess a Python task starts itself), which reach the log unredacted.
"""

from __future__ import annotations

import io
import logging
import os
import sys
import threading
from pathlib import Path
from typing import BinaryIO, TextIO, cast

from pinflow.runtime.private import open_private
from pinflow.spec.masking import MASKER, SecretsMasker

# A partial line kept back longer than this is written out anyway (a progress bar...).
_MAX_PENDING = 64 * 1024


class RedactingWriter(io.TextIOBase):
    """A text stream that redacts whole lines before writing them to ``inner``.

    While nothing is registered, text passes straight through. Otherwise a partial line is
    held until its end (or a flush), so that a secret written in pieces (``print(a, b)``
    writes each argument separately) is still seen whole. Safe for a task's threads.
    """

    def __init__(self, inner: TextIO, masker: SecretsMasker = MASKER) -> None:
        super().__init__()
        self.inner = inner
        self.masker = masker
        self._pending = ""
        self._lock = threading.RLock()  # a signal handler may print mid-write

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self._lock:
            if not self.masker and not self._pending:
                return self.inner.write(text)
            self._write(text)
        return len(text)

    def _write(self, text: str) -> None:
        pending = self._pending + text
        end = max(pending.rfind("\n"), pending.rfind("\r"))
        if end < 0 and len(pending) <= _MAX_PENDING:
            self._pending = pending
            return
        done, self._pending = (pending, "") if end < 0 else (pending[: end + 1], pending[end + 1 :])
        self.inner.write(self.masker.redact_text(done))

    def flush(self) -> None:
        with self._lock:
            if self._pending:
                pending, self._pending = self._pending, ""
                self.inner.write(self.masker.redact_text(pending))
            self.inner.flush()

    def fileno(self) -> int:
        return self.inner.fileno()

    def isatty(self) -> bool:
        return self.inner.isatty()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self.inner.encoding

    @property
    def buffer(self) -> BinaryIO:
        """The raw bytes underneath: not redacted."""
        return self.inner.buffer


class RedactingFilter(logging.Filter):
    """Redacts a record's message and traceback before a handler formats it."""

    def __init__(self, masker: SecretsMasker = MASKER) -> None:
        super().__init__()
        self.masker = masker

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.masker:
            return True
        record.msg = self.masker.redact_text(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.masker.redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = self.masker.redact_text(record.stack_info)
        return True


def redirect_output(log_path: str) -> None:
    """Point fds 1 and 2 (and so subprocesses) and ``sys.stdout``/``sys.stderr`` at the log,
    the Python streams redacting; the handlers already configured redact too."""
    fd = open_private(Path(log_path), os.O_WRONLY | os.O_APPEND)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    out = io.TextIOWrapper(open(1, "wb", closefd=False), line_buffering=True)  # noqa: SIM115
    err = io.TextIOWrapper(open(2, "wb", closefd=False), line_buffering=True)  # noqa: SIM115
    sys.stdout, sys.stderr = redacting(out), redacting(err)
    redact_handlers()


def redacting(inner: TextIO) -> TextIO:
    """``inner`` behind a ``RedactingWriter``, typed as the stream it stands in for."""
    return cast(TextIO, RedactingWriter(inner))


def redact_handlers() -> None:
    """Give every handler of the root logger a ``RedactingFilter`` (once)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
